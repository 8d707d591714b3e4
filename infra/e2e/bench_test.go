package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/infra/local"
	"breachnotify/shared/audience"
	"breachnotify/shared/incident"
	"breachnotify/shared/plan"
	"breachnotify/shared/version"
)

// BenchmarkNotifyOneUser is the N = 1 case end to end: a confirmed incident
// for one user is put on the bus, and the clock stops when the local SES has
// the email. The first notice on a fresh stack starts every function cold
// (intake, planner, worker); the rest are warm.
//
//	go test -run '^$' -bench NotifyOneUser -benchtime 20x ./infra/e2e/
func BenchmarkNotifyOneUser(b *testing.B) {
	if stack == nil {
		b.Skip("needs the local stack")
	}
	oneUser.Do(func() {
		ctx := context.Background()
		s, err := startStack(ctx, filepath.Join(tmpDir, "one-user"), local.Options{})
		if err != nil {
			b.Fatal(err)
		}
		oneUser.s = s
		oneUser.cold, err = notifyOne(ctx, s, "INC-N1-COLD")
		if err != nil {
			b.Fatal(err)
		}
	})
	ctx := context.Background()
	var total time.Duration
	n := 0
	for b.Loop() {
		d, err := notifyOne(ctx, oneUser.s, fmt.Sprintf("INC-N1-%d", oneUser.seq.Add()))
		if err != nil {
			b.Fatal(err)
		}
		total += d
		n++
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(n), "ms-warm/notice")
	b.ReportMetric(float64(oneUser.cold.Milliseconds()), "ms-cold/notice")
}

var oneUser struct {
	sync.Once
	s    *local.State
	cold time.Duration
	seq  counter
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) Add() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

