package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"breachnotify/shared/admin"
	"breachnotify/shared/audit"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/aws/objstore"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// exportBudget is the admin function's memory (template.yaml: the
// functions' 256 MB default).
const exportBudget = 256 << 20

// BenchmarkExport runs the export operation through the real admin
// handler, ledger adapter, evidence writer and S3 writer, over a fake
// deliveries table of BENCH_EXPORT_RECIPIENTS records (1,000,000 by
// default; `make test` runs a small one), the audit trail their batches
// left, and a fake S3 that discards the parts, and reports the peak heap sampled while it runs. It fails above
// the function's 256 MB.
//
//	go test -run '^$' -bench Export -benchtime 1x ./infra/bench/
func BenchmarkExport(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("BENCH_EXPORT_RECIPIENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("BENCH_EXPORT_RECIPIENTS=%q: want a positive number", v)
		}
	}
	const id = "INC-BENCH-EXPORT"
	rec := incident.Record{Incident: incident.Incident{ID: id, Status: incident.Confirmed, Title: "t", ConfirmedAt: t0,
		Notices: []incident.Notice{{Template: "account-accessed", Channels: []incident.Channel{incident.Email}}}},
		State: incident.StateSending}
	trail := trail(id, n)
	var chain audit.Chain
	if err := trail.Each(b.Context(), id, func(e audit.Entry) error { chain.Add(e); return nil }); err != nil {
		b.Fatal(err)
	}
	if head, _ := trail.Head(b.Context(), id); chain.Verify(head) != nil || chain.Len() != (n+49)/50 {
		b.Fatalf("the generated trail of %d entries does not verify: %v", chain.Len(), chain.Verify(head))
	}
	s3f := &discardS3{}
	store := &objstore.Store{Client: s3f, Presigner: linkSigner{}, Bucket: "exports"}
	h := &admin.Handler{
		Incidents: fakeIncidents{rec},
		Ledger:    &dynamo.Ledger{Client: &generatedLedger{incidentID: id, n: n}, Table: "deliveries"},
		Audit:     trail,
		Exports: func(ctx context.Context, key, contentType string) (admin.ExportWriter, error) {
			w, err := store.NewWriter(ctx, key, contentType)
			if err != nil {
				return nil, err
			}
			return w, nil
		},
		Log: slog.New(slog.DiscardHandler),
		Now: time.Now,
	}
	for b.Loop() {
		runtime.GC()
		peak := sampleHeap()
		resp, err := h.Handle(b.Context(), admin.Caller{Door: admin.DoorInvoke}, admin.Request{Operation: "export", Actor: "bench", IncidentID: id})
		inuse, sys := peak()
		if err != nil {
			b.Fatal(err)
		}
		if resp.Export == nil || resp.Export.Outcomes != n {
			b.Fatalf("export = %+v, want %d outcomes", resp.Export, n)
		}
		b.ReportMetric(float64(inuse)/(1<<20), "peak-heap-inuse-MB")
		b.ReportMetric(float64(sys)/(1<<20), "peak-heap-sys-MB")
		b.ReportMetric(float64(s3f.bytes.Load())/(1<<20), "uploaded-MB")
		if inuse > exportBudget {
			b.Errorf("peak heap in use %d MB over the function's %d MB", inuse>>20, exportBudget>>20)
		}
	}
}

// sampleHeap samples the heap every few milliseconds until the returned
// function is called, which returns the peaks of HeapInuse and HeapSys.
func sampleHeap() func() (inuse, sys uint64) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var st runtime.MemStats
	var maxInuse, maxSys uint64
	sample := func() {
		runtime.ReadMemStats(&st)
		maxInuse, maxSys = max(maxInuse, st.HeapInuse), max(maxSys, st.HeapSys)
	}
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				sample()
				return
			case <-t.C:
				sample()
			}
		}
	})
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		return maxInuse, maxSys
	}
}

// generatedLedger is a deliveries table holding n sent email records of
// one incident, spread evenly over the ledger's shards and made up as each
// page is read, so the fake itself holds nothing. Only Query is served.
type generatedLedger struct {
	dynamo.Client
	incidentID string
	n          int
}

