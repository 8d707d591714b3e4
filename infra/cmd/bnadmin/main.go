// Command bnadmin runs admin operations on an incident through the
// AdminFunction: on AWS through its Function URL, signed with the usual AWS
// credentials, or on the local stack.
//
//	bnadmin -incident INC-1 status -watch
//	bnadmin -incident INC-1 -users u-1,u-2 -template update-app -fixed-version 8.9.0 send
//	bnadmin -local .local/stack -incident INC-1 cancel -reason "false positive"
//	bnadmin -local .local/stack -as alice -incident INC-1 confirm
//	bnadmin -incident INC-1 authority-notified -at 2026-11-30T09:00:00Z
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"breachnotify/infra/admincli"
	"breachnotify/infra/local"
	"breachnotify/shared/admin"
	"breachnotify/shared/incident"
)

// barWidth keeps the whole progress line within 120 columns.
const barWidth = 30

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bnadmin:", err)
		os.Exit(1)
	}
}

type options struct {
	url, local, actor string
	as                string
	direct            bool
	req               admin.Request
	channel, users    string
	at                string
	json, watch       bool
	every             time.Duration
}

func run(ctx context.Context, args []string, stdout *os.File) error {
	fs := flag.NewFlagSet("bnadmin", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.url, "url", os.Getenv("BNADMIN_URL"), "the AdminFunction's Function URL, https://<id>.lambda-url.<region>.on.aws/ (default $BNADMIN_URL)")
	fs.StringVar(&o.local, "local", "", "use the local stack in this directory (e.g. .local/stack) instead of -url")
	fs.BoolVar(&o.direct, "direct", false, "with -local: invoke the function directly, naming -actor, instead of through a Function URL (cancel, preview, status, export, verify and small sends only)")
	fs.StringVar(&o.as, "as", "local", "with -local: the local principal to sign as (local, omar, alice, alice-again, sso-carol, mallory)")
	fs.StringVar(&o.actor, "actor", "local:"+cmp.Or(os.Getenv("USER"), "unknown"), "with -local -direct: who is acting")
	fs.StringVar(&o.req.IncidentID, "incident", "", "the incident id (required, except for preflight)")
	fs.StringVar(&o.channel, "channel", "", "email or push (default: every channel)")
	fs.StringVar(&o.users, "users", "", "send: comma-separated user ids")
	fs.StringVar(&o.req.Template, "template", "", "send: the notice template, e.g. update-app")
	fs.StringVar(&o.req.FixedVersion, "fixed-version", "", "send: the app version that fixes the issue")
	fs.StringVar(&o.req.Title, "title", "", "send: the notice title")
	fs.StringVar(&o.req.Reason, "reason", "", "cancel: why")
	fs.StringVar(&o.at, "at", "", "authority-notified: when the authority was told, RFC 3339 (default: now)")
	fs.StringVar(&o.req.Update, "update", "", "publish: the public page's new timeline entry, in plain language (empty: put the pages again)")
	fs.BoolVar(&o.json, "json", false, "print the raw response")
	fs.BoolVar(&o.watch, "watch", false, "status: redraw the progress until the incident is completed or cancelled (Ctrl-C stops)")
	fs.DurationVar(&o.every, "every", 2*time.Second, "with -watch: how often to ask")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: bnadmin [flags] OPERATION [flags]\noperations: %s\n", strings.Join(admin.Operations, ", "))
		fs.PrintDefaults()
	}
	// Flags may come after the operation too (status -watch, cancel -reason).
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.req.Operation = fs.Arg(0)
	if fs.NArg() > 0 {
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := o.check(set); err != nil {
		fs.Usage()
		return err
	}
	if err := o.parse(); err != nil {
		return err
	}
	for u := range strings.SplitSeq(o.users, ",") {
		if u = strings.TrimSpace(u); u != "" {
			o.req.UserIDs = append(o.req.UserIDs, u)
		}
	}

	tr, err := o.transport(ctx)
	if err != nil {
		return err
	}
	c := &admincli.Client{Transport: tr}
	if o.watch {
		return watch(ctx, c, o, stdout)
	}
	resp, err := c.Do(ctx, o.req)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(stdout, resp.Raw)
	}
	return admincli.Summary(stdout, resp.Response)
}

