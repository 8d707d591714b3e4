// Package local runs breachnotify on one machine with no AWS account: moto
// (DynamoDB, SQS, SNS, EventBridge), aws-ses-v2-local (SES v2), and one AWS
// Lambda Runtime Interface Emulator per function running the real bootstrap
// binaries. The resources come from template.yaml, and a mapper plays the
// part of the event source mappings and the EventBridge → Lambda target.
package local

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// StackName is the local stack's name: what AWS::StackName resolves to,
// the prefix of every resource's physical name.
const StackName = "breachnotify-local"

const (
	accountID = "123456789012"
	region    = "us-east-1"
	stateFile = "state.json"
)

// motoServer starts moto's server with the changes that keep it up under a
// bulk import (an indexed CreatePlatformEndpoint, and request routing that
// does not read moto's package directory each time; see the file and
// docs/local-stack.md). Up writes it into the stack's directory.
//
//go:embed moto_server.py
var motoServer []byte

// Options says where things are.
type Options struct {
	// Dir holds the state file, logs and locks of one running stack.
	Dir string
	// Template is the path of template.yaml.
	Template string
	// BinDir holds each function's bootstrap as <BinDir>/<LogicalId>/bootstrap.
	BinDir string
	// RIE is the aws-lambda-rie binary.
	RIE string
	// SESServer is aws-ses-v2-local's cli.js.
	SESServer string
	// Python runs moto.
	Python string
	// Params override template parameter defaults, as
	// `sam deploy --parameter-overrides` would.
	Params map[string]string
	// Endpoints point services elsewhere than moto and aws-ses-v2-local,
	// by the SDK's AWS_ENDPOINT_URL_<SERVICE> suffix (e.g. "SESV2", "SNS"):
	// how the fault-injecting server is put in front of the functions.
	Endpoints map[string]string
	// Timeouts override functions' Timeout, in seconds, by logical id: a
	// test of what happens after a worker's deadline need not wait a minute.
	Timeouts map[string]int
	// PushRefusals puts the SNS front (ServeSNS) before moto, so that a
	// device token starting with RefusedTokenPrefix is refused as FCM or
	// APNs would refuse it: one more moto call per push, hence optional.
	PushRefusals bool
}

// LocalParams are the parameter values the local deployment passes, as
// `sam deploy --parameter-overrides` would, for parameters the template
// leaves without a default; Options.Params override them.
var LocalParams = map[string]string{
	"SenderAddress": "security@example.com",
	// The detectors' roles are each deployment's; this one stands in.
	"DetectorPrincipals": "arn:aws:iam::" + accountID + ":role/" + StackName + "-detector",
}

// localAccount is what the local SES reports from GetAccount: a production
// account's sending quota, so the worker paces as it would on AWS.
const localAccount = `{"DedicatedIpAutoWarmupEnabled":false,"Details":{"AdditionalContactEmailAddresses":[],"ContactLanguage":"EN","MailType":"TRANSACTIONAL","ReviewDetails":{"CaseId":"local","Status":"GRANTED"},"UseCaseDescription":"breach notices","WebsiteURL":"https://example.com"},"EnforcementStatus":"HEALTHY","ProductionAccessEnabled":true,"SendingEnabled":true,"SendQuota":{"Max24HourSend":50000,"MaxSendRate":200,"SentLast24Hours":0},"SuppressionAttributes":{"SuppressedReasons":["BOUNCE","COMPLAINT"]}}`

// Function is one function under its emulator.
type Function struct {
	URL     string            `json:"url"`
	Env     map[string]string `json:"env"`
	Timeout int               `json:"timeout"`
	// Async is how Lambda handles the function's asynchronous invocations
	// (its EventInvokeConfig): retries after a function error, then the
	// on-failure destination.
	Async AsyncConfig `json:"async"`
}

// AsyncConfig is a function's EventInvokeConfig as the local stack plays it.
type AsyncConfig struct {
	// MaximumRetryAttempts after the first attempt: Lambda's default is 2.
	MaximumRetryAttempts int `json:"maximumRetryAttempts"`
	// OnFailureQueueURL receives an invocation record when the attempts
	// are exhausted; without one, Lambda drops the event.
	OnFailureQueueURL string `json:"onFailureQueueUrl,omitempty"`
}

