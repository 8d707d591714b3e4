package audience

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"breachnotify/shared/incident"
	"breachnotify/shared/version"
)

// Match is one device that a cohort query found.
type Match struct {
	UserID   string
	DeviceID string
	// UnparsedVersion is set when the device's app version could not be
	// parsed. Such devices are treated as affected: nothing shows they run a
	// fixed version, and missing a vulnerable user is worse than one extra
	// notice.
	UnparsedVersion bool
}

// Directory is where users are looked up.
type Directory interface {
	// Existing returns those of ids that belong to a user.
	Existing(ctx context.Context, ids []string) ([]string, error)
	// Cohort calls yield for every device of platform in shard whose version
	// key sorts below below's (which includes unparsed versions).
	Cohort(ctx context.Context, platform string, shard int, below version.Version, yield func(Match) error) error
}

// Member is one user a notice goes to. Push goes to all the user's devices
// when the user was named explicitly, else only to the devices that matched.
type Member struct {
	UserID     string   `json:"userId"`
	AllDevices bool     `json:"allDevices,omitempty"`
	DeviceIDs  []string `json:"deviceIds,omitempty"`
}

// Resolution is an audience resolved into members, with what did not resolve.
type Resolution struct {
	Members          []Member
	UnknownUserIDs   []string
	CohortDevices    int
	UnparsedVersions int
}

// Resolve turns the part of an audience in one shard into de-duplicated
// members, ordered by user id. Shards hold whole users, so resolving every
// shard gives the whole audience, each user once.
func Resolve(ctx context.Context, dir Directory, a incident.Audience, shard int) (Resolution, error) {
	var r Resolution
	byUser := map[string]*Member{}
	member := func(id string) *Member {
		m, ok := byUser[id]
		if !ok {
			m = &Member{UserID: id}
			byUser[id] = m
		}
		return m
	}
	if len(a.UserIDs) > 0 {
		var ids []string
		for _, id := range slices.Compact(slices.Sorted(slices.Values(a.UserIDs))) {
			if UserShard(id) == shard {
				ids = append(ids, id)
			}
		}
		var found []string
		if len(ids) > 0 {
			var err error
			if found, err = dir.Existing(ctx, ids); err != nil {
				return r, fmt.Errorf("look up user ids: %w", err)
			}
		}
		for _, id := range found {
			member(id).AllDevices = true
		}
		for _, id := range ids {
			if !slices.Contains(found, id) {
				r.UnknownUserIDs = append(r.UnknownUserIDs, id)
			}
		}
	}
	if a.HasCohort() {
		below, err := version.Parse(a.AppVersionBelow)
		if err != nil {
			return r, fmt.Errorf("cohort: %w", err)
		}
		for _, platform := range slices.Compact(slices.Sorted(slices.Values(a.Platforms))) {
			err := dir.Cohort(ctx, platform, shard, below, func(m Match) error {
				r.CohortDevices++
				if m.UnparsedVersion {
					r.UnparsedVersions++
				}
				mem := member(m.UserID)
				if !slices.Contains(mem.DeviceIDs, m.DeviceID) {
					mem.DeviceIDs = append(mem.DeviceIDs, m.DeviceID)
				}
				return nil
			})
			if err != nil {
				return r, fmt.Errorf("cohort %s below %s: %w", platform, a.AppVersionBelow, err)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(byUser)) {
		m := byUser[id]
		if m.AllDevices {
			m.DeviceIDs = nil
		} else {
			slices.Sort(m.DeviceIDs)
		}
		r.Members = append(r.Members, *m)
	}
	return r, nil
}

// Contains reports whether u belongs to audience a as Resolve would find
// it: named, or with a device on a listed platform whose version is below
// a.AppVersionBelow or cannot be parsed (treated as affected).
func Contains(a incident.Audience, u User) bool {
	if slices.Contains(a.UserIDs, u.ID) {
		return true
	}
	if !a.HasCohort() {
		return false
	}
	below, err := version.Parse(a.AppVersionBelow)
	if err != nil {
		return false
	}
	for _, d := range u.Devices {
		if !slices.Contains(a.Platforms, d.Platform) {
			continue
		}
		v, err := version.Parse(d.AppVersion)
		if err != nil || v.Compare(below) < 0 {
			return true
		}
	}
	return false
}
