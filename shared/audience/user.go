// Package audience says who a notice reaches: the user records it is chosen
// from, the device cohort index, and the resolution of an audience into
// members.
package audience

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strings"
	"unicode"

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

// Validate checks an imported user against the limits of the stores and
// of SES (incident's limits table). An unparseable app version is accepted
// (the device is still reachable and is treated as affected by cohorts),
// but anything that could break a key, a mail header or an item is not.
// Problems name the field, never its value: user records are personal
// data, and the importer reports problems by line.
func (u User) Validate() error {
	var p []string
	if !incident.ValidKey(u.ID, incident.MaxUserIDBytes) {
		p = append(p, fmt.Sprintf("userId must be 1-%d bytes without '#', spaces, control or invisible characters", incident.MaxUserIDBytes))
	}
	if u.Email != "" {
		if err := ValidEmail(u.Email); err != nil {
			p = append(p, err.Error())
		}
	}
	if msg := incident.TextProblem(u.Name, incident.MaxNameRunes, false); msg != "" {
		p = append(p, "name "+msg)
	}
	if u.Locale != "" && (len(u.Locale) > incident.MaxLocaleBytes || !localePattern.MatchString(u.Locale)) {
		p = append(p, "locale is not a language tag")
	}
	if len(u.Devices) > incident.MaxDevices {
		p = append(p, fmt.Sprintf("%d devices, more than %d", len(u.Devices), incident.MaxDevices))
	}
	for i, d := range u.Devices {
		if !incident.ValidKey(d.ID, incident.MaxUserIDBytes) {
			p = append(p, fmt.Sprintf("devices[%d].deviceId is not a device id", i))
		} else if j := slices.IndexFunc(u.Devices, func(o Device) bool { return o.ID == d.ID }); j != i {
			p = append(p, fmt.Sprintf("devices[%d].deviceId is listed twice (as devices[%d])", i, j))
		}
		if !slices.Contains(incident.Platforms, d.Platform) {
			p = append(p, fmt.Sprintf("devices[%d].platform must be one of %q", i, incident.Platforms))
		}
		if len(d.AppVersion) > incident.MaxVersionBytes || incident.TextProblem(d.AppVersion, incident.MaxVersionBytes, false) != "" {
			p = append(p, fmt.Sprintf("devices[%d].appVersion must be at most %d bytes, one line", i, incident.MaxVersionBytes))
		}
		if len(d.PushToken) > incident.MaxPushTokenBytes || strings.ContainsFunc(d.PushToken, func(r rune) bool { return incident.Hidden(r) || unicode.IsSpace(r) }) {
			p = append(p, fmt.Sprintf("devices[%d].pushToken must be at most %d bytes without line breaks or spaces", i, incident.MaxPushTokenBytes))
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("invalid user: %s", strings.Join(p, "; "))
	}
	return nil
}

// ValidEmail accepts what SES sends to (SES does not support SMTPUTF8): a
// bare address of 7-bit ASCII, a dot-atom local part of at most 64 bytes,
// and a domain name (punycode for an international one) with a dot and a
// top-level label, at most 254 bytes in all. It refuses IP literals, bare
// hosts, quoted local parts, display names and anything that could break a
// header. Errors say what is wrong without quoting the address.
func ValidEmail(s string) error {
	if len(s) > incident.MaxEmailBytes {
		return fmt.Errorf("email is longer than %d bytes", incident.MaxEmailBytes)
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return fmt.Errorf("email has no '@'")
	}
	local, domain := s[:at], s[at+1:]
	switch {
	case local == "" || len(local) > incident.MaxEmailLocalBytes:
		return fmt.Errorf("email's local part must be 1-%d bytes", incident.MaxEmailLocalBytes)
	case !dotAtom(local):
		return fmt.Errorf("email's local part must be ASCII letters, digits, dots and !#$%%&'*+-/=?^_`{|}~")
	case !domainName(domain):
		return fmt.Errorf("email's domain must be a DNS name with a dot and a top-level label (punycode for non-ASCII)")
	}
	return nil
}

// dotAtom reports whether s is an RFC 5322 dot-atom: atext runs joined by
// single dots.
func dotAtom(s string) bool {
	for part := range strings.SplitSeq(s, ".") {
		if part == "" || strings.ContainsFunc(part, func(r rune) bool {
			return r > 0x7e || !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r))
		}) {
			return false
		}
	}
	return true
}

// domainName reports whether s is an ASCII host name of at least two
// labels (1-63 letters, digits and inner hyphens each), whose last label,
// the top-level domain, is letters or punycode: that rules out IP
// addresses, IP literals and bare hosts such as "localhost".
func domainName(s string) bool {
	if len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' ||
			strings.ContainsFunc(l, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
			}) {
			return false
		}
	}
	tld := strings.ToLower(labels[len(labels)-1])
	if strings.HasPrefix(tld, "xn--") {
		return len(tld) > 4
	}
	return len(tld) >= 2 && !strings.ContainsFunc(tld, func(r rune) bool { return r < 'a' || r > 'z' })
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
