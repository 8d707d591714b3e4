// Package objstore keeps files in Amazon S3 and hands them out through
// short-lived pre-signed links, so that an export reaches its reader
// without the reader holding any AWS permission.
//
// Objects are written as they are produced, in parts (an S3 multipart
// upload), so that writing one takes the memory of a part whatever the
// object's size.
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
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// DefaultExpires is how long a link stays valid when Store.Expires is not
// set: long enough to click it, short enough that a forwarded link is soon
// useless.
const DefaultExpires = 15 * time.Minute

// DefaultPartSize is the part size when Store.PartSize is not set. S3
// takes parts of 5 MiB to 5 GiB (the last may be smaller) and at most
// 10,000 of them: 8 MiB parts hold objects up to 78 GiB, far above an
// export of a few hundred bytes per delivery.
const DefaultPartSize = 8 << 20

// Client is the S3 calls a multipart upload makes.
type Client interface {
	CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

// Presigner signs the link Close returns.
type Presigner interface {
	PresignGetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// Store puts objects in one bucket.
type Store struct {
	Client    Client
	Presigner Presigner
	Bucket    string
	// Expires is how long a returned link is valid; zero means
	// DefaultExpires. A link signed with temporary credentials, such as a
	// Lambda function's, also ends when they do.
	Expires time.Duration
	// PartSize is the size of each part but the last; zero means
	// DefaultPartSize. It is the memory one Writer holds.
	PartSize int
}

// New returns a Store that puts objects in bucket with client.
func New(client *s3.Client, bucket string) *Store {
	return &Store{Client: client, Presigner: s3.NewPresignClient(client), Bucket: bucket}
}

// Writer writes one object in parts: each Write fills a buffer of one part,
// sent when full. Close sends the last part and makes the object;
// Abort discards it.
//
// io.Writer's Write takes no context, so a Writer keeps the one it was
// created with, as go-cloud's blob.Writer does.
type Writer struct {
	ctx      context.Context
	s        *Store
	key      string
	uploadID string
	buf      []byte
	parts    []types.CompletedPart
	err      error
}

// NewWriter starts an object under key.
func (s *Store) NewWriter(ctx context.Context, key, contentType string) (*Writer, error) {
	out, err := s.Client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      &s.Bucket,
		Key:         &key,
		ContentType: &contentType,
		// SSE-S3 rather than SSE-KMS: encrypted at rest all the same,
		// without granting the writer and every link's signer
		// kms:GenerateDataKey and kms:Decrypt on a key.
		ServerSideEncryption: types.ServerSideEncryptionAes256,
		// Each part is checked on arrival; the object's checksum is
		// then composed of the parts' (the SDK sends them, see UploadPart).
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return nil, fmt.Errorf("start s3://%s/%s: %w", s.Bucket, key, err)
	}
	size := s.PartSize
	if size <= 0 {
		size = DefaultPartSize
	}
	return &Writer{ctx: ctx, s: s, key: key, uploadID: aws.ToString(out.UploadId), buf: make([]byte, 0, size)}, nil
}

// Write buffers p, sending each part as it fills.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		c := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf, p, n = w.buf[:len(w.buf)+c], p[c:], n+c
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flush sends the buffer as the next part.
func (w *Writer) flush() error {
	num := int32(len(w.parts) + 1)
	out, err := w.s.Client.UploadPart(w.ctx, &s3.UploadPartInput{
		Bucket:            &w.s.Bucket,
		Key:               &w.key,
		UploadId:          &w.uploadID,
		PartNumber:        &num,
		Body:              bytes.NewReader(w.buf),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		w.err = fmt.Errorf("put part %d of s3://%s/%s: %w", num, w.s.Bucket, w.key, err)
		return w.err
	}
	w.parts = append(w.parts, types.CompletedPart{PartNumber: &num, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	w.buf = w.buf[:0]
	return nil
}

// Close sends what is buffered as the last part, makes the object, and
// returns a pre-signed GET URL for it. After a failed Write or Close, the
// caller calls Abort.
func (w *Writer) Close() (string, error) {
	if w.err != nil {
		return "", w.err
	}
	if len(w.buf) > 0 || len(w.parts) == 0 {
		if err := w.flush(); err != nil {
			return "", err
		}
	}
	_, err := w.s.Client.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &w.s.Bucket,
		Key:             &w.key,
		UploadId:        &w.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
	})
	if err != nil {
		w.err = fmt.Errorf("complete s3://%s/%s: %w", w.s.Bucket, w.key, err)
		return "", w.err
	}
	w.err = errors.New("objstore: writer closed")
	expires := w.s.Expires
	if expires <= 0 {
		expires = DefaultExpires
	}
	req, err := w.s.Presigner.PresignGetObject(w.ctx, &s3.GetObjectInput{Bucket: &w.s.Bucket, Key: &w.key}, s3.WithPresignExpires(expires))
	if err != nil {
		return "", fmt.Errorf("sign link to s3://%s/%s: %w", w.s.Bucket, w.key, err)
	}
	return req.URL, nil
}

// abortTimeout bounds Abort, which runs after a failure that may have been
// its caller's deadline.
const abortTimeout = 10 * time.Second

// Abort discards the parts sent: they hold the export's data, and S3 keeps
// and bills them until aborted (the bucket's lifecycle rule aborts what is
// left after 7 days). It runs on the Writer's context without its
// cancellation, since the failure it cleans up after may be that.
func (w *Writer) Abort() error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), abortTimeout)
	defer cancel()
	w.err = errors.New("objstore: writer aborted")
	_, err := w.s.Client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &w.s.Bucket, Key: &w.key, UploadId: &w.uploadID})
	if err != nil {
		return fmt.Errorf("abort s3://%s/%s: %w", w.s.Bucket, w.key, err)
	}
	return nil
}
