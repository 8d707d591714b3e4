"""Turns a SAM template into the CloudFormation JSON that `sam deploy` would
hand to CloudFormation, offline: the same samtranslator the SAM CLI uses,
with no AWS account behind it.

Usage: python3 translate.py template.yaml > template.json
"""
import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoAccountPolicies:
    """Stands in for the IAM-backed managed policy loader (which lists AWS
    managed policies through the IAM API). The template names no managed
    policy by bare name, so an empty map loses nothing; SAM's own managed
    policies (AWSLambdaBasicExecutionRole, AWSLambdaSQSQueueExecutionRole)
    are spelled as ARNs by the translator without it."""

    def load(self):
        return {}


def main(path):
    with open(path) as f:
        template = yaml_parse(f.read())
    # Region and account for pseudo-parameters SAM resolves itself (e.g. in
    # generated ARNs); any values do, the assertions never depend on them.
    # `sam package` uploads each function's code and rewrites its local
    # CodeUri to the S3 object; the translator accepts only the latter.
    for res in template.get("Resources", {}).values():
        if res.get("Type") == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://packaged/code.zip"
    # The translator asks boto3 for a region even when one is given.
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    params = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    out = transform(template, params, NoAccountPolicies())
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
