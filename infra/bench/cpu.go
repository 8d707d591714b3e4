package bench

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"breachnotify/shared/audience"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/aws/email"
	"breachnotify/shared/aws/push"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
	"breachnotify/shared/notice"
)

// Variant is what surrounds dispatch.Worker in a CPU measurement.
type Variant int

const (
	// NoopProviders: in-process Mailer and Pusher that answer at once; users
	// and ledger in memory. The worker's own cost only.
	NoopProviders Variant = iota
	// RealAdapters: email.Sender and push.Publisher over stub SDK clients
	// that return canned outputs, so building the SES and SNS requests
	// (the push payload's JSON, the email's tags) counts too. The SDK's
	// own serialising and signing does not: the stubs replace the clients.
	RealAdapters
	// RealAdaptersAndDynamo: also dynamo.Users and dynamo.Ledger over a
	// stub DynamoDB client, so marshalling the ledger items and decoding
	// the user items counts.
	RealAdaptersAndDynamo
)

func (v Variant) String() string {
	switch v {
	case NoopProviders:
		return "no-op providers, in-memory users and ledger"
	case RealAdapters:
		return "real email.Sender + push.Publisher over stub SES/SNS clients; in-memory users and ledger"
	case RealAdaptersAndDynamo:
		return "real email, push and DynamoDB adapters (dynamo.Users, dynamo.Ledger) over stub SDK clients"
	}
	return "variant " + strconv.Itoa(int(v))
}

// CPUMembers is the batch size of the CPU measurement.
const CPUMembers = 50

// CPUResult is the cost per recipient (one email and one push).
type CPUResult struct {
	Variant            Variant
	Batches            int
	NsPerRecipient     float64
	AllocsPerRecipient float64
	BytesPerRecipient  float64
	// CPUNsPerRecipient is the process's user + system CPU time over the
	// whole measurement (testing.Benchmark's ramp-up included) per
	// recipient: unlike NsPerRecipient it does not grow when other
	// processes take the machine's cores, and it counts the garbage
	// collector's background work.
	CPUNsPerRecipient float64
}

type nopMailer struct{}

func (nopMailer) Send(context.Context, dispatch.Mail) (string, error) { return "m", nil }

type nopPusher struct{}

func (nopPusher) Push(context.Context, string, notice.Push, map[string]string) (string, error) {
	return "p", nil
}

// sesStub is an email.Client made of a function.
type sesStub func(context.Context, *sesv2.SendEmailInput) (*sesv2.SendEmailOutput, error)

func (f sesStub) SendEmail(ctx context.Context, in *sesv2.SendEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	return f(ctx, in)
}

// snsStub is a push.Client made of a function (Publish only).
type snsStub func(context.Context, *sns.PublishInput) (*sns.PublishOutput, error)

func (f snsStub) Publish(ctx context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return f(ctx, in)
}

func (snsStub) CreatePlatformEndpoint(context.Context, *sns.CreatePlatformEndpointInput, ...func(*sns.Options)) (*sns.CreatePlatformEndpointOutput, error) {
	return nil, fmt.Errorf("not used by the benchmark")
}

// ddbStub is a dynamo.Client answering from canned user items; every
// write succeeds (the benchmark's deliveries are all new).
type ddbStub struct {
	users map[string]map[string]ddbtypes.AttributeValue
}

func (s *ddbStub) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{}, nil
}
func (s *ddbStub) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return &dynamodb.PutItemOutput{}, nil
}
func (s *ddbStub) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return &dynamodb.UpdateItemOutput{}, nil
}
func (s *ddbStub) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return &dynamodb.DeleteItemOutput{}, nil
}
func (s *ddbStub) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return &dynamodb.QueryOutput{}, nil
}
func (s *ddbStub) Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return &dynamodb.ScanOutput{}, nil
}

func (s *ddbStub) BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return &dynamodb.BatchWriteItemOutput{}, nil
}

func (s *ddbStub) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// BatchGetItem returns the items of the keys asked for, as a fresh slice
// (the SDK would decode fresh items from the response).
func (s *ddbStub) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]ddbtypes.AttributeValue{}}
	for table, ka := range in.RequestItems {
		for _, k := range ka.Keys {
			pk, _ := k["pk"].(*ddbtypes.AttributeValueMemberS)
			if pk == nil {
				continue
			}
			if item, ok := s.users[pk.Value]; ok {
				out.Responses[table] = append(out.Responses[table], maps.Clone(item))
			}
		}
	}
	return out, nil
}

// profileItem has the users table's profile item layout (dynamo.Users
// writes it with the domain types' JSON names).
type profileItem struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
	audience.User
}

func newDDBStub(users []audience.User) (*ddbStub, error) {
	s := &ddbStub{users: map[string]map[string]ddbtypes.AttributeValue{}}
	for _, u := range users {
		item, err := attributevalue.MarshalMapWithOptions(profileItem{PK: u.ID, SK: "profile", User: u},
			func(o *attributevalue.EncoderOptions) { o.TagKey = "json" })
		if err != nil {
			return nil, err
		}
		s.users[u.ID] = item
	}
	return s, nil
}

// cpuRig is one worker and a batch for the CPU measurement.
type cpuRig struct {
	w       *dispatch.Worker
	members []audience.Member
	calls   *atomic.Int64
}

