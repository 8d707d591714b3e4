// Command localstack runs breachnotify's local stack: up, down, invoke,
// trigger, outbox, env. See the README.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"breachnotify/infra/local"
	"breachnotify/shared/ledger"
	"breachnotify/shared/publicpage"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("localstack", flag.ContinueOnError)
	o := local.Options{}
	fs.StringVar(&o.Dir, "dir", ".local/stack", "state, logs and locks of the running stack")
	fs.StringVar(&o.Template, "template", "template.yaml", "the SAM template")
	fs.StringVar(&o.BinDir, "bin", ".local/bin", "bootstraps as <bin>/<LogicalId>/bootstrap")
	fs.StringVar(&o.RIE, "rie", ".local/tools/aws-lambda-rie", "the Lambda Runtime Interface Emulator")
	fs.StringVar(&o.SESServer, "ses", "infra/node_modules/aws-ses-v2-local/dist/cli.js", "aws-ses-v2-local's command")
	fs.StringVar(&o.Python, "python", "python3", "the Python that has moto")
	fs.BoolVar(&o.PushRefusals, "push-refusals", true, "up: a device token starting with \""+local.RefusedTokenPrefix+"\" is refused by the local push service")
	drain := fs.Duration("drain", 2*time.Minute, "trigger: how long to wait for the fan-out to drain")
	wait := fs.Duration("wait", 15*time.Second, "reach: how long to wait for SES's reports on the emails still pending")
	params := fs.String("params", "", `up: template parameter overrides, as sam deploy --parameter-overrides takes them: "AutoSendLimit=2 DeadlineWatchSchedule='rate(1 minute)'"`)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: localstack [flags] up | down | invoke FUNCTION EVENT | trigger EVENT | outbox | env | reach INCIDENT | status | page INCIDENT")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	args := fs.Args()
	if len(args) == 0 {
		fs.Usage()
		return errors.New("no command")
	}
	var err error
	if o.Params, err = parseParams(*params); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd := args[0]; {
	case cmd == "up":
		return up(ctx, o)
	case cmd == "down":
		return local.Down(o.Dir)
	case cmd == "mapper":
		s, err := local.Load(o.Dir)
		if err != nil {
			return err
		}
		return s.RunMapper(ctx, slog.New(slog.NewJSONHandler(os.Stdout, nil)))
	case cmd == "invoke" && len(args) == 3:
		return invoke(ctx, o.Dir, args[1], args[2])
	case cmd == "trigger" && len(args) == 2:
		return trigger(ctx, o.Dir, args[1], *drain)
	case cmd == "outbox":
		return outbox(ctx, o.Dir)
	case cmd == "reach" && len(args) == 2:
		return reach(ctx, os.Stdout, o.Dir, args[1], *wait)
	case cmd == "env":
		s, err := local.Load(o.Dir)
		if err != nil {
			return err
		}
		env := s.Env()
		env["USERS_TABLE"] = s.Names["UsersTable"]
		env["ANDROID_PLATFORM_APPLICATION_ARN"] = s.Platforms["android"]
		env["IOS_PLATFORM_APPLICATION_ARN"] = s.Platforms["ios"]
		for _, k := range slices.Sorted(maps.Keys(env)) {
			fmt.Printf("export %s=%q\n", k, env[k])
		}
		return nil
	case cmd == "status":
		s, err := local.Load(o.Dir)
		if err != nil {
			return err
		}
		printStack(s)
		return nil
	case cmd == "page" && len(args) == 2:
		return page(ctx, o.Dir, args[1])
	}
	fs.Usage()
	return fmt.Errorf("unknown command %q", strings.Join(args, " "))
}

func up(ctx context.Context, o local.Options) error {
	if s, err := local.Load(o.Dir); err == nil && s.Alive() {
		if len(o.Params) > 0 {
			return errors.New("-params: the local stack is already running with its parameters; stop it first (make down)")
		}
		fmt.Printf("local stack already running (SES mail at %s; 'localstack status' for more)\n", s.SESURL)
		return nil
	}
	s, err := local.Up(ctx, o)
	if err != nil {
		return err
	}
	if _, ok := s.PIDs["mapper"]; !ok {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		dir, err := filepath.Abs(o.Dir)
		if err != nil {
			return err
		}
		if err := s.StartProcess("mapper", exe, "-dir", dir, "mapper"); err != nil {
			return err
		}
	}
	printStack(s)
	return nil
}

