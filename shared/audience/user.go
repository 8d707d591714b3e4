// Package audience says who a notice reaches: the user records it is chosen
// from, the device cohort index, and the resolution of an audience into
// members.
package audience

import (
	"fmt"
	"hash/fnv"
	"net/mail"
	"regexp"
	"slices"
	"strings"

	"breachnotify/shared/incident"
	"breachnotify/shared/version"
)

// Device is one app installation that can receive push notices.
type Device struct {
	ID         string `json:"deviceId"`
	Platform   string `json:"platform"`
	AppVersion string `json:"appVersion"`
	PushToken  string `json:"pushToken,omitempty"`
	// EndpointARN is the SNS platform endpoint registered for PushToken.
	EndpointARN string `json:"endpointArn,omitempty"`
}

// User is a person who may be notified, as imported (one JSON line each).
type User struct {
	ID      string   `json:"userId"`
	Email   string   `json:"email,omitempty"`
	Name    string   `json:"name,omitempty"`
	Locale  string   `json:"locale,omitempty"`
	Devices []Device `json:"devices,omitempty"`
}

var localePattern = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$`)

// Validate checks an imported user. An unparseable app version is accepted
// (the device is still reachable and is treated as affected by cohorts), but
// anything that could break a key or a mail header is not.
func (u User) Validate() error {
	var p []string
	if !validUserID(u.ID) {
		p = append(p, fmt.Sprintf("userId %q must be 1-128 characters without '#' or control characters", u.ID))
	}
	if u.Email != "" {
		if err := ValidEmail(u.Email); err != nil {
			p = append(p, err.Error())
		}
	}
	if u.Locale != "" && !localePattern.MatchString(u.Locale) {
		p = append(p, fmt.Sprintf("locale %q is not a language tag", u.Locale))
	}
	for i, d := range u.Devices {
		if !validUserID(d.ID) {
			p = append(p, fmt.Sprintf("devices[%d].deviceId %q is not a device id", i, d.ID))
		} else if slices.IndexFunc(u.Devices, func(o Device) bool { return o.ID == d.ID }) != i {
			p = append(p, fmt.Sprintf("devices[%d].deviceId %q is listed twice", i, d.ID))
		}
		if !slices.Contains(incident.Platforms, d.Platform) {
			p = append(p, fmt.Sprintf("devices[%d].platform %q must be one of %q", i, d.Platform, incident.Platforms))
		}
		if strings.ContainsAny(d.PushToken, "\r\n") {
			p = append(p, fmt.Sprintf("devices[%d].pushToken contains a line break", i))
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("invalid user: %s", strings.Join(p, "; "))
	}
	return nil
}

// ValidEmail accepts a bare address (no display name, no line breaks), the
// only form that is placed in a mail header.
func ValidEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || strings.ContainsAny(s, "\r\n") {
		return fmt.Errorf("email is not a bare address")
	}
	return nil
}

func validUserID(s string) bool {
	if s == "" || len(s) > 128 || strings.Contains(s, "#") {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Shards is how many parts each platform's cohort index, and each
// notice's planning, is split into. A shard holds whole users (all their
// devices), so shards never share a user and can be planned apart. 64
// shards keep a shard of a 145-million-user audience near 2.3 million users:
// one planner run, and one GSI partition well under its read limit. The
// importer and the planner must agree on it; changing it means
// re-importing the users.
const Shards = 64

// UserShard is the shard a user belongs to.
func UserShard(userID string) int {
	h := fnv.New32a()
	h.Write([]byte(userID))
	return int(h.Sum32() % Shards)
}

// CohortPartition is the cohort index partition key of a user's device on
// platform.
func CohortPartition(platform, userID string) string {
	return ShardPartition(platform, UserShard(userID))
}

// ShardPartition is the partition key of one shard of a platform.
func ShardPartition(platform string, shard int) string {
	return fmt.Sprintf("%s#%02d", platform, shard)
}

// CohortSort is the cohort index sort key of a device: its version key, so
// that "below X" is a key range.
func CohortSort(d Device) string { return version.KeyOf(d.AppVersion) }
