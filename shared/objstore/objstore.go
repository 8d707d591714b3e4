// Package objstore keeps files in Amazon S3 and hands them out through
// short-lived pre-signed links, so that an export reaches its reader
// without the reader holding any AWS permission.
//
// The endpoint, like every service's, comes from configuration
// (AWS_ENDPOINT_URL_S3 for a local run). A local S3 such as moto serves
// buckets by path, not by host name, so the caller that builds the client
// sets s3.Options.UsePathStyle from its configuration; nothing here
// depends on it.
package objstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// DefaultExpires is how long a link stays valid when Store.Expires is not
// set: long enough to click it, short enough that a forwarded link is soon
// useless.
const DefaultExpires = 15 * time.Minute

// Putter is the S3 call Put makes.
type Putter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Presigner signs the link Put returns.
type Presigner interface {
	PresignGetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// Store puts objects in one bucket.
type Store struct {
	Client    Putter
	Presigner Presigner
	Bucket    string
	// Expires is how long a returned link is valid; zero means
	// DefaultExpires. A link signed with temporary credentials, such as a
	// Lambda function's, also ends when they do.
	Expires time.Duration
}

// New returns a Store that puts objects in bucket with client.
func New(client *s3.Client, bucket string) *Store {
	return &Store{Client: client, Presigner: s3.NewPresignClient(client), Bucket: bucket}
}

// Put stores body under key and returns a pre-signed GET URL for it.
func (s *Store) Put(ctx context.Context, key, contentType string, body []byte) (string, error) {
	_, err := s.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      &s.Bucket,
		Key:         &key,
		Body:        bytes.NewReader(body),
		ContentType: &contentType,
		// SSE-S3 rather than SSE-KMS: encrypted at rest all the same,
		// without granting the writer and every link's signer
		// kms:GenerateDataKey and kms:Decrypt on a key.
		ServerSideEncryption: types.ServerSideEncryptionAes256,
	})
	if err != nil {
		return "", fmt.Errorf("put s3://%s/%s: %w", s.Bucket, key, err)
	}
	expires := s.Expires
	if expires <= 0 {
		expires = DefaultExpires
	}
	req, err := s.Presigner.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.Bucket, Key: &key}, s3.WithPresignExpires(expires))
	if err != nil {
		return "", fmt.Errorf("sign link to s3://%s/%s: %w", s.Bucket, key, err)
	}
	return req.URL, nil
}