// Mapping is an event source mapping: messages of Queue go to Function.
type Mapping struct {
	Function  string `json:"function"`
	QueueURL  string `json:"queueUrl"`
	BatchSize int    `json:"batchSize"`
	// Async: each message is one event for an asynchronous invocation (the
	// EventBridge target); else messages are batched into an SQS event.
	Async bool `json:"async,omitempty"`
	// SNS: each message is an SNS notification (the topic's delivery to
	// the inbox queue), passed on as the SNS event Lambda builds.
	SNS bool `json:"sns,omitempty"`
}

// State is a running stack, saved in Dir so that other commands find it.
type State struct {
	Dir     string `json:"dir"`
	MotoURL string `json:"motoUrl"`
	SESURL  string `json:"sesUrl"`
	// SESEndpoint is the SES v2 endpoint the functions use: a front to
	// aws-ses-v2-local that also answers identity and configuration set
	// reads (see ServeSES).
	SESEndpoint string `json:"sesEndpoint"`
	// SNSEndpoint is the SNS endpoint the functions use with
	// Options.PushRefusals: a front to moto that plays the push services'
	// refusal of a token (ServeSNS).
	SNSEndpoint string `json:"snsEndpoint,omitempty"`
	// SESIdentities are the identities the local account has verified for
	// sending: the sender address and its domain, as a deployer would.
	SESIdentities []string `json:"sesIdentities"`
	// ConfigurationSets are the template's SES configuration sets.
	ConfigurationSets []string            `json:"configurationSets"`
	Region            string              `json:"region"`
	Functions         map[string]Function `json:"functions"`
	Mappings          []Mapping           `json:"mappings"`
	Names             map[string]string   `json:"names"` // logical id -> table name or queue URL
	Params            map[string]any      `json:"params"`
	EventBus          string              `json:"eventBus"`
	PIDs              map[string]int      `json:"pids"`
	StartedAt         time.Time           `json:"startedAt"`
	Platforms         map[string]string   `json:"platforms"` // device platform -> SNS platform application ARN
	QueueARNs         map[string]string   `json:"queueArns"`
	Endpoints         map[string]string   `json:"endpoints,omitempty"`
	RIE               string              `json:"rie"`
	// FunctionURLs are the local doors of functions with a FunctionUrlConfig
	// (AuthType AWS_IAM, checked as Lambda does); the mapper serves them.
	FunctionURLs map[string]string `json:"functionUrls,omitempty"`
	// Schedules are the functions' schedule expressions; locally a
	// scheduled function runs when invoked (make watch).
	Schedules map[string]string `json:"schedules,omitempty"`
	BinDir    string            `json:"binDir"`

	// mu guards PIDs and invocations: the mapper's pollers may start a
	// dead emulator again while a test kills another.
	mu sync.Mutex
	// restartMu makes restarting an emulator one caller's job at a time.
	restartMu sync.Mutex
	// invocations count the mapper's invocations by function.
	invocations map[string]Invocations
	// log is the mapper's logger, for what Invoke does on its own.
	log *slog.Logger
}

// Load reads the state of the stack running in dir.
func Load(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no local stack in %s: run 'make up' first", dir)
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &s, nil
}

// Alive reports whether every process of the stack still runs.
func (s *State) Alive() bool {
	for _, pid := range s.PIDs {
		if syscall.Kill(pid, 0) != nil {
			return false
		}
	}
	return len(s.PIDs) > 0
}

func (s *State) save() error {
	s.mu.Lock()
	data, err := json.MarshalIndent(s, "", "  ")
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, stateFile), data, 0o644)
}

// Down stops the stack in dir, if any, and forgets it.
func Down(dir string) error {
	s, err := Load(dir)
	if err != nil {
		return nil
	}
	s.stop()
	return os.Remove(filepath.Join(dir, stateFile))
}

