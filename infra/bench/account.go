package bench

import (
	"strings"

	"breachnotify/infra/faultserver"
	"breachnotify/shared/audience"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// Accounting says, recipient by recipient, whether an email run delivered
// exactly once: from the messages the server accepted and the ledger.
type Accounting struct {
	Recipients int
	// Accepted is the server's accepted emails to the recipients.
	Accepted int
	// Delivered recipients were accepted at least once.
	Delivered int
	// Duplicates are recipients accepted more than once; Extra is the
	// messages beyond the first.
	Duplicates, Extra int
	// Failed recipients were never accepted and are recorded as a
	// permanent failure in the ledger: given up on purpose, not lost.
	Failed int
	// Lost recipients were neither accepted nor recorded as failed.
	Lost int
	// Unrecorded recipients were accepted but the ledger does not say
	// sent (a crash window; none is expected here).
	Unrecorded int
	// Strangers are accepted emails to addresses outside the recipients.
	Strangers int
}

// Account checks an email notice's run: every recipient (a user with an
// email) against the accepted emails and the ledger's entry for the
// delivery (incidentID, noticeID, user, email).
func Account(recipients []audience.User, accepted []faultserver.Message, l *MemLedger, incidentID, noticeID string) Accounting {
	a := Accounting{Recipients: len(recipients)}
	byAddr := make(map[string]int, len(recipients))
	for i, u := range recipients {
		byAddr[strings.ToLower(u.Email)] = i
	}
	count := make([]int, len(recipients))
	for _, m := range accepted {
		if m.Channel != "email" {
			continue
		}
		for to := range strings.SplitSeq(m.To, ",") {
			i, ok := byAddr[strings.ToLower(strings.TrimSpace(to))]
			if !ok {
				a.Strangers++
				continue
			}
			a.Accepted++
			count[i]++
		}
	}
	for i, u := range recipients {
		e, recorded := l.Entry(ledger.Key{IncidentID: incidentID, NoticeID: noticeID, UserID: u.ID, Channel: incident.Email})
		switch n := count[i]; {
		case n == 0 && recorded && e.Status == ledger.Failed:
			a.Failed++
		case n == 0:
			a.Lost++
		default:
			a.Delivered++
			if n > 1 {
				a.Duplicates++
				a.Extra += n - 1
			}
			if !recorded || e.Status != ledger.Sent {
				a.Unrecorded++
			}
		}
	}
	return a
}
