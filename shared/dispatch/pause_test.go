package dispatch

import (
	"context"
	"errors"
	"testing"

	"breachnotify/shared/audience"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

type queueFunc func(ctx context.Context, bodies [][]byte) error

func (f queueFunc) Send(ctx context.Context, bodies [][]byte) error { return f(ctx, bodies) }

func TestSendingPausedParksTheChannelAndResumeSendsOnce(t *testing.T) {
	var users []audience.User
	for _, id := range []string{"u-1", "u-2", "u-3"} {
		users = append(users, audience.User{ID: id, Email: id + "@example.com", Devices: []audience.Device{device("d-1", "android")}})
	}
	e := newEnv(fake.NewUsers(users...))
	ctl := e.control
	paused := &SendError{Class: Paused, Reason: "SendingPaused", Err: errors.New("paused")}
	// SES pauses after the first email.
	calls := 0
	e.mailer.fail = func(Mail) error {
		calls++
		if calls > 1 {
			return paused
		}
		return nil
	}
	b := batch("account-accessed", []incident.Channel{incident.Email, incident.Push}, explicit("u-1", "u-2", "u-3"))
	c, err := e.worker.Process(context.Background(), b)
	if err != nil {
		t.Fatalf("a pause must not fail the batch (no retry storm): %v", err)
	}
	if c.Sent != 4 || c.Parked != 2 || calls != 2 {
		t.Errorf("counts %+v after %d SES calls; want 1 email + 3 pushes sent, 2 emails parked, SES asked twice", c, calls)
	}
	if ctl.paused[incident.Email] != "SendingPaused" {
		t.Errorf("paused = %v", ctl.paused)
	}
	if len(ctl.parked) != 1 {
		t.Fatalf("parked %d batches, want the email part of this one", len(ctl.parked))
	}
	for _, u := range []string{"u-1", "u-2", "u-3"} {
		if st := recordState(e.ledger, u); st == ledger.Claimed {
			t.Errorf("%s left claimed: a resume would find it in flight", u)
		}
	}

	t.Run("a batch arriving while paused is parked without calling SES", func(t *testing.T) {
		before := calls
		b2 := b
		b2.NoticeID = "n1-account-accessed"
		c, err := e.worker.Process(context.Background(), b2)
		if err != nil || calls != before || c.Parked != 3 || c.Sent != 3 {
			t.Errorf("counts %+v, err %v, SES calls %d", c, err, calls-before)
		}
	})

	t.Run("resume re-queues the parked batches and each email is sent once", func(t *testing.T) {
		e.mailer.fail = nil
		var queued []Batch
		q := queueFunc(func(_ context.Context, bodies [][]byte) error {
			for _, body := range bodies {
				b, err := ParseBatch(body)
				if err != nil {
					return err
				}
				queued = append(queued, b)
			}
			return nil
		})
		n, err := Resume(context.Background(), ctl, q, b.IncidentID, incident.Email)
		if err != nil || n != 2 || len(ctl.parked) != 0 || len(ctl.paused) != 0 {
			t.Fatalf("resumed %d, err %v, parked left %d, paused %v", n, err, len(ctl.parked), ctl.paused)
		}
		sentBefore := len(e.mailer.sent)
		for _, qb := range queued {
			if _, err := e.worker.Process(context.Background(), qb); err != nil {
				t.Fatal(err)
			}
		}
		// 2 emails left of the first batch, 3 of the second; u-1's first email is not repeated.
		if got := len(e.mailer.sent) - sentBefore; got != 5 {
			t.Errorf("sent %d emails after resume, want 5", got)
		}
		emails := map[string]int{}
		for _, en := range snapshot(e.ledger) {
			if en.Channel == incident.Email && en.Status == ledger.Sent {
				emails[en.NoticeID]++
			}
		}
		if emails["n0-account-accessed"] != 3 || emails["n1-account-accessed"] != 3 {
			t.Errorf("sent emails per notice = %v", emails)
		}
	})
}
