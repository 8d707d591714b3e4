package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"breachnotify/shared/audience"
)

// ReadClient is the S3 calls that read an object.
type ReadClient interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Files reads audience files from one bucket: the only one the planner may
// read (incident.Audience.File names a key, never a bucket).
type Files struct {
	Client ReadClient
	Bucket string
}

// Stat returns an object's size and entity tag.
func (f *Files) Stat(ctx context.Context, key string) (audience.FileInfo, error) {
	out, err := f.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &f.Bucket, Key: &key})
	if err != nil {
		return audience.FileInfo{}, fmt.Errorf("head s3://%s/%s: %w", f.Bucket, key, classify(err))
	}
	return audience.FileInfo{Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag)}, nil
}

// Open reads an object from offset to its end, on condition that its
// entity tag is still etag (If-Match): a file overwritten since it was
// split fails with audience.ErrFileChanged instead of being read mixed.
// The caller closes the body as soon as it has read what it needs; S3
// sends no more than is read before then.
func (f *Files) Open(ctx context.Context, key, etag string, offset int64) (io.ReadCloser, error) {
	out, err := f.Client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: &f.Bucket, Key: &key, IfMatch: &etag, Range: aws.String(fmt.Sprintf("bytes=%d-", offset)),
	})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s from byte %d: %w", f.Bucket, key, offset, classify(err))
	}
	return out.Body, nil
}

// classify turns S3's answers about a missing or changed object into the
// domain's errors: 404 (NoSuchKey, NotFound) and 412 (If-Match failed).
func classify(err error) error {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %w", audience.ErrFileMissing, err)
		case http.StatusPreconditionFailed:
			return fmt.Errorf("%w: %w", audience.ErrFileChanged, err)
		}
	}
	return err
}
