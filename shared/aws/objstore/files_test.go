package objstore_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"breachnotify/shared/audience"
	"breachnotify/shared/aws/objstore"
)

// Files against moto: Stat pins a version, Open reads it from an offset,
// and an overwritten or missing object is the domain's error, not a read
// of whatever is there now.
func TestFilesMoto(t *testing.T) {
	client := startMoto(t)
	ctx := t.Context()
	const bucket, key = "audience", "INC-1/affected.csv"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	put := func(body string) {
		t.Helper()
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	files := &objstore.Files{Client: client, Bucket: bucket}
	put("u-1\nu-2\nu-3\n")
	info, err := files.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 12 || info.ETag == "" {
		t.Fatalf("Stat = %+v, want 12 bytes and an entity tag", info)
	}
	rc, err := files.Open(ctx, key, info.ETag, 4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != "u-2\nu-3\n" {
		t.Errorf("Open from byte 4 read %q, %v; want the last two lines", got, err)
	}

	put("u-9\n")
	if _, err := files.Open(ctx, key, info.ETag, 4); !errors.Is(err, audience.ErrFileChanged) {
		t.Errorf("Open of an overwritten file: %v, want %v", err, audience.ErrFileChanged)
	}
	if _, err := files.Stat(ctx, "INC-1/none.csv"); !errors.Is(err, audience.ErrFileMissing) {
		t.Errorf("Stat of a missing file: %v, want %v", err, audience.ErrFileMissing)
	}
	if _, err := files.Open(ctx, "INC-1/none.csv", info.ETag, 0); !errors.Is(err, audience.ErrFileMissing) {
		t.Errorf("Open of a missing file: %v, want %v", err, audience.ErrFileMissing)
	}
}
