package audit_test

import (
	"fmt"
	"time"

	"breachnotify/shared/audit"
)

func ExampleVerify() {
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	first := audit.Next(nil, audit.Entry{IncidentID: "INC-1", At: at, Actor: "system:intake", Kind: audit.EventReceived})
	second := audit.Next(&first, audit.Entry{IncidentID: "INC-1", At: at, Actor: "system:intake", Kind: audit.IncidentRecorded})
	head := second.Head() // stored on the incident record

	fmt.Println(audit.Verify([]audit.Entry{first, second}, head))
	fmt.Println(audit.Verify([]audit.Entry{first}, head))
	// Output:
	// <nil>
	// audit chain broken at seq 2: head is at seq 2 but the chain ends at seq 1: entries removed from the end
}
