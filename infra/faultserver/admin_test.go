package faultserver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

func httpDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(bg, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestAdminHTTP(t *testing.T) {
	srv := start(t, Config{})
	ses, _ := clients(srv)
	admin := srv.URL() + "/_fault/"

	t.Run("config", func(t *testing.T) {
		code, body := httpDo(t, "POST", admin+"config",
			`{"emailRate":7,"latency":"5ms","seed":3,"failRecipients":{"blocked@example.com":"MessageRejected"}}`)
		if code != http.StatusOK {
			t.Fatalf("POST config: %d %s", code, body)
		}
		want := Config{EmailRate: 7, Latency: 5 * time.Millisecond, Seed: 3, FailRecipients: map[string]string{"blocked@example.com": "MessageRejected"}}
		var got Config
		if err := json.Unmarshal([]byte(body), &got); err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("POST config answered %s (%v), want %+v", body, err, want)
		}
		if c := srv.Config(); fmt.Sprint(c) != fmt.Sprint(want) {
			t.Errorf("Config() = %+v, want %+v", c, want)
		}
		if code, body := httpDo(t, "GET", admin+"config", ""); code != http.StatusOK || !strings.Contains(body, `"latency":"5ms"`) {
			t.Errorf("GET config: %d %s", code, body)
		}
		out, err := ses.GetAccount(bg, &sesv2.GetAccountInput{})
		if err != nil || out.SendQuota.MaxSendRate != 7 {
			t.Errorf("GetAccount after POST config: %v, %+v", err, out)
		}
	})

	t.Run("bad configs are refused and change nothing", func(t *testing.T) {
		for _, body := range []string{
			`{"emailRate":-1}`,
			`{"emailRat":1}`,
			`{"latency":"soon"}`,
			`{"failEndpoints":{"arn:x":"Broken"}}`,
			`not json`,
		} {
			if code, resp := httpDo(t, "POST", admin+"config", body); code != http.StatusBadRequest {
				t.Errorf("POST config %s: %d %s, want 400", body, code, resp)
			}
		}
		if c := srv.Config(); c.EmailRate != 7 {
			t.Errorf("a refused config changed the config to %+v", c)
		}
	})

	t.Run("latency as nanoseconds", func(t *testing.T) {
		if code, body := httpDo(t, "POST", admin+"config", `{"emailRate":7,"latency":1000000,"failRecipients":{"blocked@example.com":"MessageRejected"}}`); code != http.StatusOK {
			t.Fatalf("POST config: %d %s", code, body)
		}
		if l := srv.Config().Latency; l != time.Millisecond {
			t.Errorf("latency = %v, want 1ms", l)
		}
	})

	t.Run("stats and accepted", func(t *testing.T) {
		for i := range 3 {
			if _, err := ses.SendEmail(bg, emailTo(fmt.Sprintf("u%d@example.com", i), map[string]string{"incident": "INC-9"})); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ses.SendEmail(bg, emailTo("blocked@example.com", nil)); !isA[*sestypes.MessageRejected]()(err) {
			t.Fatalf("blocked recipient: %v", err)
		}
		code, body := httpDo(t, "GET", admin+"stats", "")
		var st Stats
		if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil {
			t.Fatalf("GET stats: %d %s %v", code, body, err)
		}
		if st.SendEmail.Requests != 4 || st.SendEmail.Accepted != 3 || st.SendEmail.Injected["MessageRejected"] != 1 {
			t.Errorf("stats = %s", body)
		}

		code, body = httpDo(t, "GET", admin+"accepted", "")
		if code != http.StatusOK {
			t.Fatalf("GET accepted: %d %s", code, body)
		}
		lines := strings.Split(strings.TrimSpace(body), "\n")
		if len(lines) != 3 {
			t.Fatalf("GET accepted: %d lines, want 3:\n%s", len(lines), body)
		}
		for i, l := range lines {
			var m Message
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			if m.Channel != "email" || m.To != fmt.Sprintf("u%d@example.com", i) || m.EmailTags["incident"] != "INC-9" || m.MessageID == "" {
				t.Errorf("line %d = %s", i, l)
			}
		}
	})

	t.Run("reset", func(t *testing.T) {
		if code, body := httpDo(t, "POST", admin+"reset", ""); code != http.StatusNoContent {
			t.Fatalf("POST reset: %d %s", code, body)
		}
		if st := srv.Stats(); st.SendEmail.Requests != 0 || st.GetAccount.Requests != 0 || len(st.SendEmail.Injected) != 0 {
			t.Errorf("stats after reset = %+v", st)
		}
		if code, body := httpDo(t, "GET", admin+"accepted", ""); code != http.StatusOK || body != "" {
			t.Errorf("accepted after reset: %d %q", code, body)
		}
		if c := srv.Config(); c.EmailRate != 7 {
			t.Errorf("reset changed the config: %+v", c)
		}
	})

	t.Run("admin paths do not answer AWS methods", func(t *testing.T) {
		if code, _ := httpDo(t, "GET", admin+"reset", ""); code != http.StatusMethodNotAllowed {
			t.Errorf("GET reset: %d, want 405", code)
		}
	})
}

// TestManyAccepted: 100,000 accepted messages stay small and list quickly.
// They are added straight to the store; the HTTP path to it is tested above.
func TestManyAccepted(t *testing.T) {
	const n = 100_000
	srv := start(t, Config{})
	tags := []messageTag{{"incident", "INC-2014-0527"}, {"notice", "n1-update-app"}, {"template", "update-app"}}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	now := time.Now().UnixNano()
	srv.mu.Lock()
	for i := range n {
		srv.seq++
		srv.store.add(record{at: now, seq: srv.seq, ch: email, to: fmt.Sprintf("user%06d@example.com", i),
			subject: srv.store.interned(strings.Clone("Action needed: update your app")),
			tags:    srv.store.interned(encodeTags(tags))})
	}
	srv.mu.Unlock()
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d messages: heap grew %.1f MiB (%d bytes each)", n, float64(grew)/(1<<20), grew/n)
	if grew > 24<<20 {
		t.Errorf("%d messages took %d MiB, want under 24", n, grew>>20)
	}

	resp, err := http.Get(srv.URL() + "/_fault/accepted")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines++
	}
	if err := sc.Err(); err != nil || lines != n {
		t.Errorf("GET accepted: %d lines (%v), want %d", lines, err, n)
	}
	if got := srv.Accepted(); len(got) != n || got[n-1].To != fmt.Sprintf("user%06d@example.com", n-1) || got[n-1].EmailTags["notice"] != "n1-update-app" {
		t.Errorf("Accepted(): %d messages, last %+v", len(got), got[len(got)-1])
	}
}
