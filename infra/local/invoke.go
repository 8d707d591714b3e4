package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// FunctionError is a handler error as the emulator reports it: HTTP 200 with
// an errorMessage body (or a 5xx when the runtime crashed), or the
// emulator's plain "Task timed out after …" when the invocation reached
// its timeout.
type FunctionError struct {
	Function string
	Status   int
	Body     string
	// TimedOut: the emulator stopped the invocation at the function's
	// timeout, as Lambda does (a function error there too).
	TimedOut bool
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("%s failed (HTTP %d): %s", e.Function, e.Status, e.Body)
}

// Invoke runs one function invocation and returns its response. An
// emulator runs one invocation at a time (two at once crash it), so calls
// to one function are serialised across processes with a file lock.
//
// An emulator found dead (its address refuses the connection and its
// process is gone) is started again, at the same address with the same
// environment, and the invocation tried once more: Lambda, too, replaces
// an execution environment that died, and the next event finds a fresh
// one.
func (s *State) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	fn, ok := s.Functions[function]
	if !ok {
		return nil, fmt.Errorf("no function %q in the local stack (have %v)", function, slices.Sorted(maps.Keys(s.Functions)))
	}
	lock, err := os.OpenFile(filepath.Join(s.Dir, function+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock %s: %w", function, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	ctx, cancel := context.WithTimeout(ctx, time.Duration(fn.Timeout+10)*time.Second)
	defer cancel()
	resp, err := post(ctx, fn.URL, payload)
	if errors.Is(err, syscall.ECONNREFUSED) && !s.Running(function) {
		s.logger().Warn("emulator died; started again, as Lambda replaces a dead environment", "function", function, "error", err.Error())
		if rerr := s.Restart(ctx, function); rerr != nil {
			return nil, fmt.Errorf("invoke %s: start its dead emulator again: %w", function, rerr)
		}
		resp, err = post(ctx, fn.URL, payload)
	}
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", function, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: read response: %w", function, err)
	}
	var probe struct {
		ErrorMessage *string `json:"errorMessage"`
	}
	timedOut := bytes.HasPrefix(body, []byte("Task timed out"))
	if resp.StatusCode != http.StatusOK || timedOut || (json.Unmarshal(body, &probe) == nil && probe.ErrorMessage != nil) {
		return body, &FunctionError{Function: function, Status: resp.StatusCode, Body: string(body), TimedOut: timedOut}
	}
	return body, nil
}

func post(ctx context.Context, url string, payload []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}

// Running reports whether the emulator of function is still alive.
func (s *State) Running(function string) bool {
	s.mu.Lock()
	pid, ok := s.PIDs[function]
	s.mu.Unlock()
	return ok && syscall.Kill(pid, 0) == nil
}

func (s *State) logger() *slog.Logger {
	if s.log != nil {
		return s.log
	}
	return slog.Default()
}
