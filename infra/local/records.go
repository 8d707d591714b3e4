package local

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"breachnotify/shared/audit"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/incident"
	"breachnotify/shared/intake"
	"breachnotify/shared/ledger"
)

// Incident reads an incident as intake recorded it.
func (s *State) Incident(ctx context.Context, id string) (incident.Record, bool, error) {
	st := &dynamo.Incidents{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["IncidentsTable"]}
	return st.Get(ctx, id)
}

// Receipts lists the events intake received for an incident ("" for
// rejected events that named none).
func (s *State) Receipts(ctx context.Context, id string) ([]intake.Receipt, error) {
	st := &dynamo.Incidents{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["IncidentsTable"]}
	return st.Receipts(ctx, id)
}

// Deliveries reads an incident's ledger.
func (s *State) Deliveries(ctx context.Context, id string) ([]ledger.Entry, error) {
	l := &dynamo.Ledger{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["DeliveriesTable"]}
	return l.List(ctx, id)
}

// Users is the users table of the stack, for seeding.
func (s *State) Users() *dynamo.Users {
	return &dynamo.Users{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["UsersTable"]}
}

// Records reads an incident's ledger records, claims included.
func (s *State) Records(ctx context.Context, id string) ([]ledger.Record, error) {
	l := &dynamo.Ledger{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["DeliveriesTable"]}
	return l.Records(ctx, id)
}

// AuditTrail reads an incident's audit entries in order.
func (s *State) AuditTrail(ctx context.Context, id string) ([]audit.Entry, error) {
	a := &dynamo.Audit{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["IncidentsTable"]}
	return a.Entries(ctx, id)
}
