package bench

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestPerMillion(t *testing.T) {
	r := FleetResult{Batches: 20, Invocations: 2, Retried: 0, InvocationTime: 10 * time.Second}
	r.Acct.Recipients = 1000
	r.Stats.Requests = 1000
	r.Ledger = LedgerOps{Claims: 1000, ClaimsWon: 1000, Records: 1000}
	in := Inputs(r, 0.25)
	c := PerMillion(in, ListPrices)
	if c.SES.Dollars != 100 {
		t.Errorf("SES $%v", c.SES.Dollars)
	}
	want := map[string]float64{
		"SNS publishes (one per push)":                      0.50,
		"SNS mobile push deliveries":                        0.50,
		"DynamoDB ledger writes (claim + record)":           1.25,   // 2 writes × $0.625
		"DynamoDB user reads (BatchGetItem)":                0.0625, // 0.5 RRU × $0.125
		"DynamoDB per batch: gate and audit-head reads":     0.0075, // 3 RRU × 20 batches / 1000 × $0.125
		"DynamoDB per batch: progress counter, audit entry": 0.0625, // 5 WRU × 20 / 1000 × $0.625
		"SQS requests (recipients queue)":                   0.0096, // (20 + 2×2) / 1000 × $0.40
		"Lambda duration (worker)":                          0.0333335,
		"Lambda invocations (worker)":                       0.0004,
	}
	for _, l := range c.Others {
		if w, ok := want[l.Item]; !ok || math.Abs(l.Dollars-w) > 1e-9 {
			t.Errorf("%s: $%v, want $%v", l.Item, l.Dollars, w)
		}
	}
	if got := c.NonSES(); math.Abs(got-2.4258335) > 1e-6 {
		t.Errorf("non-SES $%v", got)
	}
}

func TestCPURigs(t *testing.T) {
	for _, v := range []Variant{NoopProviders, RealAdapters, RealAdaptersAndDynamo} {
		rig, err := newCPURig(v)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if err := rig.processOnce(context.Background(), i); err != nil {
				t.Fatalf("%v: %v", v, err)
			}
		}
		// The no-op variant must not reach the stub SDK clients at all.
		want := int64(0)
		if v >= RealAdapters {
			want = 4 * CPUMembers
		}
		if got := rig.calls.Load(); got != want {
			t.Errorf("%v: %d adapter calls, want %d", v, got, want)
		}
	}
}
