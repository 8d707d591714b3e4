package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"breachnotify/infra/local"
	"breachnotify/infra/seed"
	"breachnotify/shared/audience"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/aws/push"
)

// bulkUsers are n users with ids prefix-0..n-1; every third has two
// devices, the others one, each with a push token. Their app versions are
// above the sample incidents' cohorts (android below 8.9.0), so tests
// that send those samples on the shared stack never reach them.
func bulkUsers(prefix string, n int) []audience.User {
	users := make([]audience.User, n)
	for i := range users {
		id := fmt.Sprintf("%s-%06d", prefix, i)
		u := audience.User{ID: id, Email: fmt.Sprintf("%s@example.com", id), Locale: "en",
			Devices: []audience.Device{{ID: "d-1", Platform: "android", AppVersion: "9.1.0", PushToken: "fcm-" + id}}}
		if i%3 == 0 {
			u.Devices = append(u.Devices, audience.Device{ID: "d-2", Platform: "ios", AppVersion: "9.2.0", PushToken: "apns-" + id})
		}
		users[i] = u
	}
	return users
}

func jsonLines(t testing.TB, users []audience.User) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, u := range users {
		line, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	return b.Bytes()
}

// csvUsers writes users in the importer's CSV format: one device a line.
func csvUsers(users []audience.User) []byte {
	var b bytes.Buffer
	b.WriteString("userId,email,locale,deviceId,platform,appVersion,pushToken,endpointArn\n")
	for _, u := range users {
		for _, d := range u.Devices {
			fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s,%s\n", u.ID, u.Email, u.Locale, d.ID, d.Platform, d.AppVersion, d.PushToken, d.EndpointARN)
		}
	}
	return b.Bytes()
}

// itemKeys lists the sort keys stored under a user.
func itemKeys(ctx context.Context, t *testing.T, db *dynamodb.Client, table, userID string) []string {
	t.Helper()
	out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: &table, KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: userID}}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var sks []string
	for _, item := range out.Items {
		sks = append(sks, item["sk"].(*types.AttributeValueMemberS).Value)
	}
	slices.Sort(sks)
	return sks
}

// importConfig is the stack's SDK configuration with the retryer the seed
// tool gets from awsconfig.Load: without the client-side retry budget,
// which moto's bursts of 500s would otherwise run dry, failing calls with
// "retry quota exceeded" that a retry would have carried.
func importConfig(s *local.State) aws.Config {
	cfg := s.Config()
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
	}
	return cfg
}