// page prints where an incident's public notice page is: its address
// (PublicNoticeUrl, as notices name it) and, per locale, a link that reads
// it from the private local bucket.
func page(ctx context.Context, dir, incidentID string) error {
	s, err := local.Load(dir)
	if err != nil {
		return err
	}
	fmt.Printf("public notice page of %s, as notices name it: %s; read it locally at:\n", incidentID, s.PublicPage(incidentID, "en"))
	for _, loc := range publicpage.Locales {
		link, err := s.PublicPageLink(ctx, incidentID, loc)
		if err != nil {
			return err
		}
		fmt.Printf("  %s  %s\n", loc, link)
	}
	return nil
}

// parseParams reads Name=Value pairs separated by spaces; a value may be
// quoted ('...' or "...") to hold spaces.
func parseParams(s string) (map[string]string, error) {
	params := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		name, rest, ok := strings.Cut(s, "=")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("-params: want Name=Value, got %q", s)
		}
		var value string
		if q := rest[:min(1, len(rest))]; q == "'" || q == `"` {
			end := strings.Index(rest[1:], q)
			if end < 0 {
				return nil, fmt.Errorf("-params: unclosed quote in %s", name)
			}
			value, s = rest[1:1+end], rest[2+end:]
		} else {
			value, s, _ = strings.Cut(rest, " ")
		}
		params[name] = value
	}
	return params, nil
}

func printStack(s *local.State) {
	state := "running"
	if !s.Alive() {
		state = "NOT running (some processes died; see logs, then make down && make up)"
	}
	fmt.Printf("local stack %s (state in %s, logs in %s/logs)\n", state, s.Dir, s.Dir)
	fmt.Printf("  moto (DynamoDB, SQS, SNS, EventBridge): %s\n", s.MotoURL)
	fmt.Printf("  SES v2 (aws-ses-v2-local):               %s  <- sent mail in a browser\n", s.SESURL)
	fmt.Printf("  SES v2 endpoint of the functions:        %s  (identities, configuration sets; the rest to aws-ses-v2-local)\n", s.SESEndpoint)
	for _, id := range slices.Sorted(maps.Keys(s.Functions)) {
		fmt.Printf("  %-40s %s\n", id+" (emulator):", s.Functions[id].URL)
	}
}

func invoke(ctx context.Context, dir, function, eventFile string) error {
	s, err := local.Load(dir)
	if err != nil {
		return err
	}
	payload, err := os.ReadFile(eventFile)
	if err != nil {
		return err
	}
	body, err := s.Invoke(ctx, function, payload)
	fmt.Println(string(body))
	return err
}

