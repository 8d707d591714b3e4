package audience

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"breachnotify/shared/incident"
	"breachnotify/shared/version"
)

func TestUserValidate(t *testing.T) {
	good := func() User {
		return User{
			ID: "u-000123", Email: "ana@example.com", Name: "Ana", Locale: "es-ES",
			Devices: []Device{
				{ID: "d1", Platform: "android", AppVersion: "8.8.2", PushToken: "tok1", EndpointARN: "arn:aws:sns:us-east-1:1:endpoint/GCM/app/1"},
				{ID: "d2", Platform: "ios", AppVersion: "8.9.0"},
			},
		}
	}
	tests := []struct {
		name   string
		mutate func(*User)
		// wantErr is a fragment of the error; empty means valid.
		wantErr string
	}{
		{name: "good user", mutate: func(*User) {}},
		{name: "no email, no devices", mutate: func(u *User) { u.Email, u.Devices = "", nil }},
		{name: "unparseable appVersion is accepted", mutate: func(u *User) { u.Devices[0].AppVersion = "8.9.0-beta" }},
		{name: "empty appVersion is accepted", mutate: func(u *User) { u.Devices[1].AppVersion = "" }},
		{name: "userId with #", mutate: func(u *User) { u.ID = "u#1" }, wantErr: "userId"},
		{name: "empty userId", mutate: func(u *User) { u.ID = "" }, wantErr: "userId"},
		{name: "userId with control character", mutate: func(u *User) { u.ID = "u\x001" }, wantErr: "userId"},
		{name: "userId too long", mutate: func(u *User) { u.ID = strings.Repeat("u", 129) }, wantErr: "userId"},
		{name: "email with header injection", mutate: func(u *User) { u.Email = "a@b.c\r\nBcc: x@y.z" }, wantErr: "email"},
		{name: "email with display name", mutate: func(u *User) { u.Email = "Ana <ana@example.com>" }, wantErr: "email"},
		{name: "not an email", mutate: func(u *User) { u.Email = "not-an-email" }, wantErr: "email"},
		{name: "bad locale", mutate: func(u *User) { u.Locale = "español!" }, wantErr: "locale"},
		{name: "duplicate deviceId", mutate: func(u *User) { u.Devices[1].ID = "d1" }, wantErr: `devices[1].deviceId is listed twice (as devices[0])`},
		{name: "userId with a C1 control", mutate: func(u *User) { u.ID = "u\u00851" }, wantErr: "userId"},
		{name: "userId with a bidi override", mutate: func(u *User) { u.ID = "u\u202e1" }, wantErr: "userId"},
		{name: "userId with a zero-width space", mutate: func(u *User) { u.ID = "u\u200b1" }, wantErr: "userId"},
		{name: "name with a line separator", mutate: func(u *User) { u.Name = "Ana\u2028Bcc" }, wantErr: "name holds"},
		{name: "name over the limit", mutate: func(u *User) { u.Name = strings.Repeat("n", incident.MaxNameRunes+1) }, wantErr: "name has"},
		{name: "locale over the limit", mutate: func(u *User) { u.Locale = "en" + strings.Repeat("-abcdefgh", 5) }, wantErr: "locale"},
		{name: "50 devices", mutate: func(u *User) {
			u.Devices = nil
			for i := range incident.MaxDevices + 1 {
				u.Devices = append(u.Devices, Device{ID: fmt.Sprintf("d%d", i), Platform: "android", AppVersion: "1"})
			}
		}, wantErr: "50 devices, more than 49"},
		{name: "appVersion over the sort-key budget", mutate: func(u *User) { u.Devices[0].AppVersion = strings.Repeat("9", 2000) }, wantErr: "devices[0].appVersion"},
		{name: "push token over the limit", mutate: func(u *User) { u.Devices[0].PushToken = strings.Repeat("t", incident.MaxPushTokenBytes+1) }, wantErr: "devices[0].pushToken"},
		{name: "empty deviceId", mutate: func(u *User) { u.Devices[0].ID = "" }, wantErr: "devices[0].deviceId"},
		{name: "deviceId with #", mutate: func(u *User) { u.Devices[1].ID = "d#2" }, wantErr: "devices[1].deviceId"},
		{name: "unknown platform", mutate: func(u *User) { u.Devices[1].Platform = "windows" }, wantErr: "devices[1].platform"},
		{name: "push token with line break", mutate: func(u *User) { u.Devices[0].PushToken = "tok\n1" }, wantErr: "devices[0].pushToken"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := good()
			tc.mutate(&u)
			err := u.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want error mentioning %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

// TestValidateQuotesNoPersonalData: the importer reports problems by
// line; the problems name fields, never their values.
func TestValidateQuotesNoPersonalData(t *testing.T) {
	u := User{ID: "secret#id", Email: "secret-mail@localhost", Name: "Secret\u2028Name", Locale: "secret-locale!",
		Devices: []Device{{ID: "secret-device", Platform: "secret-platform", AppVersion: "1"}, {ID: "secret-device", Platform: "ios", PushToken: "secret token"}}}
	err := u.Validate()
	if err == nil {
		t.Fatal("Validate accepted an invalid user")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error quotes the record: %v", err)
	}
}

func TestValidEmail(t *testing.T) {
	tests := []struct {
		email string
		ok    bool
	}{
		{"ana@example.com", true},
		{"a.b+tag@sub.example.org", true},
		{"a@b.c\r\nBcc: x@y.z", false},
		{"a@b.c\nBcc: x@y.z", false},
		{"Ana <ana@example.com>", false},
		{"<ana@example.com>", false},
		{"not-an-email", false},
		{"", false},
		{" ana@example.com", false},
		{"xn--80ak6aa92e@example.com", true},
		{"ana@xn--bcher-kva.example", true},
		{"ana@example.xn--p1ai", true},
		{"o'brien.j+x@mail.example.co.uk", true},
		{strings.Repeat("a", 64) + "@example.com", true},
		{strings.Repeat("a", 65) + "@example.com", false},
		{strings.Repeat("a", 300) + "@example.com", false},
		{"a@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 57) + ".com", false},
		{"ana\u2028@example.com", false},
		{"ana@example.com\u2028", false},
		{"ana\u0085@example.com", false},
		{"ana\u202e@example.com", false},
		{"an\u200ba@example.com", false},
		{"ana\u00a0@example.com", false},
		{"añа@example.com", false},
		{"ana@bücher.example", false},
		{"a@[127.0.0.1]", false},
		{"a@127.0.0.1", false},
		{"a@localhost", false},
		{"a@example.c", false},
		{"a@example.123", false},
		{"a@-example.com", false},
		{"a@example-.com", false},
		{"a@example..com", false},
		{"a@.example.com", false},
		{"a@example.com.", false},
		{".a@example.com", false},
		{"a..b@example.com", false},
		{"a.@example.com", false},
		{`"a b"@example.com`, false},
		{"a@b@example.com", false},
		{"a(comment)@example.com", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.email), func(t *testing.T) {
			if err := ValidEmail(tc.email); (err == nil) != tc.ok {
				t.Errorf("ValidEmail(%q) = %v, want ok=%v", tc.email, err, tc.ok)
			}
		})
	}
}

// fakeDirectory is an in-memory Directory: users are ids, devices carry a
// platform and a raw version.
type fakeDirectory struct {
	users   []string
	devices []fakeDevice
	err     error
	// cohortCalls records the platforms Cohort was asked for.
	cohortCalls []string
}

type fakeDevice struct{ user, id, platform, version string }

func (d *fakeDirectory) Existing(_ context.Context, ids []string) ([]string, error) {
	if d.err != nil {
		return nil, d.err
	}
	var out []string
	for _, id := range ids {
		if slices.Contains(d.users, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// Cohort yields matches the way the index does: by version key, so unparsed
// versions are included and flagged.
func (d *fakeDirectory) Cohort(_ context.Context, platform string, shard int, below version.Version, yield func(Match) error) error {
	if shard == 0 {
		d.cohortCalls = append(d.cohortCalls, platform)
	}
	if d.err != nil {
		return d.err
	}
	for _, dev := range d.devices {
		key := version.KeyOf(dev.version)
		if dev.platform != platform || key >= below.Key() || UserShard(dev.user) != shard {
			continue
		}
		if err := yield(Match{UserID: dev.user, DeviceID: dev.id, UnparsedVersion: version.IsUnparsedKey(key)}); err != nil {
			return err
		}
	}
	return nil
}

// resolveAll resolves every shard and merges them, as planning all of a
// notice's tasks does.
func resolveAll(ctx context.Context, dir Directory, a incident.Audience) (Resolution, error) {
	var all Resolution
	for shard := range Shards {
		r, err := Resolve(ctx, dir, a, shard)
		if err != nil {
			return all, err
		}
		all.Members = append(all.Members, r.Members...)
		all.UnknownUserIDs = append(all.UnknownUserIDs, r.UnknownUserIDs...)
		all.CohortDevices += r.CohortDevices
		all.UnparsedVersions += r.UnparsedVersions
	}
	slices.SortFunc(all.Members, func(a, b Member) int { return strings.Compare(a.UserID, b.UserID) })
	slices.Sort(all.UnknownUserIDs)
	return all, nil
}

func TestResolveTakesOnlyItsShard(t *testing.T) {
	d := &fakeDirectory{users: []string{"u-1", "u-2", "u-3"}, devices: []fakeDevice{{"u-1", "d", "android", "1.0"}, {"u-2", "d", "android", "1.0"}}}
	a := incident.Audience{UserIDs: []string{"u-1", "u-2", "u-3"}, Platforms: []string{"android"}, AppVersionBelow: "2.0"}
	seen := map[string]int{}
	for shard := range Shards {
		r, err := Resolve(context.Background(), d, a, shard)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Members {
			seen[m.UserID]++
			if UserShard(m.UserID) != shard {
				t.Errorf("shard %d resolved %s of shard %d", shard, m.UserID, UserShard(m.UserID))
			}
		}
	}
	if len(seen) != 3 || seen["u-1"] != 1 || seen["u-2"] != 1 || seen["u-3"] != 1 {
		t.Errorf("members over all shards = %v, want each user once", seen)
	}
}

func TestResolve(t *testing.T) {
	// Devices are listed out of order and one cohort device is listed twice,
	// as a paginated index read could return it.
	dir := func() *fakeDirectory {
		return &fakeDirectory{
			users: []string{"u-1", "u-2", "u-3", "u-4", "u-5"},
			devices: []fakeDevice{
				{"u-3", "d3b", "android", "8.8.2"},
				{"u-3", "d3a", "android", "junk"},
				{"u-3", "d3c", "android", "8.9.0"}, // fixed: not matched
				{"u-2", "d2a", "android", "7.0"},
				{"u-2", "d2a", "android", "7.0"}, // duplicate row
				{"u-1", "d1a", "android", "8.1"},
				{"u-4", "d4a", "ios", "8.0.0"},
				{"u-5", "d5a", "ios", "9.0"}, // fixed
			},
		}
	}
	tests := []struct {
		name     string
		audience incident.Audience
		want     Resolution
	}{
		{
			name:     "explicit ids only",
			audience: incident.Audience{UserIDs: []string{"u-2", "u-9", "u-1", "u-2", "u-0"}},
			want: Resolution{
				Members:        []Member{{UserID: "u-1", AllDevices: true}, {UserID: "u-2", AllDevices: true}},
				UnknownUserIDs: []string{"u-0", "u-9"},
			},
		},
		{
			name:     "cohort only",
			audience: incident.Audience{Platforms: []string{"android"}, AppVersionBelow: "8.9.0"},
			want: Resolution{
				Members: []Member{
					{UserID: "u-1", DeviceIDs: []string{"d1a"}},
					{UserID: "u-2", DeviceIDs: []string{"d2a"}},
					{UserID: "u-3", DeviceIDs: []string{"d3a", "d3b"}},
				},
				CohortDevices:    5,
				UnparsedVersions: 1,
			},
		},
		{
			name: "union of explicit and cohort",
			audience: incident.Audience{
				UserIDs:   []string{"u-3", "u-5"},
				Platforms: []string{"android"}, AppVersionBelow: "8.9.0",
			},
			want: Resolution{
				Members: []Member{
					{UserID: "u-1", DeviceIDs: []string{"d1a"}},
					{UserID: "u-2", DeviceIDs: []string{"d2a"}},
					{UserID: "u-3", AllDevices: true},
					{UserID: "u-5", AllDevices: true},
				},
				CohortDevices:    5,
				UnparsedVersions: 1,
			},
		},
		{
			name:     "two platforms",
			audience: incident.Audience{Platforms: []string{"ios", "android", "ios"}, AppVersionBelow: "8.5"},
			want: Resolution{
				Members: []Member{
					{UserID: "u-1", DeviceIDs: []string{"d1a"}},
					{UserID: "u-2", DeviceIDs: []string{"d2a"}},
					{UserID: "u-3", DeviceIDs: []string{"d3a"}},
					{UserID: "u-4", DeviceIDs: []string{"d4a"}},
				},
				CohortDevices:    5,
				UnparsedVersions: 1,
			},
		},
		{
			name:     "nobody matches",
			audience: incident.Audience{UserIDs: []string{"u-404"}, Platforms: []string{"ios"}, AppVersionBelow: "1.0"},
			want:     Resolution{UnknownUserIDs: []string{"u-404"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveAll(context.Background(), dir(), tc.audience)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !equalResolution(got, tc.want) {
				t.Errorf("Resolve =\n  %+v\nwant\n  %+v", got, tc.want)
			}
			if !slices.IsSortedFunc(got.Members, func(a, b Member) int { return strings.Compare(a.UserID, b.UserID) }) {
				t.Errorf("members not sorted by user id: %+v", got.Members)
			}
			for _, m := range got.Members {
				if m.AllDevices && m.DeviceIDs != nil {
					t.Errorf("member %s has AllDevices and DeviceIDs %q", m.UserID, m.DeviceIDs)
				}
			}
		})
	}
}

func TestResolveQueriesEachPlatformOnce(t *testing.T) {
	d := &fakeDirectory{}
	_, err := Resolve(context.Background(), d, incident.Audience{Platforms: []string{"ios", "android", "ios"}, AppVersionBelow: "1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"android", "ios"}; !slices.Equal(d.cohortCalls, want) {
		t.Errorf("Cohort called for %q, want %q", d.cohortCalls, want)
	}
}

func TestResolveErrors(t *testing.T) {
	boom := errors.New("directory unavailable")
	stop := errors.New("stop")
	tests := []struct {
		name     string
		dir      Directory
		audience incident.Audience
		wantIs   error
	}{
		{
			name:     "Existing error is wrapped",
			dir:      &fakeDirectory{err: boom},
			audience: incident.Audience{UserIDs: []string{"u-1"}},
			wantIs:   boom,
		},
		{
			name:     "Cohort error is wrapped",
			dir:      &fakeDirectory{err: boom},
			audience: incident.Audience{Platforms: []string{"android"}, AppVersionBelow: "8.9.0"},
			wantIs:   boom,
		},
		{
			name: "yield error from a cohort callback is wrapped",
			dir: directoryFuncs{
				cohort: func(_ context.Context, _ string, _ int, _ version.Version, yield func(Match) error) error {
					if err := yield(Match{UserID: "u", DeviceID: "d"}); err != nil {
						return err
					}
					return stop
				},
			},
			audience: incident.Audience{Platforms: []string{"android"}, AppVersionBelow: "8.9.0"},
			wantIs:   stop,
		},
		{
			name:     "unparseable appVersionBelow",
			dir:      &fakeDirectory{},
			audience: incident.Audience{Platforms: []string{"android"}, AppVersionBelow: "junk"},
			wantIs:   version.ErrInvalid,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolveAll(context.Background(), tc.dir, tc.audience)
			if !errors.Is(err, tc.wantIs) {
				t.Errorf("Resolve err = %v, want errors.Is %v", err, tc.wantIs)
			}
		})
	}
}

// directoryFuncs is a Directory made of functions.
type directoryFuncs struct {
	existing func(ctx context.Context, ids []string) ([]string, error)
	cohort   func(ctx context.Context, platform string, shard int, below version.Version, yield func(Match) error) error
}

func (d directoryFuncs) Existing(ctx context.Context, ids []string) ([]string, error) {
	return d.existing(ctx, ids)
}

func (d directoryFuncs) Cohort(ctx context.Context, platform string, shard int, below version.Version, yield func(Match) error) error {
	return d.cohort(ctx, platform, shard, below, yield)
}

func equalResolution(a, b Resolution) bool {
	return slices.EqualFunc(a.Members, b.Members, func(x, y Member) bool {
		return x.UserID == y.UserID && x.AllDevices == y.AllDevices && slices.Equal(x.DeviceIDs, y.DeviceIDs) &&
			(x.DeviceIDs == nil) == (y.DeviceIDs == nil)
	}) &&
		slices.Equal(a.UnknownUserIDs, b.UnknownUserIDs) &&
		a.CohortDevices == b.CohortDevices && a.UnparsedVersions == b.UnparsedVersions
}

var partitionPattern = regexp.MustCompile(`^(android|ios)#(\d{2})$`)

func TestCohortPartition(t *testing.T) {
	tests := []struct{ platform, user string }{
		{"android", "u-000123"},
		{"ios", "u-000123"},
		{"ios", ""},
		{"android", "ü-1 with spaces"},
	}
	for _, tc := range tests {
		t.Run(tc.platform+"/"+tc.user, func(t *testing.T) {
			p := CohortPartition(tc.platform, tc.user)
			if again := CohortPartition(tc.platform, tc.user); again != p {
				t.Errorf("not stable: %q then %q", p, again)
			}
			m := partitionPattern.FindStringSubmatch(p)
			if m == nil || m[1] != tc.platform {
				t.Fatalf("CohortPartition = %q, want %s#NN", p, tc.platform)
			}
			var shard int
			fmt.Sscanf(m[2], "%d", &shard)
			if shard != UserShard(tc.user) || shard < 0 || shard >= Shards {
				t.Errorf("shard %d, UserShard %d, Shards %d", shard, UserShard(tc.user), Shards)
			}
		})
	}
	t.Run("a user's platforms share the shard", func(t *testing.T) {
		for i := range 100 {
			u := fmt.Sprintf("u-%06d", i)
			if CohortPartition("android", u)[len("android"):] != CohortPartition("ios", u)[len("ios"):] {
				t.Fatalf("%s is in different shards per platform", u)
			}
		}
	})
	t.Run("spread over all shards", func(t *testing.T) {
		seen := map[string]bool{}
		for i := range 5000 {
			seen[CohortPartition("ios", fmt.Sprintf("u-%06d", i))] = true
		}
		if len(seen) != Shards {
			t.Errorf("5000 users fell in %d partitions, want %d", len(seen), Shards)
		}
	})
}

func TestShardPartition(t *testing.T) {
	tests := []struct {
		platform string
		shard    int
		want     string
	}{
		{"android", 7, "android#07"},
		{"android", 0, "android#00"},
		{"ios", 63, "ios#63"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := ShardPartition(tc.platform, tc.shard); got != tc.want {
				t.Errorf("ShardPartition(%q, %d) = %q, want %q", tc.platform, tc.shard, got, tc.want)
			}
		})
	}
}

func TestCohortSort(t *testing.T) {
	below := mustParse(t, "8.9.0").Key()
	tests := []struct {
		appVersion string
		inRange    bool
	}{
		{"8.8.2", true},
		{"junk", true},
		{"", true},
		{"8.9.0", false},
		{"8.10", false},
	}
	for _, tc := range tests {
		t.Run(tc.appVersion, func(t *testing.T) {
			k := CohortSort(Device{AppVersion: tc.appVersion})
			if (k < below) != tc.inRange {
				t.Errorf("CohortSort(%q) = %q; below 8.9.0 = %v, want %v", tc.appVersion, k, k < below, tc.inRange)
			}
		})
	}
}

func mustParse(t *testing.T, s string) version.Version {
	t.Helper()
	v, err := version.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestContains(t *testing.T) {
	cohort := incident.Audience{Platforms: []string{"android"}, AppVersionBelow: "8.9.0"}
	android := func(v string) User {
		return User{ID: "u-1", Devices: []Device{{ID: "d1", Platform: "android", AppVersion: v}}}
	}
	tests := []struct {
		name string
		a    incident.Audience
		u    User
		want bool
	}{
		{"named", incident.Audience{UserIDs: []string{"u-1"}}, User{ID: "u-1"}, true},
		{"not named", incident.Audience{UserIDs: []string{"u-2"}}, User{ID: "u-1"}, false},
		{"below", cohort, android("8.8.2"), true},
		{"at the fix", cohort, android("8.9.0"), false},
		{"8.10 is above 8.9", cohort, android("8.10.0"), false},
		{"unparseable is affected", cohort, android("8.9.0-beta"), true},
		{"other platform", cohort, User{ID: "u-1", Devices: []Device{{ID: "d1", Platform: "ios", AppVersion: "1.0.0"}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Contains(tc.a, tc.u); got != tc.want {
				t.Errorf("Contains = %v, want %v", got, tc.want)
			}
		})
	}
}
