package e2e

import (
	"context"
	"testing"
)

// An emulator that died (its process killed between invocations) is
// started again by the next invocation, as Lambda replaces a dead
// execution environment: the next event is processed, not refused until
// `make down`.
func TestDeadEmulatorIsStartedAgain(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	for _, id := range []string{"WorkerFunction", "PlannerFunction"} {
		if err := s.Kill(id); err != nil {
			t.Fatal(err)
		}
		if s.Running(id) {
			t.Fatalf("%s still runs after the kill", id)
		}
	}
	if _, err := notifyOne(ctx, s, "INC-RESTART-1"); err != nil {
		t.Fatalf("the event after the kill: %v", err)
	}
	for _, id := range []string{"WorkerFunction", "PlannerFunction"} {
		if !s.Running(id) {
			t.Errorf("%s not running after the event that found it dead", id)
		}
	}
}
