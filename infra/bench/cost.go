package bench

import "fmt"

// Prices are list prices in US dollars (us-east-1, on-demand), from
// ../shared/AWS-FACTS.md and AWS's price pages.
type Prices struct {
	SESPerThousand       float64 // per 1,000 emails
	SNSPublishPerM       float64 // per million publishes
	SNSMobilePerM        float64 // per million mobile push deliveries
	DynamoWritePerM      float64 // per million write request units
	DynamoReadPerM       float64 // per million read request units
	SQSPerM              float64 // per million requests
	LambdaGBSecond       float64 // arm64, per GB-second
	LambdaInvocationPerM float64
}

// ListPrices are the prices the report uses.
var ListPrices = Prices{
	SESPerThousand:       0.10,
	SNSPublishPerM:       0.50,
	SNSMobilePerM:        0.50,
	DynamoWritePerM:      0.625,
	DynamoReadPerM:       0.125,
	SQSPerM:              0.40,
	LambdaGBSecond:       0.0000133334,
	LambdaInvocationPerM: 0.20,
}

// CostInputs are the per-notice quantities; one notice is one recipient's
// email and one push.
type CostInputs struct {
	// SendEmailCalls per recipient, retries included (SES bills accepted
	// messages only, so this is informative).
	SendEmailCalls float64
	// LedgerWritesPerRecipient is DynamoDB writes per recipient record
	// (claim + record, plus the claims of retries). The fleet run sends
	// email only; a push in the same record adds no write, as the record
	// stays under 1 KB.
	LedgerWritesPerRecipient float64
	// UserReadUnits per notice: one profile item per user read by
	// BatchGetItem, eventually consistent (0.5 RRU per item up to 4 KB).
	UserReadUnits float64
	// BatchWriteUnits and BatchReadUnits per notice are the per-batch
	// bookkeeping (see batchWrites, batchReads), spread over its members.
	BatchWriteUnits, BatchReadUnits float64
	// SQSRequests per notice: the planner's send of each message, the
	// event source's receive and delete (one each per invocation of up to
	// 10 messages) and a ChangeMessageVisibility per retried message.
	SQSRequests float64
	// LambdaSeconds is invocation time per notice; MemoryGB the worker's
	// memory; Invocations per notice.
	LambdaSeconds, MemoryGB, Invocations float64
}

// Per batch, besides the ledger: the incident's gate (its state, a
// consistent GetItem, and its paused channels, a Query) and the audit head
// read; the progress counter (UpdateItem) and the audit entry with its
// head (a two-item transaction, 2 units per item).
const (
	batchReads  = 3
	batchWrites = 1 + 2*2
)

// Inputs derives the per-notice quantities from a fleet run of the email
// channel.
func Inputs(r FleetResult, memoryGB float64) CostInputs {
	n := float64(r.Acct.Recipients)
	if n == 0 {
		return CostInputs{}
	}
	sqs := float64(r.Batches) + 2*float64(r.Invocations) + float64(r.Retried)
	return CostInputs{
		SendEmailCalls:           float64(r.Stats.Requests) / n,
		LedgerWritesPerRecipient: float64(r.Ledger.Writes()) / n,
		BatchWriteUnits:          batchWrites * float64(r.Batches) / n,
		BatchReadUnits:           batchReads * float64(r.Batches) / n,
		UserReadUnits:            0.5,
		SQSRequests:              sqs / n,
		LambdaSeconds:            r.InvocationTime.Seconds() / n,
		MemoryGB:                 memoryGB,
		Invocations:              float64(r.Invocations) / n,
	}
}

// CostLine is one item of the cost per million notices.
type CostLine struct {
	Item string
	// Quantity is per million notices, in Unit.
	Quantity float64
	Unit     string
	Price    string
	Dollars  float64
}

// Cost is the cost per million notices.
type Cost struct {
	SES    CostLine
	Others []CostLine
}

// NonSES is the total of everything but SES.
func (c Cost) NonSES() float64 {
	var t float64
	for _, l := range c.Others {
		t += l.Dollars
	}
	return t
}

// PerMillion prices a million notices.
func PerMillion(in CostInputs, p Prices) Cost {
	const m = 1e6
	writes := in.LedgerWritesPerRecipient * m
	gbs := in.LambdaSeconds * in.MemoryGB * m
	return Cost{
		SES: CostLine{"SES emails (accepted messages; throttled calls are not billed)", m, "emails",
			fmt.Sprintf("$%.2f / 1,000", p.SESPerThousand), m / 1000 * p.SESPerThousand},
		Others: []CostLine{
			{"SNS publishes (one per push)", m, "requests", fmt.Sprintf("$%.2f / M", p.SNSPublishPerM), p.SNSPublishPerM},
			{"SNS mobile push deliveries", m, "deliveries", fmt.Sprintf("$%.2f / M", p.SNSMobilePerM), p.SNSMobilePerM},
			{"DynamoDB ledger writes (claim + record)", writes, "WRU", fmt.Sprintf("$%.3f / M", p.DynamoWritePerM), writes / m * p.DynamoWritePerM},
			{"DynamoDB per batch: gate and audit-head reads", in.BatchReadUnits * m, "RRU", fmt.Sprintf("$%.3f / M", p.DynamoReadPerM), in.BatchReadUnits * p.DynamoReadPerM},
			{"DynamoDB per batch: progress counter, audit entry", in.BatchWriteUnits * m, "WRU", fmt.Sprintf("$%.3f / M", p.DynamoWritePerM), in.BatchWriteUnits * p.DynamoWritePerM},
			{"DynamoDB user reads (BatchGetItem)", in.UserReadUnits * m, "RRU", fmt.Sprintf("$%.3f / M", p.DynamoReadPerM), in.UserReadUnits * p.DynamoReadPerM},
			{"SQS requests (recipients queue)", in.SQSRequests * m, "requests", fmt.Sprintf("$%.2f / M", p.SQSPerM), in.SQSRequests * p.SQSPerM},
			{"Lambda duration (worker)", gbs, "GB-s", fmt.Sprintf("$%.10f / GB-s", p.LambdaGBSecond), gbs * p.LambdaGBSecond},
			{"Lambda invocations (worker)", in.Invocations * m, "invocations", fmt.Sprintf("$%.2f / M", p.LambdaInvocationPerM), in.Invocations * p.LambdaInvocationPerM},
		},
	}
}
