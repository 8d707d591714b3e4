package objstore_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"breachnotify/shared/aws/objstore"
)

// A page put twice in a versioned bucket against moto: each put gets its
// own version id, the latest is served with its headers, and the first
// is still there.
func TestPublisherMoto(t *testing.T) {
	client := startMoto(t)
	ctx := t.Context()
	const bucket = "public"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	p := &objstore.Publisher{Client: client, Bucket: bucket}
	pg := objstore.Page{ContentType: "text/html; charset=utf-8", ContentLanguage: "es", CacheControl: "public, max-age=300"}
	first, err := p.Put(ctx, "incidents/INC-1/es.html", []byte("<p>uno</p>"), pg)
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Put(ctx, "incidents/INC-1/es.html", []byte("<p>dos</p>"), pg)
	if err != nil {
		t.Fatal(err)
	}
	if first == "" || second == "" || first == second {
		t.Fatalf("version ids %q, %q: want two distinct ones", first, second)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("incidents/INC-1/es.html")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ContentType) != pg.ContentType || aws.ToString(head.ContentLanguage) != "es" ||
		aws.ToString(head.CacheControl) != pg.CacheControl || head.ServerSideEncryption != types.ServerSideEncryptionAes256 ||
		aws.ToString(head.VersionId) != second {
		t.Errorf("head = type %q language %q cache %q sse %q version %q; want the page's headers, AES256, the second version",
			aws.ToString(head.ContentType), aws.ToString(head.ContentLanguage), aws.ToString(head.CacheControl), head.ServerSideEncryption, aws.ToString(head.VersionId))
	}
	old, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("incidents/INC-1/es.html"), VersionId: aws.String(first)})
	if err != nil {
		t.Fatalf("the first version is gone: %v", err)
	}
	old.Body.Close()
}
