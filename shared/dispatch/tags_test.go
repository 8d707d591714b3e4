package dispatch_test

import (
	"regexp"
	"testing"

	"breachnotify/shared/dispatch"
	"breachnotify/shared/ledger"
)

// Every id the ledger accepts travels in an SES tag and comes back intact.
func TestTagsRoundTrip(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	for _, user := range []string{"u-1", "u_1", "_u", "team.a+1", "ü+1/ß", "-x"} {
		t.Run(user, func(t *testing.T) {
			r := ledger.Recipient{IncidentID: "INC-2026-0001", NoticeID: "n0-account-accessed", UserID: user}
			tags := dispatch.Tags(r)
			for k, v := range tags {
				if !valid.MatchString(v) {
					t.Errorf("tag %s = %q: SES refuses it", k, v)
				}
			}
			got, err := dispatch.Recipient(tags)
			if err != nil || got != r {
				t.Errorf("Recipient(%v) = %v, %v; want %v", tags, got, err, r)
			}
		})
	}
	if _, err := dispatch.Recipient(map[string]string{"incident": "i", "notice": "n"}); err == nil {
		t.Error("tags without a user named a recipient")
	}
}
