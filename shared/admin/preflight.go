package admin

import (
	"context"

	"breachnotify/shared/preflight"
)

// Prober runs some of preflight's checks against one provider (SES, SNS,
// EventBridge). A check it cannot make is a failed check, not an error:
// preflight reports everything it found in one answer.
type Prober interface {
	Probe(ctx context.Context) []preflight.Check
}

// preflight answers whether the deployment can send, before the first
// incident needs it: it concerns no incident and changes nothing, so it
// is not audited.
func (h *Handler) preflight(ctx context.Context, resp *Response) {
	v := h.verdict(ctx)
	resp.Preflight = &v
	resp.Message = "preflight: " + string(v.Status)
}

func (h *Handler) verdict(ctx context.Context) preflight.Verdict {
	var checks []preflight.Check
	for _, p := range h.Probes {
		checks = append(checks, p.Probe(ctx)...)
	}
	return preflight.Judge(checks)
}