func (o options) check(set map[string]bool) error {
	switch {
	case o.req.Operation == "":
		return errors.New("no operation")
	case !slices.Contains(admin.Operations, o.req.Operation):
		return fmt.Errorf("unknown operation %q", o.req.Operation)
	case o.req.IncidentID == "" && !slices.Contains(admin.WithoutIncident, o.req.Operation):
		return errors.New("-incident is required")
	case o.req.IncidentID != "" && slices.Contains(admin.WithoutIncident, o.req.Operation):
		return fmt.Errorf("%s acts on no one incident: leave -incident out", o.req.Operation)
	case set["at"] && o.req.Operation != "authority-notified":
		return errors.New("-at goes with authority-notified")
	case o.watch && o.req.Operation != "status":
		return errors.New("-watch goes with status")
	case o.every <= 0:
		return errors.New("-every must be positive")
	case o.direct && o.local == "":
		return errors.New("-direct goes with -local")
	case set["as"] && (o.local == "" || o.direct):
		return errors.New("-as goes with -local, through the Function URL")
	case set["actor"] && !o.direct:
		return errors.New("-actor goes with -local -direct: through a Function URL the actor is whoever signed")
	case o.local == "" && o.url == "":
		return errors.New("say where the admin function is: -url (or $BNADMIN_URL) or -local")
	}
	return nil
}

// parse fills the request's typed fields from their flags.
func (o *options) parse() error {
	o.req.Channel = incident.Channel(o.channel)
	if o.at != "" {
		at, err := time.Parse(time.RFC3339, o.at)
		if err != nil {
			return fmt.Errorf("-at: %w", err)
		}
		o.req.At = at
	}
	return nil
}

// transport picks the door: the local stack if -local is given, else the
// Function URL on AWS.
func (o options) transport(ctx context.Context) (admincli.Transport, error) {
	if o.local != "" {
		s, err := local.Load(o.local)
		if err != nil {
			return nil, err
		}
		if o.direct {
			invoke := func(ctx context.Context, payload []byte) ([]byte, error) {
				return s.Invoke(ctx, "AdminFunction", payload)
			}
			return &admincli.DirectInvoke{Invoke: invoke, Actor: o.actor}, nil
		}
		// The stack's mapper serves the admin function's URL.
		u, ok := s.FunctionURLs["AdminFunction"]
		if !ok {
			return nil, fmt.Errorf("the local stack in %s serves no admin URL: restart it (make down up)", o.local)
		}
		creds, err := local.CredentialsOf(o.as)
		if err != nil {
			return nil, err
		}
		return &admincli.FunctionURL{URL: u, Region: s.Region, Credentials: creds}, nil
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	region, ok := admincli.RegionFromURL(o.url)
	if !ok {
		region = cfg.Region
	}
	if region == "" {
		return nil, fmt.Errorf("no region in %s and none configured (set AWS_REGION)", o.url)
	}
	return &admincli.FunctionURL{URL: o.url, Region: region, Credentials: cfg.Credentials}, nil
}

func watch(ctx context.Context, c *admincli.Client, o options, stdout *os.File) error {
	fi, err := stdout.Stat()
	tty := err == nil && fi.Mode()&os.ModeCharDevice != 0
	show := func(r admincli.Answer) {
		s := admin.Status{State: admincli.CurrentState(r.Response)}
		if r.Status != nil {
			s = *r.Status
		}
		switch {
		case o.json:
			fmt.Fprintf(stdout, "%s\n", compact(r.Raw))
		case tty:
			// Back to the line's start, then clear what a longer line left.
			fmt.Fprintf(stdout, "\r%s\x1b[K", admincli.Bar(s, barWidth))
		default:
			fmt.Fprintf(stdout, "%s %s %s\n", time.Now().Format(time.TimeOnly), s.State, admincli.Bar(s, barWidth))
		}
	}
	last, err := c.Watch(ctx, o.req, o.every, show)
	if tty && !o.json {
		fmt.Fprintln(stdout)
	}
	if errors.Is(err, context.Canceled) {
		return nil // Ctrl-C is how a watch is left
	}
	if err != nil || o.json {
		return err
	}
	fmt.Fprintln(stdout)
	return admincli.Summary(stdout, last.Response)
}

func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("response is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

func compact(raw []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}
