package faultserver

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSendEmail is the cost of one SendEmail through the real SDK
// client and this server, both on this machine: the floor under any
// benchmark of the worker against the server.
func BenchmarkSendEmail(b *testing.B) {
	srv := start(b, Config{})
	ses, _ := clients(srv)
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ses.SendEmail(bg, emailTo(fmt.Sprintf("u%d@example.com", n.Add(1)), map[string]string{"incident": "INC-1"})); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSendEmailLatency30ms shows the latency is a per-request sleep:
// with enough callers the server answers thousands of requests per second
// even though each one takes 30 ms.
func BenchmarkSendEmailLatency30ms(b *testing.B) {
	srv := start(b, Config{Latency: 30 * time.Millisecond})
	ses, _ := clients(srv)
	var n atomic.Int64
	b.SetParallelism(128) // 128 × GOMAXPROCS callers, as many as a fleet of workers
	began := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ses.SendEmail(bg, emailTo(fmt.Sprintf("u%d@example.com", n.Add(1)), nil)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "req/s")
}

// BenchmarkSendEmailRawHTTP is the server's share of BenchmarkSendEmail:
// the same request without the SDK's serialising and signing.
func BenchmarkSendEmailRawHTTP(b *testing.B) {
	srv := start(b, Config{})
	url := srv.URL() + "/v2/email/outbound-emails"
	body := []byte(`{"Content":{"Simple":{"Body":{"Html":{"Data":"<p>Please update.</p>"},"Text":{"Data":"Please update."}},` +
		`"Subject":{"Charset":"UTF-8","Data":"Action needed"}}},"Destination":{"ToAddresses":["u@example.com"]},` +
		`"EmailTags":[{"Name":"incident","Value":"INC-1"}],"FromEmailAddress":"security@example.com"}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
