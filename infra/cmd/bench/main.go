// Command bench is `make bench`: it runs the real worker code as a fleet
// against the in-process fault server (SES v2 wire protocol, a rate limit,
// latency and injected faults) and prints a Markdown table of the quota
// efficiency, the worker's own CPU per recipient and the cost per million
// notices, each figure with the command that produced it.
//
//	go run ./infra/cmd/bench -out bench.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"time"

	"breachnotify/infra/bench"
	"breachnotify/infra/faultserver"
	"breachnotify/shared/dispatch"
)

type options struct {
	out                    string
	recipients, faultRcpts int
	workers                int
	rate                   float64
	latency                time.Duration
	baseline               int
	throttle, serverErrors float64
	seed                   int64
	idlePerHost            int
	memoryGB               float64
	cpuRounds              int
	defaultRcpts           int
	timeout                time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "", "also write the report to this file")
	flag.IntVar(&o.recipients, "recipients", 100000, "recipients of the paced fleet run without faults")
	flag.IntVar(&o.faultRcpts, "fault-recipients", 20000, "recipients of the paced fleet run with faults on")
	flag.IntVar(&o.defaultRcpts, "sdk-default-recipients", 20000, "recipients of a paced run with the SDK's default HTTP transport (0 skips it)")
	flag.IntVar(&o.workers, "workers", 10, "worker environments (the template's WorkerMaxConcurrency)")
	flag.Float64Var(&o.rate, "rate", 1000, "the SES account's max send rate R, per second")
	flag.DurationVar(&o.latency, "latency", 30*time.Millisecond, "the server's latency per request")
	flag.IntVar(&o.baseline, "baseline", 1000, "recipients of the naive sequential baseline")
	flag.Float64Var(&o.throttle, "throttle", 20, "faults-on run: percent of sends answered with an injected 429")
	flag.Float64Var(&o.serverErrors, "server-errors", 5, "faults-on run: percent of sends answered with an injected 500")
	flag.Int64Var(&o.seed, "seed", 1, "faults-on run: seed of the injected faults")
	flag.IntVar(&o.idlePerHost, "idle-per-host", 0, "the HTTP transport's idle connections per host; 0: workers × parallelism + 16")
	flag.Float64Var(&o.memoryGB, "memory-gb", 0.25, "the worker function's memory in GB (the template's MemorySize 256)")
	flag.IntVar(&o.cpuRounds, "cpu-rounds", 3, "measurements of each CPU variant; the median is reported")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up (exit 1) after this long")
	flag.Parse()
	if flag.NArg() > 0 || o.recipients < 1 || o.faultRcpts < 0 || o.baseline < 0 || o.workers < 1 || o.rate <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	report, err := run(ctx, o, command())
	if report != "" {
		fmt.Print(report)
		if o.out != "" {
			if werr := os.WriteFile(o.out, []byte(report), 0o644); werr != nil {
				err = errors.Join(err, werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// command is how this run was started, as a command to paste.
func command() string {
	parts := []string{"go run ./infra/cmd/bench"}
	safe := regexp.MustCompile(`^[A-Za-z0-9_./:=,@+-]+$`)
	for _, a := range os.Args[1:] {
		if !safe.MatchString(a) {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(ctx context.Context, o options, cmd string) (string, error) {
	share := dispatch.Share(o.rate, o.workers)
	parallel := dispatch.Parallelism(share, 100*time.Millisecond)
	idle := o.idlePerHost
	if idle == 0 {
		idle = o.workers*parallel + 16
	}
	srv, err := faultserver.Start(faultserver.Config{EmailRate: o.rate, Latency: o.latency})
	if err != nil {
		return "", err
	}
	defer srv.Close()
	ses, dials := bench.SESClient(srv.URL(), idle)

	var base bench.BaselineResult
	if o.baseline > 0 {
		progress("naive baseline: %d recipients, one SendEmail after another", o.baseline)
		if base, err = bench.Baseline(ctx, srv, ses, bench.SyntheticUsers(o.baseline)); err != nil {
			return "", fmt.Errorf("baseline: %w", err)
		}
	}
	fleet := bench.Fleet{Server: srv, SES: ses, Dials: dials, Rate: o.rate, Workers: o.workers}

	progress("paced fleet, faults off: %d recipients, %d workers at %.1f/s each", o.recipients, o.workers, share)
	clean := fleet
	clean.Users, clean.IncidentID = bench.SyntheticUsers(o.recipients), "INC-BENCH-1"
	cr := clean.Run(ctx)
	if cr.Err != nil {
		return "", cr.Err
	}

	var dr bench.FleetResult
	if o.defaultRcpts > 0 {
		progress("paced fleet, faults off, SDK's default transport (%d idle connections per host): %d recipients", bench.SDKDefaultIdlePerHost, o.defaultRcpts)
		d := fleet
		d.SES, d.Dials = bench.SESClient(srv.URL(), bench.SDKDefaultIdlePerHost)
		d.Users, d.IncidentID = bench.SyntheticUsers(o.defaultRcpts), "INC-BENCH-3"
		dr = d.Run(ctx)
		if dr.Err != nil {
			return "", dr.Err
		}
	}

	var fr bench.FleetResult
	if o.faultRcpts > 0 {
		progress("paced fleet, faults on (%.0f%% 429, %.0f%% 500, seed %d): %d recipients", o.throttle, o.serverErrors, o.seed, o.faultRcpts)
		srv.SetConfig(faultserver.Config{EmailRate: o.rate, Latency: o.latency,
			EmailThrottlePercent: o.throttle, EmailServerErrorPercent: o.serverErrors, Seed: o.seed})
		faulty := fleet
		faulty.Users, faulty.IncidentID = bench.SyntheticUsers(o.faultRcpts), "INC-BENCH-2"
		fr = faulty.Run(ctx)
		if fr.Err != nil {
			return "", fr.Err
		}
	}

	loadBefore := loadAverage()
	cpu, err := bench.CPURounds([]bench.Variant{bench.NoopProviders, bench.RealAdapters, bench.RealAdaptersAndDynamo}, o.cpuRounds,
		func(v bench.Variant, round int) {
			progress("CPU per recipient, round %d/%d: %v", round+1, o.cpuRounds, v)
		})
	if err != nil {
		return "", fmt.Errorf("cpu: %w", err)
	}
	loadAfter := loadAverage()

	rows := quotaRows(o, cmd, "1. quota, faults off", cr)
	if o.baseline > 0 {
		rows = append(rows,
			row("1. quota, naive baseline", "naive peer: sequential SendEmail (same client, server, latency; no pacing, no ledger)",
				fmt.Sprintf("%s recipients: %.1f msg/s; %s accepted, %d errors; %.1f s", bench.Thousands(int64(base.Recipients)), base.Rate,
					bench.Thousands(int64(base.Accepted)), base.Errors, base.Last.Sub(base.First).Seconds()), "", cmd),
			row("1. quota, naive baseline", "paced fleet rate / naive rate", fmt.Sprintf("%.1f×", cr.Rate/base.Rate), "", cmd),
		)
	}
	if o.defaultRcpts > 0 {
		sec := fmt.Sprintf("1. quota, faults off, SDK default transport (%d idle conns per host)", bench.SDKDefaultIdlePerHost)
		rows = append(rows,
			row(sec, "same fleet, client with the SDK's default HTTP transport", fmt.Sprintf("%s recipients; %s connections dialled (vs %s with %d idle per host above)",
				bench.Thousands(int64(dr.Acct.Recipients)), bench.Thousands(dr.Dials), bench.Thousands(cr.Dials), idle), "", cmd),
			row(sec, "achieved / R", fmt.Sprintf("%.3f (%.1f msg/s); duplicates %d, lost %d", dr.Rate/o.rate, dr.Rate, dr.Acct.Duplicates, dr.Acct.Lost), bench.Met("≥ 0.95", dr.Rate/o.rate >= 0.95), cmd),
		)
	}
	if o.faultRcpts > 0 {
		rows = append(rows, quotaRows(o, cmd, fmt.Sprintf("1. quota, faults on (%.0f%% 429 + %.0f%% 500, seed %d)", o.throttle, o.serverErrors, o.seed), fr)...)
	}
	for _, c := range cpu {
		r := c.Best
		sec := "2. own CPU per recipient (email + push), batches of 50, Parallel 1"
		rows = append(rows,
			row(sec, "ns per recipient (testing.Benchmark ns/op ÷ 50, best of "+fmt.Sprint(c.Runs)+") — "+r.Variant.String(),
				fmt.Sprintf("%.1f µs (median %.1f, worst %.1f µs; %s batches in the best run)",
					r.NsPerRecipient/1000, c.MedianNs/1000, c.MaxNs/1000, bench.Thousands(int64(r.Batches))),
				cpuTarget(r, r.NsPerRecipient < 20000, "< 20 µs"), cmd),
			row(sec, "process CPU time per recipient (getrusage user + sys, median) — "+r.Variant.String(),
				fmt.Sprintf("%.1f µs", c.MedianCPUNs/1000), "", cmd),
			row(sec, "allocs per recipient — "+r.Variant.String(), fmt.Sprintf("%.1f allocs, %.0f B", r.AllocsPerRecipient, r.BytesPerRecipient),
				cpuTarget(r, r.AllocsPerRecipient < 60, "< 60"), cmd),
		)
	}
	rows = append(rows, row("2. own CPU per recipient (email + push), batches of 50, Parallel 1",
		"machine load around the CPU runs (1-minute load average, 2 cores shared with other processes)",
		fmt.Sprintf("%s before, %s after", loadBefore, loadAfter), "", cmd))
	rows = append(rows, costRows(o, cmd, cr, fr)...)

	var b strings.Builder
	fmt.Fprintf(&b, "# breachnotify benchmark\n\n")
	fmt.Fprintf(&b, "Measured %s on a shared machine: absolute figures vary from run to run, the ratios within one run less so.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	b.WriteString(bench.Table(rows))
	b.WriteString(notes(o, share, parallel, idle, cr, fr))
	return b.String(), nil
}

func cpuTarget(r bench.CPUResult, ok bool, target string) string {
	if r.Variant != bench.NoopProviders {
		return target + " (for reference: " + map[bool]string{true: "within", false: "over"}[ok] + ")"
	}
	return bench.Met(target, ok)
}

func quotaRows(o options, cmd, sec string, r bench.FleetResult) []bench.Row {
	n := float64(r.Acct.Recipients)
	injected := int64(0)
	var codes []string
	for _, code := range slices.Sorted(maps.Keys(r.Stats.Injected)) {
		c := r.Stats.Injected[code]
		injected += c
		codes = append(codes, fmt.Sprintf("%s %s", code, bench.Thousands(c)))
	}
	achieved := r.Rate / o.rate
	rows := []bench.Row{
		row(sec, "paced fleet (real dispatch.Worker + email.Sender + sesv2.Client → faultserver), email only",
			fmt.Sprintf("%s recipients in %s batches of 50; %d workers × %.1f/s (rate.NewLimiter burst 1), Parallel %d; R = %.0f/s, latency %v",
				bench.Thousands(int64(r.Acct.Recipients)), bench.Thousands(int64(r.Batches)), r.Workers, r.Share, r.Parallel, o.rate, o.latency), "", cmd),
		row(sec, "achieved send rate (accepted / first→last accepted)", fmt.Sprintf("%.1f msg/s", r.Rate), "", cmd),
		row(sec, "achieved / R", fmt.Sprintf("%.3f", achieved), bench.Met("≥ 0.95", achieved >= 0.95), cmd),
		row(sec, "throttled calls (server's rate limit, 429)", bench.Thousands(r.Stats.Throttled), "0", cmd),
		row(sec, "injected faults (server)", fmt.Sprintf("%s %s", bench.Thousands(injected), strings.Join(codes, ", ")), "", cmd),
		row(sec, "SendEmail calls incl. SDK retries", fmt.Sprintf("%s (%.3f per recipient)", bench.Thousands(r.Stats.Requests), float64(r.Stats.Requests)/n), "", cmd),
		row(sec, "duplicates (recipients accepted more than once)", bench.Thousands(int64(r.Acct.Duplicates)), bench.Met("0", r.Acct.Duplicates == 0), cmd),
		row(sec, "lost (neither accepted nor recorded failed)", bench.Thousands(int64(r.Acct.Lost)), bench.Met("0", r.Acct.Lost == 0), cmd),
		row(sec, "delivered / permanent failures / accepted but unrecorded", fmt.Sprintf("%s / %d / %d", bench.Thousands(int64(r.Acct.Delivered)), r.Acct.Failed, r.Acct.Unrecorded), "", cmd),
		row(sec, "queue: receives / batches retried / dead-lettered / invocations",
			fmt.Sprintf("%s / %s / %d / %s", bench.Thousands(int64(r.Receives)), bench.Thousands(int64(r.Retried)), r.DeadLettered, bench.Thousands(int64(r.Invocations))), "", cmd),
		row(sec, "ledger writes (claims + records)",
			fmt.Sprintf("%s (%.3f per recipient; claims refused %s)", bench.Thousands(r.Ledger.Writes()), float64(r.Ledger.Writes())/n, bench.Thousands(r.Ledger.Claims-r.Ledger.ClaimsWon)), "", cmd),
		row(sec, "wall time", fmt.Sprintf("%.1f s first→last accepted; %.1f s fleet start→last batch done", r.Last.Sub(r.First).Seconds(), r.Wall.Seconds()), "", cmd),
		row(sec, "time per batch (invocation time / receives)", fmt.Sprintf("%.0f ms (pacing alone: %.0f ms)",
			float64(r.InvocationTime.Milliseconds())/float64(max(r.Receives, 1)), 50/r.Share*1000), "", cmd),
		row(sec, "connections dialled by the SES client", bench.Thousands(r.Dials), "", cmd),
	}
	return rows
}

func costRows(o options, cmd string, clean, faulty bench.FleetResult) []bench.Row {
	sec := "3. cost per million notices (email + push)"
	in := bench.Inputs(clean, o.memoryGB)
	c := bench.PerMillion(in, bench.ListPrices)
	rows := []bench.Row{row(sec, "SES — "+c.SES.Item, fmt.Sprintf("$%.2f (%s × %s)", c.SES.Dollars, bench.Thousands(int64(c.SES.Quantity)), c.SES.Price), "separate", cmd)}
	for _, l := range c.Others {
		rows = append(rows, row(sec, l.Item, fmt.Sprintf("$%.4f (%s %s × %s)", l.Dollars, fmtQty(l.Quantity), l.Unit, l.Price), "", cmd))
	}
	rows = append(rows, row(sec, "non-SES total (faults-off run's counts)", fmt.Sprintf("$%.2f", c.NonSES()), bench.Met("< $3", c.NonSES() < 3), cmd))
	if faulty.Acct.Recipients > 0 {
		fc := bench.PerMillion(bench.Inputs(faulty, o.memoryGB), bench.ListPrices)
		rows = append(rows, row(sec, "non-SES total (faults-on run's counts: retries' claims and records, visibility changes, longer invocations)",
			fmt.Sprintf("$%.2f", fc.NonSES()), bench.Met("< $3", fc.NonSES() < 3), cmd))
	}
	rows = append(rows, row(sec, "measured inputs (faults-off run)",
		fmt.Sprintf("SendEmail calls/recipient %.3f; ledger writes/recipient %.3f; SQS requests/notice %.4f; Lambda %.1f ms per notice; invocations/notice %.5f",
			in.SendEmailCalls, in.LedgerWritesPerRecipient, in.SQSRequests, in.LambdaSeconds*1000, in.Invocations), "", cmd))
	return rows
}

func fmtQty(q float64) string {
	if q == float64(int64(q)) {
		return bench.Thousands(int64(q))
	}
	return fmt.Sprintf("%.1f", q)
}

func notes(o options, share float64, parallel, idle int, clean, faulty bench.FleetResult) string {
	var b strings.Builder
	b.WriteString("\nHow it was measured, and the cost assumptions:\n\n")
	fmt.Fprintf(&b, "- Fleet: %d worker environments in one process, each its own `dispatch.Worker` wired as `functions/worker/main.go` wires it: "+
		"`EmailLimiter: rate.NewLimiter(rate.Limit(dispatch.Share(R, W)), 1)` (%.1f/s), `Parallel: dispatch.Parallelism(share, 100ms)` (%d; "+
		"production sizes it for email + push shares together) and `SendAttempts: 4` (retryable sends retried in-process, paced, after a 25-75 ms backoff). "+
		"Real `email.Sender` over one real `sesv2.Client` (one attempt per call, as the worker configures it; standard retryer with "+
		"`RateLimiter: ratelimit.None`, as `shared/aws/awsconfig`), whose HTTP transport keeps %d idle connections per host (the SDK's default is 10). "+
		"Users and the ledger are in memory; the ledger honours `dispatch.Ledger`'s conditional claim, lease, Finish and Release.\n", o.workers, share, parallel, idle)
	b.WriteString("- Queue: batches of 50 members on a channel; an invocation takes up to 10 messages (the event source's BatchSize) and processes them together, sharing the worker's send slots, " +
		"as `queue.Handler` does; a message whose `Process` fails is put back after 0.5 s × 2^(receives−1) ±20% (production: RetryBaseSeconds, 30 s) and dead-lettered after 5 receives.\n")
	fmt.Fprintf(&b, "- Server: `faultserver` (SES v2 restJson1) with EmailRate %.0f/s (token bucket, burst %.0f) and %v latency per request. "+
		"Rates use the server's acceptance timestamps. Duplicates and lost are counted per recipient from the server's accepted list and the ledger.\n", o.rate, o.rate, o.latency)
	if faulty.Acct.Recipients > 0 && faulty.Acct.Recipients != clean.Acct.Recipients {
		fmt.Fprintf(&b, "- The faults-on run sends to %s recipients (`-fault-recipients`), not %s: with faults its rate is far below R, and the full count would not fit the run's time budget. Its rate is a ratio all the same.\n",
			bench.Thousands(int64(faulty.Acct.Recipients)), bench.Thousands(int64(clean.Acct.Recipients)))
	}
	fmt.Fprintf(&b, "- An invocation takes up to 10 messages, so a run with fewer than workers × 10 batches (%s recipients here) keeps fewer than %d workers busy and cannot reach R; "+
		"the same holds for a small incident in production, and for the last round of a large one.\n", bench.Thousands(int64(o.workers*10*50)), o.workers)
	b.WriteString("- CPU: `testing.Benchmark` over `dispatch.Worker.Process`, one batch of 50 members per op, each member one email and one Android push, " +
		"template update-app in es (rendered from the cache after the first batch), a new notice id per op so every delivery is new; the clock is `time.Now`. " +
		"The machine is shared: ns per recipient is wall time and grows when other processes hold the cores, so the best of the rounds is reported (noise only adds time) " +
		"with the median and worst beside it; process CPU time (getrusage) does not grow that way but includes the garbage collector's background work.\n")
	p := bench.ListPrices
	fmt.Fprintf(&b, "- Prices (us-east-1, on-demand list prices from ../shared/AWS-FACTS.md): SES $%.2f per 1,000 emails; SNS $%.2f per million publishes + $%.2f per million mobile deliveries; "+
		"DynamoDB $%.3f per million write units, $%.3f per million read units; SQS $%.2f per million requests; Lambda arm64 $%.10f per GB-s and $%.2f per million invocations. Free tiers ignored.\n",
		p.SESPerThousand, p.SNSPublishPerM, p.SNSMobilePerM, p.DynamoWritePerM, p.DynamoReadPerM, p.SQSPerM, p.LambdaGBSecond, p.LambdaInvocationPerM)
	b.WriteString("- One notice = one recipient's email + one push to one device. SES bills accepted messages (throttled calls are free), 1 per notice. " +
		"SNS: one publish and one mobile delivery per push. Ledger: the measured writes per recipient record (claim + record = 2, more with retries: a refused claim, an open record claimed again); " +
		"the push outcome is recorded in the same write as the email's, and the record stays under 1 KB, so 1 write unit per write (a conditional write whose condition fails is billed too). " +
		"Per batch of 50: the gate and audit-head reads (3 units) and the progress counter and audit entry (5 write units: a two-item transaction costs 2 per item). " +
		"Users: one BatchGetItem per batch of 50 reads each user's profile item once for both channels; the adapter does not ask for consistent reads, so 0.5 read unit per item up to 4 KB " +
		"(1 unit, +$0.06 per million, if it did). SQS: one send per message (the planner's SendMessageBatch would make it 0.1) + one receive and one delete per invocation of up to 10 messages + " +
		"one ChangeMessageVisibility per retried message; pollers' empty receives and the planning queue are left out. Lambda: the measured invocation time per notice × 0.25 GB " +
		"(email only here; the push deliveries run inside the same batches at a 5× higher pace, so they add little wall time) and the measured invocations per notice. " +
		"Planning (Queries, checkpoints), intake and logs are not counted.\n")
	return b.String()
}

func row(section, figure, value, target, cmd string) bench.Row {
	return bench.Row{Section: section, Figure: figure, Value: value, Target: target, Command: cmd}
}

// loadAverage is the 1-minute load average, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}