func newCPURig(v Variant) (*cpuRig, error) {
	users := SyntheticUsers(CPUMembers)
	// The same recipients as shared/dispatch's BenchmarkProcessPerRecipient:
	// one locale, one Android device each.
	for i := range users {
		users[i].Name, users[i].Locale = "Ana", "es-ES"
	}
	b := Batches(Notice{}, users, CPUMembers)[0]
	rig := &cpuRig{members: b.Members, calls: &atomic.Int64{}}
	w := &dispatch.Worker{
		Users: NewMemUsers(users), Ledger: NewMemLedger(), Control: Sending{}, Mailer: nopMailer{}, Pusher: nopPusher{},
		Brand: "Acme", Log: slog.New(slog.DiscardHandler), Now: time.Now, Parallel: 1,
	}
	if v >= RealAdapters {
		emailOut := &sesv2.SendEmailOutput{MessageId: aws.String("0100018f-0000-0000-0000-000000000000-000000")}
		pushOut := &sns.PublishOutput{MessageId: aws.String("6f1c2b9e-0000-4000-8000-000000000000")}
		w.Mailer = &email.Sender{From: "security@example.com", ConfigurationSet: "breachnotify",
			Client: sesStub(func(context.Context, *sesv2.SendEmailInput) (*sesv2.SendEmailOutput, error) {
				rig.calls.Add(1)
				return emailOut, nil
			})}
		w.Pusher = &push.Publisher{Client: snsStub(func(context.Context, *sns.PublishInput) (*sns.PublishOutput, error) {
			rig.calls.Add(1)
			return pushOut, nil
		})}
	}
	if v >= RealAdaptersAndDynamo {
		db, err := newDDBStub(users)
		if err != nil {
			return nil, err
		}
		w.Users = &dynamo.Users{Client: db, Table: "users"}
		w.Ledger = &dynamo.Ledger{Client: db, Table: "deliveries"}
	}
	rig.w = w
	return rig, nil
}

// batch i is a new notice each time, so every delivery is new to the ledger.
func (r *cpuRig) batch(i int) dispatch.Batch {
	return dispatch.Batch{IncidentID: "INC-BENCH-CPU", NoticeID: "n" + strconv.Itoa(i) + "-update-app",
		Template: "update-app", Channels: []incident.Channel{incident.Email, incident.Push}, FixedVersion: "8.9.0", Members: r.members}
}

// processOnce runs one batch and checks that every member got both.
func (r *cpuRig) processOnce(ctx context.Context, i int) error {
	c, err := r.w.Process(ctx, r.batch(i))
	if err != nil {
		return err
	}
	if c.Sent != 2*CPUMembers {
		return fmt.Errorf("batch %d: sent %d, want %d (counts %+v)", i, c.Sent, 2*CPUMembers, c)
	}
	return nil
}

// CPU measures the worker's own CPU per recipient (one email and one push)
// with testing.Benchmark: batches of CPUMembers, Parallel 1, providers that
// answer at once.
func CPU(v Variant) (CPUResult, error) {
	rig, err := newCPURig(v)
	if err != nil {
		return CPUResult{}, err
	}
	ctx := context.Background()
	if err := rig.processOnce(ctx, -1); err != nil { // warm the render cache; check the rig
		return CPUResult{}, err
	}
	var failure error
	next := 0
	cpu0, err := cpuTime()
	if err != nil {
		return CPUResult{}, err
	}
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if err := rig.processOnce(ctx, next); err != nil {
				failure = err
				b.FailNow()
			}
			next++
		}
	})
	cpu1, err := cpuTime()
	if err != nil {
		return CPUResult{}, err
	}
	if failure != nil {
		return CPUResult{}, failure
	}
	if r.N == 0 {
		return CPUResult{}, fmt.Errorf("benchmark did not run")
	}
	n := float64(r.N * CPUMembers)
	return CPUResult{
		Variant: v, Batches: r.N,
		NsPerRecipient:     float64(r.T.Nanoseconds()) / n,
		AllocsPerRecipient: float64(r.MemAllocs) / n,
		BytesPerRecipient:  float64(r.MemBytes) / n,
		// next counts every batch processed in all of testing.Benchmark's
		// rounds, which the CPU time covers.
		CPUNsPerRecipient: float64((cpu1 - cpu0).Nanoseconds()) / float64(next*CPUMembers),
	}, nil
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// CPUSummary is a variant's measurements. Best is the run with the least
// ns per recipient: on a shared machine other processes only ever add time
// to a CPU-bound loop, so the fastest run is the closest to its own cost.
type CPUSummary struct {
	Best            CPUResult
	MedianNs, MaxNs float64
	MedianCPUNs     float64
	Runs            int
}

// CPURounds measures every variant rounds times, interleaved so that a
// noisy spell on a shared machine hits all variants alike, and summarises
// each variant's runs.
func CPURounds(variants []Variant, rounds int, progress func(Variant, int)) ([]CPUSummary, error) {
	runs := make([][]CPUResult, len(variants))
	for round := range max(rounds, 1) {
		for i, v := range variants {
			if progress != nil {
				progress(v, round)
			}
			r, err := CPU(v)
			if err != nil {
				return nil, fmt.Errorf("%v: %w", v, err)
			}
			runs[i] = append(runs[i], r)
		}
	}
	out := make([]CPUSummary, len(variants))
	for i, rs := range runs {
		cpu := make([]float64, len(rs))
		for j, r := range rs {
			cpu[j] = r.CPUNsPerRecipient
		}
		slices.Sort(cpu)
		slices.SortFunc(rs, func(a, b CPUResult) int { return cmp.Compare(a.NsPerRecipient, b.NsPerRecipient) })
		out[i] = CPUSummary{Best: rs[0], MedianNs: rs[len(rs)/2].NsPerRecipient, MaxNs: rs[len(rs)-1].NsPerRecipient,
			MedianCPUNs: cpu[len(cpu)/2], Runs: len(rs)}
	}
	return out, nil
}