func (g *generatedLedger) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	pk := in.ExpressionAttributeValues[":pk"].(*ddb.AttributeValueMemberS).Value
	shard, err := strconv.Atoi(pk[strings.LastIndexByte(pk, '#')+1:])
	if err != nil {
		return nil, err
	}
	count := g.n / ledger.Shards
	if shard < g.n%ledger.Shards {
		count++
	}
	start := 0
	if in.ExclusiveStartKey != nil {
		sk := in.ExclusiveStartKey["sk"].(*ddb.AttributeValueMemberS).Value
		if start, err = strconv.Atoi(sk[strings.LastIndexByte(sk, '-')+1:]); err != nil {
			return nil, err
		}
		start++
	}
	end := min(start+int(aws.ToInt32(in.Limit)), count)
	out := &dynamodb.QueryOutput{}
	for i := start; i < end; i++ {
		out.Items = append(out.Items, g.item(pk, shard, i))
	}
	if end < count {
		last := out.Items[len(out.Items)-1]
		out.LastEvaluatedKey = map[string]ddb.AttributeValue{"pk": last["pk"], "sk": last["sk"]}
	}
	return out, nil
}

// item is a record as the ledger adapter writes it: a user id the length
// of a UUID, increasing within the shard as the sort key does.
func (g *generatedLedger) item(pk string, shard, i int) map[string]ddb.AttributeValue {
	s := func(v string) ddb.AttributeValue { return &ddb.AttributeValueMemberS{Value: v} }
	user := fmt.Sprintf("%08x-0000-4000-8000-%02d-%09d", i, shard, i)
	at := t0.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
	return map[string]ddb.AttributeValue{
		"pk": s(pk), "sk": s("n0-account-accessed#" + user),
		"incidentId": s(g.incidentID), "noticeId": s("n0-account-accessed"), "userId": s(user),
		"template": s("account-accessed"), "state": s(string(ledger.Done)), "updatedAt": s(at),
		"d": &ddb.AttributeValueMemberL{Value: []ddb.AttributeValue{&ddb.AttributeValueMemberM{Value: map[string]ddb.AttributeValue{
			"ch": s(string(incident.Email)), "st": s(string(ledger.Sent)), "mid": s("0100019" + user + "-000000"),
			"ver": s("abc123def456"), "loc": s("en"), "at": s(at),
		}}}},
	}
}

// discardS3 takes multipart uploads and keeps only their size.
type discardS3 struct {
	bytes atomic.Int64
}

func (d *discardS3) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String("u")}, nil
}

func (d *discardS3) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	n, err := io.Copy(io.Discard, in.Body)
	d.bytes.Add(n)
	return &s3.UploadPartOutput{ETag: aws.String("e")}, err
}

func (d *discardS3) CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return &s3.CompleteMultipartUploadOutput{}, nil
}

func (d *discardS3) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	return &s3.AbortMultipartUploadOutput{}, nil
}

type linkSigner struct{}

func (linkSigner) PresignGetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
	return &v4.PresignedHTTPRequest{URL: "https://exports/" + aws.ToString(in.Key)}, nil
}

// fakeIncidents holds one incident.
type fakeIncidents struct{ rec incident.Record }

func (f fakeIncidents) Get(_ context.Context, id string) (incident.Record, bool, error) {
	return f.rec, id == f.rec.ID, nil
}
func (fakeIncidents) Create(context.Context, incident.Record) error                 { return nil }
func (fakeIncidents) AddNotice(context.Context, string, incident.Notice) error      { return nil }
func (fakeIncidents) SetAuthorityNotified(context.Context, string, time.Time) error { return nil }

// trail is the audit trail of an incident that sent to n recipients: an
// entry per batch of 50 (the template's BatchSize), as workers write. Like
// the ledger, it is made up as it is read, so the fake holds only its end.
func trail(id string, n int) *genAudit {
	g := &genAudit{id: id, batches: (n + 49) / 50}
	g.Each(context.Background(), id, func(e audit.Entry) error { g.last = e; return nil })
	return g
}

type genAudit struct {
	id      string
	batches int
	last    audit.Entry
	// appended are the entries the operation itself adds.
	appended []audit.Entry
}

func (g *genAudit) Each(_ context.Context, _ string, fn func(audit.Entry) error) error {
	var prev *audit.Entry
	for i := range g.batches {
		e := audit.Next(prev, audit.Entry{IncidentID: g.id, At: t0.Add(time.Duration(i) * time.Second), Actor: "system:worker", Kind: audit.BatchSent,
			Detail: map[string]string{"batch": fmt.Sprintf("%064x", i), "sent": "50", "failed": "0", "skipped": "0"}})
		if err := fn(e); err != nil {
			return err
		}
		prev = &e
	}
	for _, e := range g.appended {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (g *genAudit) Append(_ context.Context, e audit.Entry) error {
	last := g.last
	if len(g.appended) > 0 {
		last = g.appended[len(g.appended)-1]
	}
	g.appended = append(g.appended, audit.Next(&last, e))
	return nil
}

func (g *genAudit) Head(context.Context, string) (audit.Head, error) {
	if len(g.appended) > 0 {
		return g.appended[len(g.appended)-1].Head(), nil
	}
	return g.last.Head(), nil
}
