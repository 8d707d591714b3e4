package objstore_test

import (
	"bytes"
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

	"breachnotify/shared/aws/objstore"
)

// A Writer against moto, which speaks the real S3 wire protocol: an
// object of several parts (S3's smallest, 5 MiB) is stored whole,
// encrypted, with its content type, and the link returned fetches it with
// no credentials at all.
func TestWriterMoto(t *testing.T) {
	client := startMoto(t)
	ctx := t.Context()
	const bucket = "evidence"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	for _, tc := range []struct {
		name        string
		size        int
		expires     time.Duration
		wantExpires string
	}{
		{name: "one small part, default expiry", size: 100, wantExpires: "900"},
		{name: "two parts, explicit expiry", size: 5<<20 + 1000, expires: time.Minute, wantExpires: "60"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := objstore.New(client, bucket)
			store.Expires, store.PartSize = tc.expires, 5<<20
			key := "INC-1/" + tc.name + ".csv"
			body := content(tc.size)

			w, err := store.NewWriter(ctx, key, "text/csv")
			if err != nil {
				t.Fatal(err)
			}
			if err := writeChunks(w, body); err != nil {
				t.Fatal(err)
			}
			link, err := w.Close()
			if err != nil {
				t.Fatalf("Close: %v", err)
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
			if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
				t.Errorf("GET link = %d, %d bytes; want 200, the %d bytes written", resp.StatusCode, len(got), len(body))
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

	t.Run("an aborted upload leaves no object and no parts", func(t *testing.T) {
		store := objstore.New(client, bucket)
		store.PartSize = 5 << 20
		w, err := store.NewWriter(ctx, "INC-1/aborted.csv", "text/csv")
		if err != nil {
			t.Fatal(err)
		}
		if err := writeChunks(w, content(5<<20+10)); err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		if len(ups.Uploads) != 0 {
			t.Errorf("%d uploads left after abort", len(ups.Uploads))
		}
		if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("INC-1/aborted.csv")}); err == nil {
			t.Error("the aborted object exists")
		}
	})
}

// content is n bytes of CSV-like text.
func content(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "INC-1,u%07d,email,sent\n", i)
	}
	return b.Bytes()[:n]
}

// writeChunks writes body in chunks of uneven sizes, as an encoder does.
func writeChunks(w io.Writer, body []byte) error {
	for i, size := 0, 1; len(body) > 0; i, size = i+1, size*7%100_003+1 {
		n := min(size, len(body))
		if _, err := w.Write(body[:n]); err != nil {
			return err
		}
		body = body[n:]
	}
	return nil
}

// fakeS3 is an S3 that keeps parts in memory and fails the calls named in
// fail.
type fakeS3 struct {
	fail      map[string]error
	parts     [][]byte
	completed []types.CompletedPart
	aborted   bool
}

func (f *fakeS3) CreateMultipartUpload(_ context.Context, in *s3.CreateMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String("up-1")}, f.fail["create"]
}

func (f *fakeS3) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if err := f.fail["part"]; err != nil {
		return nil, err
	}
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	if int(*in.PartNumber) != len(f.parts)+1 {
		return nil, fmt.Errorf("part %d after %d parts", *in.PartNumber, len(f.parts))
	}
	f.parts = append(f.parts, body)
	return &s3.UploadPartOutput{ETag: aws.String(fmt.Sprintf("etag-%d", *in.PartNumber))}, nil
}

func (f *fakeS3) CompleteMultipartUpload(_ context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	f.completed = in.MultipartUpload.Parts
	return &s3.CompleteMultipartUploadOutput{}, f.fail["complete"]
}

func (f *fakeS3) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	f.aborted = true
	return &s3.AbortMultipartUploadOutput{}, nil
}

type presignFunc func(context.Context, *s3.GetObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)

func (f presignFunc) PresignGetObject(ctx context.Context, in *s3.GetObjectInput, o ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
	return f(ctx, in, o...)
}

// Every part but the last is exactly PartSize, whatever the writes' sizes:
// the memory a Writer holds is one part.
func TestWriterParts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size      int
		wantParts int
	}{
		{"nothing written: one empty part", 0, 1},
		{"less than a part", 999, 1},
		{"exactly two parts", 2000, 2},
		{"ten parts and a bit", 10_001, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeS3{}
			s := &objstore.Store{Client: f, Bucket: "b", PartSize: 1000,
				Presigner: presignFunc(func(context.Context, *s3.GetObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
					return &v4.PresignedHTTPRequest{URL: "https://b/k"}, nil
				})}
			w, err := s.NewWriter(t.Context(), "k", "text/csv")
			if err != nil {
				t.Fatal(err)
			}
			body := content(tc.size)
			if err := writeChunks(w, body); err != nil {
				t.Fatal(err)
			}
			if link, err := w.Close(); err != nil || link != "https://b/k" {
				t.Fatalf("Close = %q, %v", link, err)
			}
			if len(f.parts) != tc.wantParts || len(f.completed) != tc.wantParts {
				t.Fatalf("%d parts sent, %d completed; want %d", len(f.parts), len(f.completed), tc.wantParts)
			}
			for i, p := range f.parts[:len(f.parts)-1] {
				if len(p) != 1000 {
					t.Errorf("part %d has %d bytes, want 1000", i+1, len(p))
				}
			}
			for i, c := range f.completed {
				if *c.PartNumber != int32(i+1) || *c.ETag != fmt.Sprintf("etag-%d", i+1) {
					t.Errorf("completed part %d = %d %s", i, *c.PartNumber, *c.ETag)
				}
			}
			if got := bytes.Join(f.parts, nil); !bytes.Equal(got, body) {
				t.Errorf("parts hold %d bytes, want the %d written", len(got), len(body))
			}
		})
	}
}

func TestWriterErrors(t *testing.T) {
	errS3 := errors.New("AccessDenied")
	for _, tc := range []struct {
		name       string
		fail       string
		presignErr error
		want       string
		wantSigned bool
	}{
		{name: "start fails", fail: "create", want: "start s3://b/k: AccessDenied"},
		{name: "a part fails: no object, no link", fail: "part", want: "put part 1 of s3://b/k: AccessDenied"},
		{name: "complete fails: no link", fail: "complete", want: "complete s3://b/k: AccessDenied"},
		{name: "signing fails", presignErr: errS3, want: "sign link to s3://b/k: AccessDenied", wantSigned: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signed := false
			f := &fakeS3{fail: map[string]error{tc.fail: errS3}}
			s := &objstore.Store{Bucket: "b", Client: f, PartSize: 10,
				Presigner: presignFunc(func(context.Context, *s3.GetObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
					signed = true
					return &v4.PresignedHTTPRequest{URL: "https://b/k"}, tc.presignErr
				}),
			}
			link, err := "", error(nil)
			w, err := s.NewWriter(t.Context(), "k", "text/csv")
			if err == nil {
				if _, err = w.Write([]byte("0123456789abc")); err == nil {
					link, err = w.Close()
				}
			}
			if !errors.Is(err, errS3) || err.Error() != tc.want || link != "" {
				t.Errorf("got %q, %v; want \"\", %s", link, err, tc.want)
			}
			if signed != tc.wantSigned {
				t.Errorf("signed = %v, want %v", signed, tc.wantSigned)
			}
			if tc.fail == "part" && len(f.completed) != 0 {
				t.Error("completed an object after a part failed")
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
