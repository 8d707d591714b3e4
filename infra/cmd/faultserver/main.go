// Command faultserver runs the fault-injecting SES v2 and SNS server of
// package breachnotify/infra/faultserver on 127.0.0.1, for benchmarks and
// tests that run the functions as separate processes. Point them at it with
// AWS_ENDPOINT_URL_SESV2 and AWS_ENDPOINT_URL_SNS; change its faults while
// it runs with POST /_fault/config.
//
//	faultserver -port 4599 -email-rate 14 -latency 30ms -fail-recipient bounce@example.com=MessageRejected
//
// It prints its URL as the first line on stdout (and to -url-file), so a
// script can start it on a free port; on SIGINT or SIGTERM it stops and
// prints its final stats on stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"breachnotify/infra/faultserver"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "faultserver:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("faultserver", flag.ContinueOnError)
	port := fs.Int("port", 0, "port on 127.0.0.1; 0 picks a free one")
	urlFile := fs.String("url-file", "", "also write the URL to this file, once listening")
	configFile := fs.String("config", "", "JSON Config to start from (as POST /_fault/config takes); flags given override it")
	var c faultserver.Config
	fs.Float64Var(&c.EmailRate, "email-rate", 0, "SES max send rate per second; 0 = unlimited")
	fs.Float64Var(&c.PushRate, "push-rate", 0, "SNS Publish rate per second; 0 = unlimited")
	fs.DurationVar(&c.Latency, "latency", 0, "added to every SES and SNS request")
	fs.Float64Var(&c.EmailThrottlePercent, "email-throttle-percent", 0, "percent of SendEmail calls answered 429 TooManyRequestsException")
	fs.Float64Var(&c.EmailServerErrorPercent, "email-5xx-percent", 0, "percent of SendEmail calls answered 500 InternalFailure")
	fs.Float64Var(&c.PushThrottlePercent, "push-throttle-percent", 0, "percent of Publish calls answered 429 Throttled")
	fs.Float64Var(&c.PushServerErrorPercent, "push-5xx-percent", 0, "percent of Publish calls answered 500 InternalError")
	fs.BoolVar(&c.EmailPaused, "email-paused", false, "answer every SendEmail with SendingPausedException")
	fs.BoolVar(&c.SenderUnverified, "sender-unverified", false, "answer every SendEmail with MessageRejected: the sender identity is not verified")
	fs.BoolVar(&c.Sandbox, "sandbox", false, "an account in the SES sandbox: every SendEmail rejected for its unverified recipients")
	fs.Int64Var(&c.Seed, "seed", 0, "seed of the random faults")
	rcpts, eps := map[string]string{}, map[string]string{}
	fs.Func("fail-recipient", "ADDRESS=SES_ERROR_CODE, repeatable (codes: "+strings.Join(faultserver.SESErrorCodes(), ", ")+")", pairInto(rcpts))
	fs.Func("fail-endpoint", "TARGET_ARN=SNS_ERROR_CODE, repeatable (codes: "+strings.Join(faultserver.SNSErrorCodes(), ", ")+")", pairInto(eps))
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	cfg, err := merge(fs, c, rcpts, eps, *configFile)
	if err != nil {
		return err
	}
	srv, err := faultserver.Listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)), cfg)
	if err != nil {
		return err
	}
	fmt.Println(srv.URL())
	if *urlFile != "" {
		if err := os.WriteFile(*urlFile, []byte(srv.URL()+"\n"), 0o644); err != nil {
			return errors.Join(err, srv.Close())
		}
	}
	shown, _ := json.Marshal(srv.Config())
	fmt.Fprintf(os.Stderr, "faultserver: listening on %s with %s\n", srv.URL(), shown)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	err = srv.Close()
	stats, _ := json.Marshal(srv.Stats())
	fmt.Fprintf(os.Stderr, "faultserver: stopped; stats %s\n", stats)
	return err
}

// merge starts from the config file, if any, and lays over it only the
// flags given on the command line, so a flag's default never silently
// undoes a file's setting.
func merge(fs *flag.FlagSet, flags faultserver.Config, rcpts, eps map[string]string, file string) (faultserver.Config, error) {
	cfg := flags
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return cfg, err
		}
		cfg = faultserver.Config{}
		if err := json.Unmarshal(b, &cfg); err != nil {
			return cfg, fmt.Errorf("%s: %w", file, err)
		}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "email-rate":
				cfg.EmailRate = flags.EmailRate
			case "push-rate":
				cfg.PushRate = flags.PushRate
			case "latency":
				cfg.Latency = flags.Latency
			case "email-throttle-percent":
				cfg.EmailThrottlePercent = flags.EmailThrottlePercent
			case "email-5xx-percent":
				cfg.EmailServerErrorPercent = flags.EmailServerErrorPercent
			case "push-throttle-percent":
				cfg.PushThrottlePercent = flags.PushThrottlePercent
			case "push-5xx-percent":
				cfg.PushServerErrorPercent = flags.PushServerErrorPercent
			case "email-paused":
				cfg.EmailPaused = flags.EmailPaused
			case "sender-unverified":
				cfg.SenderUnverified = flags.SenderUnverified
			case "sandbox":
				cfg.Sandbox = flags.Sandbox
			case "seed":
				cfg.Seed = flags.Seed
			}
		})
	}
	for k, v := range rcpts {
		if cfg.FailRecipients == nil {
			cfg.FailRecipients = map[string]string{}
		}
		cfg.FailRecipients[k] = v
	}
	for k, v := range eps {
		if cfg.FailEndpoints == nil {
			cfg.FailEndpoints = map[string]string{}
		}
		cfg.FailEndpoints[k] = v
	}
	return cfg, cfg.Validate()
}

func pairInto(m map[string]string) func(string) error {
	return func(s string) error {
		// Split at the last '=': codes never hold one, ARNs and addresses might.
		i := strings.LastIndexByte(s, '=')
		if i <= 0 || i == len(s)-1 {
			return errors.New("want KEY=CODE")
		}
		m[s[:i]] = s[i+1:]
		return nil
	}
}
