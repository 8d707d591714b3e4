// Command seed imports users from a JSON Lines or CSV file (or - for
// standard input) into the users table, or with -delete deletes the users
// a file lists. Configuration is the usual AWS environment plus USERS_TABLE
// and, to register (or delete) push endpoints, ANDROID_PLATFORM_APPLICATION_ARN
// and IOS_PLATFORM_APPLICATION_ARN.
//
//	seed [-delete] [-format jsonl|csv] [-checkpoint FILE] [-workers N] [-registrations N] FILE
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"breachnotify/infra/seed"
	"breachnotify/shared/aws/awsconfig"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/aws/push"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

// maxListed bounds the skipped lines listed one by one; the summary counts
// them all.
const maxListed = 1000

func run() error {
	fl := flag.NewFlagSet("seed", flag.ContinueOnError)
	del := fl.Bool("delete", false, "delete the users the file lists (users who left), their device items and their push endpoints")
	format := fl.String("format", "", "jsonl or csv (default: csv for a .csv file, jsonl otherwise)")
	checkpoint := fl.String("checkpoint", "", "resume from, and save progress to, this file (not with standard input)")
	workers := fl.Int("workers", 4, "parallel writers")
	registrations := fl.Int("registrations", 16, "concurrent SNS endpoint calls")
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "usage: seed [flags] FILE.jsonl|FILE.csv (or - for standard input)")
		fl.PrintDefaults()
	}
	if err := fl.Parse(os.Args[1:]); err != nil {
		return err
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return errors.New("one input file expected")
	}
	path := fl.Arg(0)
	if path == "-" && *checkpoint != "" {
		return errors.New("-checkpoint needs a file: standard input cannot be read again")
	}
	env, err := awsconfig.Env("USERS_TABLE")
	if err != nil {
		return err
	}
	im := &seed.Importer{Delete: *del, Workers: *workers, Registrations: *registrations, Format: seed.FormatOf(path)}
	switch *format {
	case "":
	case "jsonl":
		im.Format = seed.JSONLines
	case "csv":
		im.Format = seed.CSV
	default:
		return fmt.Errorf("-format %q: jsonl or csv", *format)
	}
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stopSignals()
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return err
	}
	im.Store = &dynamo.Users{Client: dynamodb.NewFromConfig(cfg), Table: env["USERS_TABLE"]}
	apps := map[string]string{
		"android": os.Getenv("ANDROID_PLATFORM_APPLICATION_ARN"),
		"ios":     os.Getenv("IOS_PLATFORM_APPLICATION_ARN"),
	}
	switch {
	case *del:
		im.Deregistrar = &push.Deregistrar{Client: sns.NewFromConfig(cfg)}
	case apps["android"] != "" || apps["ios"] != "":
		im.Registrar = &push.Registrar{Client: sns.NewFromConfig(cfg), Applications: apps}
	default:
		fmt.Fprintln(os.Stderr, "seed: no platform application ARNs set; push tokens are not registered")
	}
	var onTerminal bool
	im.OnProgress, im.ProgressEvery, onTerminal = progress()

	var rep seed.Report
	if path == "-" {
		rep, err = im.Run(ctx, os.Stdin)
	} else {
		rep, err = im.ImportFile(ctx, path, *checkpoint)
	}
	if onTerminal {
		fmt.Fprintln(os.Stderr) // end the bar's line
	}
	var stop *seed.StopError
	if err != nil && !errors.As(err, &stop) {
		return err // refused before any line was read: a checkpoint, a header, the file
	}
	skipped := append(rep.Bad, rep.Refused...)
	for i, b := range skipped {
		if i == maxListed {
			fmt.Fprintf(os.Stderr, "seed: ... and %d more skipped lines\n", len(skipped)-maxListed)
			break
		}
		fmt.Fprintln(os.Stderr, "seed: skipped", b.Error())
	}
	fmt.Println(rep.Summary())
	if stop != nil {
		if *checkpoint != "" {
			return fmt.Errorf("%w\n(run the same command again to resume from the checkpoint %s)", err, *checkpoint)
		}
		return err
	}
	if n := len(skipped); n > 0 {
		return fmt.Errorf("%d lines skipped", n)
	}
	return nil
}

// progress draws a bar with rate and ETA on a terminal and writes a plain
// line every 10 seconds otherwise (a log, a CI job).
func progress() (show func(seed.Progress), every time.Duration, terminal bool) {
	if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		return func(p seed.Progress) { fmt.Fprintf(os.Stderr, "\r%s\033[K", p.Bar(30)) }, 200 * time.Millisecond, true
	}
	return func(p seed.Progress) { fmt.Fprintln(os.Stderr, "seed:", p.Line()) }, 10 * time.Second, false
}