func (s *State) stop() {
	var all []int
	for _, pid := range s.PIDs {
		// Each process leads its own group, so its children (node) stop
		// with it; the emulator starts the bootstrap in a group of its
		// own, so descendants are signalled one by one too.
		all = append(all, descendants(pid)...)
		_ = syscall.Kill(-pid, syscall.SIGTERM)
	}
	for _, pid := range all {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range s.PIDs {
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	for _, pid := range all {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// descendants lists the processes below pid, read from /proc.
func descendants(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	children := map[int][]int{}
	for _, f := range stats {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// The command name, in parentheses, may hold spaces: the fields
		// after its closing parenthesis are state, then ppid.
		rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
		var state string
		var child, parent int
		if _, err := fmt.Sscan(rest, &state, &parent); err != nil {
			continue
		}
		if _, err := fmt.Sscan(filepath.Base(filepath.Dir(f)), &child); err == nil {
			children[parent] = append(children[parent], child)
		}
	}
	var out []int
	for next := []int{pid}; len(next) > 0; {
		p := next[0]
		next = append(next[1:], children[p]...)
		out = append(out, children[p]...)
	}
	return out
}

// Kill stops a function's emulator and its bootstrap at once, as a crash
// would: invocations in flight die mid-way.
func (s *State) Kill(id string) error {
	s.mu.Lock()
	pid, ok := s.PIDs[id]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("no process for %s", id)
	}
	for _, p := range append(descendants(pid), pid) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(pid, 0) == nil; {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (pid %d) still runs after SIGKILL", id, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	delete(s.PIDs, id)
	s.mu.Unlock()
	return s.save()
}

// Restart starts a killed function's emulator again at the same address.
// The mapper (finding the emulator dead) and a test (having killed it) may
// both ask at once: the second finds it running and starts none, so no
// emulator is left that the state does not know and Down cannot stop.
func (s *State) Restart(ctx context.Context, id string) error {
	s.restartMu.Lock()
	defer s.restartMu.Unlock()
	if s.Running(id) {
		return nil
	}
	if err := s.startEmulator(ctx, id); err != nil {
		return err
	}
	return s.save()
}

// Up starts a stack in o.Dir and creates its resources. The caller starts
// the mapper (RunMapper) in whatever process should own it.
func Up(ctx context.Context, o Options) (_ *State, err error) {
	if s, err := Load(o.Dir); err == nil {
		if s.Alive() {
			return s, nil
		}
		s.stop()
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	tpl, err := ReadTemplate(o.Template)
	if err != nil {
		return nil, err
	}
	launcher := filepath.Join(o.Dir, "moto_server.py")
	if err := os.WriteFile(launcher, motoServer, 0o644); err != nil {
		return nil, err
	}
	if err := checkTools(o, tpl, launcher); err != nil {
		return nil, err
	}
	s := &State{Dir: o.Dir, Region: region, PIDs: map[string]int{}, StartedAt: time.Now().UTC(), Functions: map[string]Function{},
		FunctionURLs: map[string]string{}, Schedules: map[string]string{},
		Endpoints: o.Endpoints, RIE: o.RIE, BinDir: o.BinDir}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	motoPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s.MotoURL = fmt.Sprintf("http://127.0.0.1:%d", motoPort)
	if err := s.start("moto", nil, o.Python, launcher, "-H", "127.0.0.1", "-p", fmt.Sprint(motoPort)); err != nil {
		return nil, err
	}
	sesPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s.SESURL = fmt.Sprintf("http://127.0.0.1:%d", sesPort)
	if err := s.start("ses", append(os.Environ(), "AWS_SES_ACCOUNT="+localAccount), "node", o.SESServer, "--host", "127.0.0.1", "--port", fmt.Sprint(sesPort)); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, s.MotoURL+"/moto-api/data.json"); err != nil {
		return nil, fmt.Errorf("moto did not start (see %s): %w", s.logPath("moto"), err)
	}
	if err := waitHTTP(ctx, s.SESURL+"/health-check"); err != nil {
		return nil, fmt.Errorf("aws-ses-v2-local did not start (see %s): %w", s.logPath("ses"), err)
	}
	frontPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s.SESEndpoint = fmt.Sprintf("http://127.0.0.1:%d", frontPort)
	if o.PushRefusals {
		snsPort, err := freePort()
		if err != nil {
			return nil, err
		}
		s.SNSEndpoint = fmt.Sprintf("http://127.0.0.1:%d", snsPort)
	}
	params := maps.Clone(LocalParams)
	// A deployment names its admins; a local stack's are the principals
	// its Function URL knows, unless the options say otherwise.
	params["AdminDirectory"] = localDirectory
	maps.Copy(params, o.Params)
	if err := s.provision(ctx, tpl, params, o.Timeouts); err != nil {
		return nil, err
	}
	for _, id := range slices.Sorted(maps.Keys(s.Functions)) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		fn := s.Functions[id]
		fn.URL = fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", port)
		s.Functions[id] = fn
		if err := s.startEmulator(ctx, id); err != nil {
			return nil, err
		}
		if _, ok := tpl.Resources[id].Properties["FunctionUrlConfig"]; ok {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			s.FunctionURLs[id] = fmt.Sprintf("http://127.0.0.1:%d/", port)
		}
	}
	if err := s.save(); err != nil {
		return nil, err
	}
	return s, nil
}

func checkTools(o Options, t *Template, launcher string) error {
	var missing []string
	if out, err := exec.Command(o.Python, launcher, "--check").CombinedOutput(); err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		missing = append(missing, fmt.Sprintf("moto cannot start under %s: %s (moto 5.2.1 with its server extra is required; it comes preinstalled on the project's machines)", o.Python, lines[len(lines)-1]))
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node is not on PATH (needed by aws-ses-v2-local)")
	}
	for _, f := range []string{o.SESServer, o.RIE} {
		if !exists(f) {
			missing = append(missing, fmt.Sprintf("%s is missing: run 'make tools'", f))
		}
	}
	for id, r := range t.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		if b := filepath.Join(o.BinDir, id, "bootstrap"); !exists(b) {
			missing = append(missing, fmt.Sprintf("bootstrap of %s (%s) is missing: run 'make build-local'", id, b))
		}
	}
	if len(missing) > 0 {
		return errors.New("local stack cannot start:\n  " + strings.Join(missing, "\n  "))
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (s *State) logPath(name string) string { return filepath.Join(s.Dir, "logs", name+".log") }

// StartProcess runs a long-lived helper process (the mapper) as part of
// the stack, so that Down stops it too.
func (s *State) StartProcess(name, bin string, args ...string) error {
	if err := s.start(name, os.Environ(), bin, args...); err != nil {
		return err
	}
	return s.save()
}

// start runs a process in its own group, logging to Dir/logs/<name>.log.
func (s *State) start(name string, env []string, bin string, args ...string) error {
	logf, err := os.OpenFile(s.logPath(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.mu.Lock()
	s.PIDs[name] = cmd.Process.Pid
	s.mu.Unlock()
	// Reap it when it exits so it does not linger as a zombie in this process.
	go func() { _ = cmd.Wait() }()
	return nil
}

func (s *State) startEmulator(ctx context.Context, id string) error {
	fn := s.Functions[id]
	apiPort, err := freePort()
	if err != nil {
		return err
	}
	u, err := url.Parse(fn.URL)
	if err != nil {
		return err
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range fn.Env {
		env = append(env, k+"="+v)
	}
	if err := s.start(id, env, s.RIE,
		"--runtime-interface-emulator-address", u.Host,
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
		filepath.Join(s.BinDir, id, "bootstrap")); err != nil {
		return err
	}
	if err := waitTCP(ctx, u.Host); err != nil {
		return fmt.Errorf("emulator of %s did not start (see %s): %w", id, s.logPath(id), err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitHTTP(ctx context.Context, url string) error {
	return poll(ctx, 30*time.Second, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	})
}

func waitTCP(ctx context.Context, addr string) error {
	return poll(ctx, 15*time.Second, func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
}

func poll(ctx context.Context, limit time.Duration, try func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := try()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
