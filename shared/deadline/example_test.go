package deadline_test

import (
	"fmt"
	"time"

	"breachnotify/shared/deadline"
)

func ExamplePolicy_Evaluate() {
	policy, err := deadline.ParsePolicy("users=24h@confirmed,authority=72h@detected")
	if err != nil {
		panic(err)
	}
	detected := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	clocks := deadline.Clocks{DetectedAt: detected, ConfirmedAt: detected.Add(2 * time.Hour)}
	// A million messages left at 10 a second take almost 28 hours.
	progress := deadline.Progress{Pending: 1_000_000, Rate: 10}

	for _, f := range policy.Evaluate(clocks, progress, detected.Add(3*time.Hour)) {
		fmt.Printf("%s: %s, due %s, alarm %v\n", f.Rule, f.State, f.DueAt.Format(time.RFC3339), f.Alarm())
	}
	// Output:
	// users: at-risk, due 2025-03-02T10:00:00Z, alarm true
	// authority: on-track, due 2025-03-04T08:00:00Z, alarm false
}
