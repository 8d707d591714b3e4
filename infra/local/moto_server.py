"""Start moto's server (same arguments as `python -m moto.server`) with two
changes that keep it up under a bulk import, measured in
docs/local-stack.md:

1. SNS: CreatePlatformEndpoint finds an existing endpoint by (platform
   application, token) in an index instead of scanning every endpoint.
2. Every request: the list of moto's service modules, which the server
   reads from disk (a listdir and one stat per module, about 180) twice per
   request to route it, is read once.

Why: moto 5.2.1's SNSBackend.create_platform_endpoint compares the token
with every endpoint of every application on each call, so registering n
tokens costs O(n^2), and its server's threads insert into the endpoint dict
while others iterate it ("dictionary changed size during iteration", an
HTTP 500 the importer must retry). AWS scopes a token to one platform
application, and CreatePlatformEndpoint is idempotent there: the same token
and attributes return the existing endpoint; the same token with other
attributes is an InvalidParameter error. Everything else is moto's own, and
the rules below are moto's, scoped per application as AWS does.

The patch reaches into moto's internals, so it refuses to start on any
moto but the one it was written against rather than misbehave quietly.
"""

import functools
import inspect
import sys
import threading

import moto
from moto import backends
from moto.sns import models
from moto.sns.exceptions import DuplicateSnsEndpointError

MOTO_VERSION = "5.2.1"


def _check():
    """Fail at startup, naming what changed, if moto is not the version
    whose internals the patch replaces."""
    if moto.__version__ != MOTO_VERSION:
        sys.exit(
            f"moto_server.py patches moto {MOTO_VERSION}'s SNS internals, "
            f"found moto {moto.__version__}: check the patch against the new "
            "create_platform_endpoint and update MOTO_VERSION"
        )
    if not callable(getattr(backends, "list_of_moto_modules", None)):
        sys.exit("moto_server.py: moto.backends has no list_of_moto_modules")
    backend = models.SNSBackend
    for name in (
        "create_platform_endpoint",
        "delete_endpoint",
        "delete_platform_application",
        "list_endpoints_by_platform_application",
    ):
        if not callable(getattr(backend, name, None)):
            sys.exit(f"moto_server.py: moto's SNSBackend has no {name}")
    params = list(inspect.signature(models.PlatformEndpoint.__init__).parameters)
    want = ["self", "account_id", "region", "application", "custom_user_data", "token", "attributes"]
    if params != want:
        sys.exit(f"moto_server.py: moto's PlatformEndpoint takes {params}, expected {want}")


def _patch():
    # The modules are moto's installed packages: they cannot change while
    # the server runs. The server looks the function up on each request,
    # so replacing it here is enough; a tuple answers `in` as the
    # generator did.
    list_modules = backends.list_of_moto_modules
    backends.list_of_moto_modules = functools.cache(lambda: tuple(list_modules()))

    backend = models.SNSBackend
    init = backend.__init__
    delete_endpoint = backend.delete_endpoint
    delete_application = backend.delete_platform_application
    list_endpoints = backend.list_endpoints_by_platform_application

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        # (application ARN, token) -> endpoint ARN, for every endpoint
        # this patch created; the lock orders every change to the
        # endpoints and every iteration over them.
        self.endpoints_by_token = {}
        self.endpoints_lock = threading.RLock()

    def create_platform_endpoint(self, application, custom_user_data, token, attributes):
        key = (application.arn, token)
        with self.endpoints_lock:
            endpoint = self.platform_endpoints.get(self.endpoints_by_token.get(key))
            if endpoint is not None:
                # moto's rule: the same user data and Enabled return the
                # endpoint, anything else is a duplicate.
                same_user_data = custom_user_data == endpoint.custom_user_data
                same_attrs = attributes.get("Enabled", True) == endpoint.attributes["Enabled"]
                if same_user_data and same_attrs:
                    return endpoint
                raise DuplicateSnsEndpointError(
                    f"Invalid parameter: Token Reason: Endpoint {endpoint.arn} already exists with the same Token, but different attributes."
                )
            endpoint = models.PlatformEndpoint(
                self.account_id, self.region_name, application, custom_user_data, token, attributes
            )
            self.platform_endpoints[endpoint.arn] = endpoint
            self.endpoints_by_token[key] = endpoint.arn
            return endpoint

    def forget(self, endpoint):
        if self.endpoints_by_token.get((endpoint.application.arn, endpoint.token)) == endpoint.arn:
            del self.endpoints_by_token[(endpoint.application.arn, endpoint.token)]

    def delete_endpoint_indexed(self, arn):
        with self.endpoints_lock:
            endpoint = self.platform_endpoints.get(arn)
            if endpoint is not None:
                forget(self, endpoint)
            delete_endpoint(self, arn)

    def delete_application_indexed(self, platform_arn):
        with self.endpoints_lock:
            for endpoint in list_endpoints(self, platform_arn):
                forget(self, endpoint)
            delete_application(self, platform_arn)

    def list_endpoints_locked(self, application_arn):
        with self.endpoints_lock:
            return list_endpoints(self, application_arn)

    backend.__init__ = __init__
    backend.create_platform_endpoint = create_platform_endpoint
    backend.delete_endpoint = delete_endpoint_indexed
    backend.delete_platform_application = delete_application_indexed
    backend.list_endpoints_by_platform_application = list_endpoints_locked


if __name__ == "__main__":
    _check()
    # The stack checks its tools before it starts anything: --check stops
    # here, having found moto, its server and the internals patched.
    import moto.server

    if sys.argv[1:] == ["--check"]:
        sys.exit(0)
    _patch()
    moto.server.main(sys.argv[1:])