func trigger(ctx context.Context, dir, eventFile string, drain time.Duration) error {
	s, err := local.Load(dir)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(eventFile)
	if err != nil {
		return err
	}
	var ev struct {
		Detail struct {
			IncidentID string `json:"incidentId"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return fmt.Errorf("read %s: %w", eventFile, err)
	}
	if err := s.PutEvent(ctx, raw); err != nil {
		return err
	}
	fmt.Printf("event from %s put on bus %q; waiting for the fan-out to drain...\n", eventFile, s.EventBus)
	if err := s.Drain(ctx, drain); err != nil {
		return err
	}
	return report(ctx, os.Stdout, s, ev.Detail.IncidentID)
}

func report(ctx context.Context, w io.Writer, s *local.State, id string) error {
	rec, found, err := s.Incident(ctx, id)
	if err != nil {
		return err
	}
	receipts, err := s.Receipts(ctx, id)
	if err != nil {
		return err
	}
	if !found {
		fmt.Fprintf(w, "\nincident %s: not recorded\n", id)
		for _, r := range receipts {
			fmt.Fprintf(w, "  event %s: %s %s\n", r.EventID, r.Outcome, r.Reason)
		}
		return nil
	}
	fmt.Fprintf(w, "\nincident %s: %s, %d event(s) received", id, rec.State, len(receipts))
	if len(receipts) > 0 {
		last := receipts[len(receipts)-1]
		fmt.Fprintf(w, ", last one %s", last.Outcome)
		if last.Reason != "" {
			fmt.Fprintf(w, " (%s)", last.Reason)
		}
	}
	fmt.Fprintln(w)
	if rec.Audience == nil {
		fmt.Fprintf(w, "  planning: %d of %d tasks done\n", rec.TasksDone, rec.Tasks)
	} else {
		fmt.Fprintf(w, "  audience frozen: %d members, hash %s\n", rec.Audience.Members, rec.Audience.Hash)
		for _, p := range rec.Audience.Notices {
			fmt.Fprintf(w, "  %-22s %d users planned, %d cohort devices (%d with unparseable versions, treated as affected), %d unknown user ids %v, %d queue messages\n",
				p.NoticeID, p.Members, p.CohortDevices, p.UnparsedVersions, len(p.UnknownUserIDs), p.UnknownUserIDs, p.Messages)
		}
	}
	entries, err := s.Deliveries(ctx, id)
	if err != nil {
		return err
	}
	slices.SortFunc(entries, func(a, b ledger.Entry) int {
		return strings.Compare(a.UserID+a.NoticeID+string(a.Channel)+a.DeviceID, b.UserID+b.NoticeID+string(b.Channel)+b.DeviceID)
	})
	if len(entries) == 0 {
		fmt.Fprintf(w, "\nnobody was notified (the ledger has no deliveries for %s)\n", id)
		return nil
	}
	fmt.Fprintf(w, "\nwho was notified (%d deliveries in the ledger):\n", len(entries))
	fmt.Fprintf(w, "  %-10s %-8s %-6s %-18s %-8s %-8s %s\n", "USER", "CHANNEL", "DEVICE", "TEMPLATE", "LOCALE", "STATUS", "REASON")
	for _, e := range entries {
		fmt.Fprintf(w, "  %-10s %-8s %-6s %-18s %-8s %-8s %s\n", e.UserID, e.Channel, e.DeviceID, e.Template, e.Locale, e.Status, e.Reason)
	}
	sum := ledger.Summarize(entries)
	fmt.Fprintln(w, "\ntotals:")
	for _, n := range slices.Sorted(maps.Keys(sum)) {
		for _, ch := range slices.Sorted(maps.Keys(sum[n])) {
			var parts []string
			for _, st := range slices.Sorted(maps.Keys(sum[n][ch])) {
				parts = append(parts, fmt.Sprintf("%s=%d", st, sum[n][ch][st]))
			}
			fmt.Fprintf(w, "  %-22s %-6s %s\n", n, ch, strings.Join(parts, " "))
		}
	}
	return nil
}

// reach prints who an incident reached, per notice, and the unreachable
// users with why, from the ledger (ledger.ReachOf). SES reports after it
// accepts, so it waits up to wait while recipients are still pending.
func reach(ctx context.Context, w io.Writer, dir, id string, wait time.Duration) error {
	s, err := local.Load(dir)
	if err != nil {
		return err
	}
	var records []ledger.Record
	for until := time.Now().Add(wait); ; time.Sleep(500 * time.Millisecond) {
		if records, err = s.Records(ctx, id); err != nil {
			return err
		}
		pending := slices.ContainsFunc(records, func(r ledger.Record) bool {
			st, _ := ledger.ReachOf(r.Deliveries)
			return st == ledger.ReachPending
		})
		if !pending || time.Now().After(until) {
			break
		}
	}
	counts := map[string]map[ledger.Reach]int{}
	var unreachable []string
	for _, r := range records {
		st, why := ledger.ReachOf(r.Deliveries)
		if counts[r.NoticeID] == nil {
			counts[r.NoticeID] = map[ledger.Reach]int{}
		}
		counts[r.NoticeID][st]++
		if st == ledger.Unreachable {
			unreachable = append(unreachable, fmt.Sprintf("  %-22s %-16s %s", r.NoticeID, r.UserID, why))
		}
	}
	fmt.Fprintf(w, "reach of %s:\n", id)
	for _, n := range slices.Sorted(maps.Keys(counts)) {
		c := counts[n]
		fmt.Fprintf(w, "  %-22s reached=%d pending=%d unreachable=%d\n", n, c[ledger.Reached], c[ledger.ReachPending], c[ledger.Unreachable])
	}
	if len(unreachable) > 0 {
		fmt.Fprintln(w, "unreachable users:")
		for _, u := range unreachable {
			fmt.Fprintln(w, u)
		}
	}
	return nil
}

func outbox(ctx context.Context, dir string) error {
	s, err := local.Load(dir)
	if err != nil {
		return err
	}
	sent, err := s.Outbox(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	for _, m := range sent {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	return nil
}