func notifyOne(ctx context.Context, s *local.State, id string) (time.Duration, error) {
	before, err := s.Emails(ctx)
	if err != nil {
		return 0, err
	}
	detail, _ := json.Marshal(incident.Incident{
		ID: id, Status: incident.Confirmed, Title: "t", DetectedAt: time.Now().Add(-time.Hour), ConfirmedAt: time.Now(), ConfirmedBy: "bench",
		Notices: []incident.Notice{{Template: "account-accessed", Channels: []incident.Channel{incident.Email}, Audience: incident.Audience{UserIDs: []string{"u-000123"}}}},
	})
	ev, _ := json.Marshal(map[string]any{"source": "acme.detection", "detail-type": "Incident Confirmed", "detail": json.RawMessage(detail)})
	start := time.Now()
	if err := s.PutEvent(ctx, ev); err != nil {
		return 0, err
	}
	for time.Since(start) < 30*time.Second {
		after, err := s.Emails(ctx)
		if err != nil {
			return 0, err
		}
		if len(after) > len(before) {
			return time.Since(start), nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s: no email within 30 s", id)
}

// BenchmarkPlanCohort compares planning a 100,000-user Android cohort the
// sharded way (64 planner tasks in parallel, each one key-condition Query
// on its cohort partition, as the deployed planners run) with one unsharded
// pass (a Scan of the users table with a filter), both against moto and
// both building the same batches. It reports both times and their ratio,
// and the read capacity each would consume on DynamoDB (what a Query or
// Scan reads, in 4 KB units at 0.5 RCU each, eventually consistent): moto
// answers every Query by walking the whole table, so on moto the 64 Queries
// cost 64 table walks and the time ratio says more about moto than about
// the design; the read ratio is what DynamoDB would bill and throttle on.
//
//	go test -run '^$' -bench PlanCohort -benchtime 3x ./infra/e2e/
//
// BENCH_COHORT_USERS sets the cohort's size (100,000 by default); `make
// test` runs every benchmark once with a small one, so that a benchmark
// broken by a change fails CI instead of the next `make bench`.
func BenchmarkPlanCohort(b *testing.B) {
	if stack == nil {
		b.Skip("needs the local stack")
	}
	users := 100_000
	if v := os.Getenv("BENCH_COHORT_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("BENCH_COHORT_USERS=%q: want a positive number", v)
		}
		users = n
	}
	ctx := context.Background()
	cohort.Do(func() {
		s, err := startStack(ctx, filepath.Join(tmpDir, "plan"), local.Options{})
		if err != nil {
			b.Fatal(err)
		}
		cohort.s = s
		start := time.Now()
		cohort.err = seedCohort(ctx, s, users)
		b.Logf("seeded %d users in %s", users, time.Since(start).Round(time.Second))
	})
	if cohort.err != nil {
		b.Fatal(cohort.err)
	}
	s := cohort.s
	n := incident.Notice{Template: "update-app", Channels: []incident.Channel{incident.Email, incident.Push}, FixedVersion: "8.9.0",
		Audience: incident.Audience{Platforms: []string{"android"}, AppVersionBelow: "8.9.0"}}
	var sharded, unsharded time.Duration
	var indexBytes int
	for b.Loop() {
		start := time.Now()
		got, bytes, err := planSharded(ctx, s, n)
		indexBytes = bytes
		if err != nil {
			b.Fatal(err)
		}
		sharded += time.Since(start)
		start = time.Now()
		want, err := planUnsharded(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		unsharded += time.Since(start)
		// The demo users are in the table too.
		if got != want || got < users {
			b.Fatalf("planned %d sharded and %d unsharded, want the same, at least %d", got, want, users)
		}
	}
	tableBytes, err := tableSize(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	rcu := func(bytes int) float64 { return float64((bytes+4095)/4096) * 0.5 }
	b.ReportMetric(sharded.Seconds()/float64(b.N), "s-sharded(moto)")
	b.ReportMetric(unsharded.Seconds()/float64(b.N), "s-unsharded(moto)")
	b.ReportMetric(unsharded.Seconds()/sharded.Seconds(), "time-unsharded/sharded(moto)")
	b.ReportMetric(rcu(indexBytes), "RCU-sharded")
	b.ReportMetric(rcu(tableBytes), "RCU-unsharded")
	b.ReportMetric(rcu(tableBytes)/rcu(indexBytes), "RCU-unsharded/sharded")
}

var cohort struct {
	sync.Once
	s   *local.State
	err error
}

// seedCohort writes users with one affected Android device each, in the
// users table's layout (see shared/aws/dynamo/users.go), with BatchWriteItem:
// moto fails under many concurrent transactions, and a benchmark's users are
// all new.
func seedCohort(ctx context.Context, s *local.State, n int) error {
	db := dynamodb.NewFromConfig(s.Config())
	table := s.Names["UsersTable"]
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	starts := make(chan int)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for start := range starts {
				var reqs []types.WriteRequest
				for i := start; i < min(start+12, n); i++ {
					id := fmt.Sprintf("c-%07d", i)
					d := audience.Device{ID: "d-1", Platform: "android", AppVersion: "8.1.0"}
					reqs = append(reqs,
						types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
							"pk": str(id), "sk": str("profile"), "userId": str(id), "email": str(id + "@example.com"), "locale": str("en"),
							"devices": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
								"deviceId": str(d.ID), "platform": str(d.Platform), "appVersion": str(d.AppVersion)}}}},
						}}},
						types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
							"pk": str(id), "sk": str("device#" + d.ID), "platform": str(d.Platform), "appVersion": str(d.AppVersion),
							"cohortPk": str(audience.CohortPartition(d.Platform, id)), "cohortSk": str(audience.CohortSort(d)),
						}}})
				}
				for len(reqs) > 0 {
					out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
					if err != nil {
						errs <- err
						return
					}
					reqs = out.UnprocessedItems[table]
				}
			}
		})
	}
	for start := 0; start < n; start += 12 {
		select {
		case starts <- start:
		case err := <-errs:
			close(starts)
			return err
		}
	}
	close(starts)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

type nopStore struct{}

func (nopStore) Progress(context.Context, plan.Task) (plan.Progress, error) {
	return plan.Progress{}, nil
}
func (nopStore) Save(context.Context, plan.Task, plan.Progress) error   { return nil }
func (nopStore) Finish(context.Context, plan.Task, plan.Progress) error { return nil }
func (nopStore) ReadyToFreeze(context.Context, string) (bool, error)    { return false, nil }
func (nopStore) Freeze(context.Context, string) error                   { return nil }

