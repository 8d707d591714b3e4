package deploy

import (
	"slices"
	"testing"
)

// The public notice pages: a private, versioned, encrypted bucket, which
// only the admin function writes, by PutObject under incidents/ alone; the
// functions that name or publish the pages get their public address.
func TestPublicNoticeBucket(t *testing.T) {
	tpl := template(t)
	const bucket = "PublicNoticeBucket"
	b, ok := tpl.Resources[bucket]
	if !ok || b.Type != "AWS::S3::Bucket" {
		t.Fatalf("no %s bucket", bucket)
	}
	if get(b.Properties["VersioningConfiguration"], "Status") != "Enabled" {
		t.Error("not versioned: earlier publications would be overwritten")
	}
	if sse := list(get(b.Properties["BucketEncryption"], "ServerSideEncryptionConfiguration")); len(sse) == 0 ||
		get(get(sse[0], "ServerSideEncryptionByDefault"), "SSEAlgorithm") != "AES256" {
		t.Error("not encrypted with SSE-S3 (AES256), which CloudFront's origin access reads without a KMS grant")
	}
	block := b.Properties["PublicAccessBlockConfiguration"]
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if get(block, k) != true {
			t.Errorf("public access block %s is not on", k)
		}
	}
	for _, fn := range tpl.ofType("AWS::Lambda::Function") {
		for _, s := range tpl.grants(tpl.roleOf(fn)) {
			if !slices.ContainsFunc(s.Resource, func(r any) bool { return refers(r, bucket) }) {
				continue
			}
			if fn != "AdminFunction" {
				t.Errorf("%s is granted %v on the public bucket", fn, s.Action)
				continue
			}
			if !slices.Equal(s.Action, []string{"s3:PutObject"}) {
				t.Errorf("AdminFunction is granted %v on the public bucket, want s3:PutObject alone", s.Action)
			}
			for _, r := range s.Resource {
				if str(get(r, "Fn::Sub")) != "${PublicNoticeBucket.Arn}/incidents/*" {
					t.Errorf("AdminFunction writes %v, want ${PublicNoticeBucket.Arn}/incidents/* alone", r)
				}
			}
		}
	}
	if !tpl.allows("AdminFunction", "s3:PutObject", bucket) {
		t.Error("AdminFunction may not put the pages")
	}
	for _, fn := range []string{"AdminFunction", "WorkerFunction"} {
		env := get(get(tpl.Resources[fn].Properties["Environment"], "Variables"), "PUBLIC_NOTICE_URL")
		if refTarget(env) != "PublicNoticeUrl" {
			t.Errorf("%s: PUBLIC_NOTICE_URL is %v, want Ref PublicNoticeUrl", fn, env)
		}
	}
	if refTarget(get(get(tpl.Resources["AdminFunction"].Properties["Environment"], "Variables"), "PUBLIC_NOTICE_BUCKET")) != bucket {
		t.Error("AdminFunction is not told the public bucket's name")
	}
}
