package local

import (
	"bytes"
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// PutAudienceFile uploads an audience file to the stack's audience bucket,
// as a detector does before naming its key in a notice's audience.file.
func (s *State) PutAudienceFile(ctx context.Context, key string, body []byte) error {
	bucket := s.Names["AudienceBucket"]
	c := s3.NewFromConfig(s.Config(), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}