// TestBulkImport imports a few hundred users in JSON Lines, re-imports
// them as CSV with some devices gone (and the endpoints given, as a company
// that already uses SNS would), and deletes some: the table holds exactly
// the items each step leaves, and the deleted users' endpoints are gone.
func TestBulkImport(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(importConfig(s))
	table := s.Names["UsersTable"]
	snsc := sns.NewFromConfig(importConfig(s))
	users := bulkUsers("bulk", 300)
	store := &dynamo.Users{Client: db, Table: table}

	im := &seed.Importer{Store: store, Registrar: &push.Registrar{Client: snsc, Applications: s.Platforms}}
	rep, err := im.Run(ctx, bytes.NewReader(jsonLines(t, users)))
	if err != nil || len(rep.Bad)+len(rep.Refused) > 0 {
		t.Fatalf("first import: %v %+v", err, rep)
	}
	if rep.Imported != 300 || rep.Replaced != 0 || rep.Endpoints != 400 {
		t.Errorf("first import: %d imported, %d replaced, %d endpoints; want 300, 0, 400", rep.Imported, rep.Replaced, rep.Endpoints)
	}
	stored, err := store.Stored(ctx, []string{users[0].ID, users[1].ID})
	if err != nil {
		t.Fatal(err)
	}
	if d := stored[users[0].ID].Devices; len(d) != 2 || d[0].EndpointARN == "" || d[1].EndpointARN == "" {
		t.Fatalf("user 0's devices %+v, want two with endpoints", d)
	}
	if got := itemKeys(ctx, t, db, table, users[0].ID); !slices.Equal(got, []string{"device#d-1", "device#d-2", "profile"}) {
		t.Errorf("user 0's items %v", got)
	}

	// Re-import as CSV: users 0, 30, 60 ... keep only d-2 (a shrink), with
	// the endpoints given; the rest unchanged. Few shrinks: each is a
	// transaction, and moto copies its whole state for every one, which on
	// the shared stack (thousands of items by now) costs seconds apiece.
	again := bulkUsers("bulk", 300)
	for i := range again {
		if i%30 == 0 {
			again[i].Devices = again[i].Devices[1:]
			if i == 0 {
				again[i].Devices[0].EndpointARN = stored[users[0].ID].Devices[1].EndpointARN
				again[i].Devices[0].PushToken = ""
			}
		}
	}
	csvIm := *im
	csvIm.Format = seed.CSV
	rep, err = csvIm.Run(ctx, bytes.NewReader(csvUsers(again)))
	if err != nil || len(rep.Bad)+len(rep.Refused) > 0 {
		t.Fatalf("re-import: %v %+v", err, rep)
	}
	if rep.Imported != 300 || rep.Replaced != 10 || rep.EndpointsGiven != 1 || rep.Endpoints != 389 {
		t.Errorf("re-import: %d imported, %d replaced, %d endpoints given, %d registered; want 300, 10, 1, 389", rep.Imported, rep.Replaced, rep.EndpointsGiven, rep.Endpoints)
	}
	for _, i := range []int{0, 30, 270} {
		if got := itemKeys(ctx, t, db, table, again[i].ID); !slices.Equal(got, []string{"device#d-2", "profile"}) {
			t.Errorf("user %d's items after a shrink: %v, want device#d-2 and profile", i, got)
		}
	}
	if got := itemKeys(ctx, t, db, table, again[1].ID); !slices.Equal(got, []string{"device#d-1", "profile"}) {
		t.Errorf("user 1's items %v", got)
	}

	// Delete the first 20 (26 endpoints: users 3, 6 … 18 kept two devices): items and endpoints go.
	stored, err = store.Stored(ctx, []string{again[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	arn := stored[again[0].ID].Devices[0].EndpointARN
	var ids bytes.Buffer
	for _, u := range again[:20] {
		ids.WriteString(`{"userId":"` + u.ID + `"}` + "\n")
	}
	ids.WriteString(`{"userId":"bulk-nobody"}` + "\n")
	del := &seed.Importer{Store: store, Deregistrar: &push.Deregistrar{Client: snsc}, Delete: true}
	rep, err = del.Run(ctx, &ids)
	if err != nil || rep.Deleted != 20 || rep.NotFound != 1 || rep.EndpointsDeleted != 26 {
		t.Fatalf("delete: %v; %d deleted, %d not found, %d endpoints; want 20, 1, 26", err, rep.Deleted, rep.NotFound, rep.EndpointsDeleted)
	}
	for _, i := range []int{0, 1, 19} {
		if got := itemKeys(ctx, t, db, table, again[i].ID); len(got) != 0 {
			t.Errorf("deleted user %d still has %v", i, got)
		}
	}
	if got := itemKeys(ctx, t, db, table, again[20].ID); len(got) != 2 {
		t.Errorf("user 20, not deleted, has %v", got)
	}
	if _, err := snsc.GetEndpointAttributes(ctx, &sns.GetEndpointAttributesInput{EndpointArn: &arn}); err == nil {
		t.Errorf("a deleted user's endpoint is still there")
	}
}

// BenchmarkImport imports BENCH_IMPORT_USERS users (3,000 by default) into
// the local stack through the bulk importer and reports users/s: once with
// every device's push token to register (register), once with the
// endpoints given in the lines (endpoints-given, as for a company that
// already uses SNS). `make bench` runs it at 3,000 and 30,000:
//
//	BENCH_IMPORT_USERS=30000 go test -run '^$' -bench Import -benchtime 1x -timeout 60m ./infra/e2e/
func BenchmarkImport(b *testing.B) {
	s := stack
	if s == nil {
		b.Skip("needs the local stack (not with -short)")
	}
	n := 3000
	if v := os.Getenv("BENCH_IMPORT_USERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("BENCH_IMPORT_USERS=%q: want a positive number", v)
		}
	}
	workers := 0
	if v := os.Getenv("BENCH_IMPORT_WORKERS"); v != "" {
		workers, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	cfg := importConfig(s)
	store := &dynamo.Users{Client: dynamodb.NewFromConfig(cfg), Table: s.Names["UsersTable"]}
	reg := &push.Registrar{Client: sns.NewFromConfig(cfg), Applications: s.Platforms}
	for _, given := range []bool{false, true} {
		name := "register"
		if given {
			name = "endpoints-given"
		}
		b.Run(name, func(b *testing.B) {
			im := &seed.Importer{Store: store, Registrar: reg, Workers: workers}
			var elapsed time.Duration
			for i := 0; b.Loop(); i++ {
				users := bulkUsers(fmt.Sprintf("bench%d-%d", time.Now().UnixNano(), i), n)
				if given {
					for _, u := range users {
						for j := range u.Devices {
							u.Devices[j].EndpointARN = "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/" + u.ID + u.Devices[j].ID
						}
					}
				}
				input := jsonLines(b, users)
				start := time.Now()
				rep, err := im.Run(ctx, bytes.NewReader(input))
				elapsed += time.Since(start)
				if err != nil || rep.Imported != n {
					b.Fatalf("imported %d of %d: %v %v %v", rep.Imported, n, err, rep.Bad, rep.Refused)
				}
			}
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "users/s(moto)")
			b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/import(moto)")
		})
	}
}
