package objstore

import (
	"bytes"
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Putter is the S3 call Publisher makes.
type Putter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Publisher puts small whole objects (the public notice pages) in one
// bucket, each in one request. The bucket is versioned, so an object put
// again keeps its earlier versions: what was published, and when, can be
// shown later.
type Publisher struct {
	Client Putter
	Bucket string
}

// Page is what an object is served with, besides its body.
type Page struct {
	ContentType, ContentLanguage, CacheControl string
}

// Put stores body under key and returns the version id S3 gave it (empty
// if the bucket is not versioned).
func (p *Publisher) Put(ctx context.Context, key string, body []byte, pg Page) (string, error) {
	out, err := p.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:          &p.Bucket,
		Key:             &key,
		Body:            bytes.NewReader(body),
		ContentLength:   aws.Int64(int64(len(body))),
		ContentType:     &pg.ContentType,
		ContentLanguage: nonEmpty(pg.ContentLanguage),
		CacheControl:    nonEmpty(pg.CacheControl),
		// As the exports: encrypted at rest without a KMS key whose
		// permissions CloudFront's origin access would also need.
		ServerSideEncryption: types.ServerSideEncryptionAes256,
		// S3 checks the body against it on arrival.
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return "", fmt.Errorf("put s3://%s/%s: %w", p.Bucket, key, err)
	}
	return aws.ToString(out.VersionId), nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
