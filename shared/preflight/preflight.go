// Package preflight is the verdict on whether a deployment can send its
// notices: each check of the providers' configuration (SES account and
// identities, SNS platform applications, the event bus) with ok, warn or
// fail and a short reason. Adapters make the checks; this package only
// says what they mean together, so it imports no AWS package.
package preflight

// Status is one check's outcome, or the verdict's.
type Status string

const (
	// OK: nothing to do.
	OK Status = "ok"
	// Warn: notices will go out, but something is weaker than it should be
	// (a quota nearly used, a bus anyone in the account may write to).
	Warn Status = "warn"
	// Fail: notices on a channel would not go out, or go out to only some
	// recipients; fix it before the first incident.
	Fail Status = "fail"
)

// severity orders the statuses so the worst one wins.
var severity = map[Status]int{OK: 0, Warn: 1, Fail: 2}

// Check is one thing preflight looked at.
type Check struct {
	// Name is stable, for scripts: "ses-account", "sns-android", ...
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Reason says what was found and, for warn and fail, what to do. It
	// names configuration (identities, ARNs), never a user's data.
	Reason string `json:"reason"`
}

// Verdict is every check and the worst of their statuses.
type Verdict struct {
	Status Status  `json:"status"`
	Checks []Check `json:"checks"`
}

// Judge is the verdict on checks: fail if any failed, else warn if any
// warned, else ok. No checks at all is a failure, since nothing was
// verified.
func Judge(checks []Check) Verdict {
	v := Verdict{Status: OK, Checks: checks}
	if len(checks) == 0 {
		v.Status = Fail
		return v
	}
	for _, c := range checks {
		if severity[c.Status] > severity[v.Status] {
			v.Status = c.Status
		}
	}
	return v
}
