package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"breachnotify/infra/faultserver"
	"breachnotify/shared/audience"
	"breachnotify/shared/aws/email"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/notice"
)

// BaselineResult is the naive sender's run.
type BaselineResult struct {
	Recipients, Accepted, Errors int
	First, Last                  time.Time
	Rate                         float64
	Wall                         time.Duration
	Stats                        faultserver.APIStats
}

// Baseline is the naive peer: one SendEmail per recipient in a sequential
// loop through the same adapter and client as the fleet, with no pacing, no
// ledger and no parallelism. The server is reset first.
func Baseline(ctx context.Context, srv *faultserver.Server, ses *sesv2.Client, users []audience.User) (BaselineResult, error) {
	res := BaselineResult{Recipients: len(users)}
	sender := &email.Sender{Client: ses, From: "security@example.com", ConfigurationSet: "breachnotify"}
	srv.Reset()
	start := time.Now()
	for _, u := range users {
		msg, err := notice.Render("account-accessed", u.Locale, notice.Data{Name: u.Name, IncidentID: "INC-BENCH-0", Title: "Benchmark incident", Brand: "Acme"})
		if err != nil {
			return res, fmt.Errorf("render: %w", err)
		}
		if _, err := sender.Send(ctx, dispatch.Mail{To: u.Email, Subject: msg.Email.Subject, Text: msg.Email.Text, HTML: msg.Email.HTML,
			Tags: map[string]string{"incident": "INC-BENCH-0", "notice": NoticeID, "template": "account-accessed"}}); err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			res.Errors++
		}
	}
	res.Wall = time.Since(start)
	accepted := srv.Accepted()
	res.Stats = srv.Stats().SendEmail
	res.Accepted = len(accepted)
	res.First, res.Last = span(accepted)
	res.Rate = Rate(len(accepted), res.Last.Sub(res.First))
	return res, nil
}
