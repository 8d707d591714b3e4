package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"breachnotify/shared/objstore"
)

// Put against moto, which speaks the real S3 wire protocol: the object is
// stored encrypted with its content type, and the link returned fetches it
// with no credentials at all.
func TestPutMoto(t *testing.T) {
	client := startMoto(t)
	ctx := t.Context()
	const bucket = "evidence"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	for _, tc := range []struct {
		name        string
		expires     time.Duration
		wantExpires string
	}{
		{name: "default expiry", wantExpires: "900"},
		{name: "explicit expiry", expires: time.Minute, wantExpires: "60"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := objstore.New(client, bucket)
			store.Expires = tc.expires
			key := "INC-1/" + tc.name + ".csv"
			body := []byte("incident_id,user_id\nINC-1,u1\n")

			link, err := store.Put(ctx, key, "text/csv", body)
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			u, err := url.Parse(link)
			if err != nil {
				t.Fatalf("link %q: %v", link, err)
			}
			if got := u.Query().Get("X-Amz-Expires"); got != tc.wantExpires {
				t.Errorf("X-Amz-Expires = %q, want %q", got, tc.wantExpires)
			}

			resp, err := http.Get(link)
			if err != nil {
				t.Fatalf("GET link: %v", err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read link: %v", err)
			}
			if resp.StatusCode != http.StatusOK || string(got) != string(body) {
				t.Errorf("GET link = %d %q, want 200 %q", resp.StatusCode, got, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/csv" {
				t.Errorf("Content-Type = %q, want text/csv", ct)
			}

			head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("head: %v", err)
			}
			if head.ServerSideEncryption != types.ServerSideEncryptionAes256 {
				t.Errorf("ServerSideEncryption = %q, want AES256", head.ServerSideEncryption)
			}
		})
	}
}

type putFunc func(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)

func (f putFunc) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return f(ctx, in, o...)
}

type presignFunc func(context.Context, *s3.GetObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)

func (f presignFunc) PresignGetObject(ctx context.Context, in *s3.GetObjectInput, o ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
	return f(ctx, in, o...)
}

func TestPutErrors(t *testing.T) {
	errS3 := errors.New("AccessDenied")
	for _, tc := range []struct {
		name       string
		putErr     error
		presignErr error
		want       string
		wantSigned bool
	}{
		{name: "put fails: no link is signed", putErr: errS3, want: "put s3://b/k: AccessDenied"},
		{name: "signing fails", presignErr: errS3, want: "sign link to s3://b/k: AccessDenied", wantSigned: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signed := false
			s := &objstore.Store{
				Bucket: "b",
				Client: putFunc(func(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
					return &s3.PutObjectOutput{}, tc.putErr
				}),
				Presigner: presignFunc(func(context.Context, *s3.GetObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
					signed = true
					return nil, tc.presignErr
				}),
			}
			link, err := s.Put(t.Context(), "k", "text/csv", nil)
			if !errors.Is(err, errS3) || err.Error() != tc.want || link != "" {
				t.Errorf("Put = %q, %v; want \"\", %s", link, err, tc.want)
			}
			if signed != tc.wantSigned {
				t.Errorf("signed = %v, want %v", signed, tc.wantSigned)
			}
		})
	}
}

// startMoto runs moto's server on a free port for the test and returns an
// S3 client for it. The endpoint and path-style addressing are set here
// only: deployed code takes both from configuration.
func startMoto(t *testing.T) *s3.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("starts moto: not with -short")
	}
	// Missing moto fails rather than skips: a skip would pass a full run
	// without the only S3 wire test having run.
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 not found (needed for moto; run with -short to skip): %v", err)
	}
	if err := exec.Command(python, "-c", "import moto.server").Run(); err != nil {
		t.Fatalf("moto is not importable by %s (moto 5.x with its server extra is required; run with -short to skip): %v", python, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	cmd := exec.Command(python, "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto did not answer at %s: %v", endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s3.New(s3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
	})
}