type countQueue struct {
	mu      sync.Mutex
	members int
}

func (q *countQueue) Send(_ context.Context, bodies [][]byte) error {
	for _, body := range bodies {
		var b struct{ Members []json.RawMessage }
		if err := json.Unmarshal(body, &b); err != nil {
			return err
		}
		q.mu.Lock()
		q.members += len(b.Members)
		q.mu.Unlock()
	}
	return nil
}

// sizedDirectory adds up the size of the cohort index entries a Query
// returns (DynamoDB bills a Query by the size of what it reads).
type sizedDirectory struct {
	audience.Directory
	mu    sync.Mutex
	bytes int
}

func (d *sizedDirectory) Cohort(ctx context.Context, platform string, shard int, below version.Version, yield func(audience.Match) error) error {
	partition := audience.ShardPartition(platform, shard)
	return d.Directory.Cohort(ctx, platform, shard, below, func(m audience.Match) error {
		// The keys-only entry: pk, sk, cohortPk, cohortSk, names and values.
		size := len("pk") + len(m.UserID) + len("sk") + len("device#"+m.DeviceID) +
			len("cohortPk") + len(partition) + len("cohortSk") + len(version.KeyOf("8.1.0"))
		d.mu.Lock()
		d.bytes += size
		d.mu.Unlock()
		return yield(m)
	})
}

func planSharded(ctx context.Context, s *local.State, n incident.Notice) (int, int, error) {
	q := &countQueue{}
	dir := &sizedDirectory{Directory: s.Users()}
	p := &plan.Planner{Store: nopStore{}, Directory: dir, Queue: q, BatchSize: 50, Log: slog.New(slog.DiscardHandler)}
	var wg sync.WaitGroup
	errs := make(chan error, audience.Shards)
	for shard := range audience.Shards {
		wg.Go(func() {
			if _, err := p.Run(ctx, plan.Task{IncidentID: "INC-PLAN", NoticeID: "n0-update-app", Notice: n, Shard: shard}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return q.members, dir.bytes, <-errs
}

// tableSize is what a Scan of the users table reads: every item, whatever
// the filter keeps.
func tableSize(ctx context.Context, s *local.State) (int, error) {
	db := dynamodb.NewFromConfig(s.Config())
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(s.Names["UsersTable"])})
	total := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		for _, item := range page.Items {
			total += itemSize(item)
		}
	}
	return total, nil
}

// itemSize approximates DynamoDB's item size: attribute names plus values
// (strings by length, lists and maps by their elements plus 3 bytes each).
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch t := v.(type) {
	case *types.AttributeValueMemberS:
		return len(t.Value)
	case *types.AttributeValueMemberN:
		return len(t.Value)/2 + 1
	case *types.AttributeValueMemberBOOL:
		return 1
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range t.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		return 3 + itemSize(t.Value)
	}
	return 1
}

// planUnsharded is what a design without the cohort index would do: read
// every item and keep the affected devices.
func planUnsharded(ctx context.Context, s *local.State) (int, error) {
	below, err := version.Parse("8.9.0")
	if err != nil {
		return 0, err
	}
	db := dynamodb.NewFromConfig(s.Config())
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{
		TableName:        aws.String(s.Names["UsersTable"]),
		FilterExpression: aws.String("begins_with(sk, :d) AND platform = :p AND cohortSk < :below"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":d": &types.AttributeValueMemberS{Value: "device#"}, ":p": &types.AttributeValueMemberS{Value: "android"},
			":below": &types.AttributeValueMemberS{Value: below.Key()},
		},
	})
	var members []audience.Member
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		for _, item := range page.Items {
			pk := item["pk"].(*types.AttributeValueMemberS).Value
			members = append(members, audience.Member{UserID: pk, DeviceIDs: []string{"d-1"}})
		}
	}
	q := &countQueue{}
	for start := 0; start < len(members); start += 50 {
		body, _ := json.Marshal(map[string]any{"members": members[start:min(start+50, len(members))]})
		if err := q.Send(ctx, [][]byte{body}); err != nil {
			return 0, err
		}
	}
	return q.members, nil
}
