package e2e

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"breachnotify/infra/local"
	"breachnotify/shared/admin"
	"breachnotify/shared/audit"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/errs"
	"breachnotify/shared/incident"
)

// The public notice page end to end: an incident sent through the real
// bootstraps, published twice through the signed Function URL, each page
// loaded by headless Chromium from the local bucket (moto, as CloudFront
// would fetch it) with every request it makes seen by a proxy; and the
// notice emails the incident sent, rendered in Chromium the same way.
func TestPublicNoticePage(t *testing.T) {
	s := needStack(t)
	br := newBrowser(t)
	ctx := context.Background()
	const id = "INC-PUBLISH-1"
	before := outbox(t, s)
	ev := strings.ReplaceAll(string(readEvent(t, "incident-confirmed.json")), "INC-2014-0527", id)
	if err := s.PutEvent(ctx, []byte(ev)); err != nil {
		t.Fatal(err)
	}
	if err := s.Drain(ctx, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	var emails []local.Sent
	for _, m := range since(before, outbox(t, s)) {
		if m.Channel == "email" && strings.Contains(m.Text, id) {
			emails = append(emails, m)
		}
	}
	if len(emails) == 0 {
		t.Fatal("the incident sent no email")
	}

	a := &adminClient{t: t, s: s}
	if _, err := a.tryDirect(admin.Request{Operation: "publish", Actor: "mallory", IncidentID: id, Update: "x"}); err == nil ||
		!strings.Contains(err.Error(), "only through the Function URL") {
		t.Fatalf("a direct invocation published: %v", err)
	}
	updates := []string{"We are telling each person affected by email and in the app.", "Every notice has been sent; the investigation continues."}
	var resp admin.Response
	for _, u := range updates {
		resp = a.signed(admin.Request{Operation: "publish", IncidentID: id, Update: u})
	}
	if resp.Published == nil || resp.Published.Updates != 2 || resp.Published.Pages["en"].Address != s.PublicPage(id, "en") {
		t.Fatalf("publish answered %+v, want two updates and the page's local address", resp.Published)
	}

	t.Run("each publication is a version of its own, audited with its version id and hash", func(t *testing.T) {
		a.wantAudit(id, audit.Published, audit.Published)
		trail, err := s.AuditTrail(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var audited []string
		for _, e := range trail {
			if e.Kind == audit.Published {
				audited = append(audited, e.Detail["en.versionId"])
				if e.Actor != "local" || len(e.Detail["en.sha256"]) != 64 || e.Detail["locales"] != "en,es,de" {
					t.Errorf("published entry %+v, want the signed caller, the locales and each page's hash", e)
				}
			}
		}
		c := s3.NewFromConfig(s.Config(), func(o *s3.Options) { o.UsePathStyle = true })
		out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(s.Names["PublicNoticeBucket"]), Prefix: aws.String("incidents/" + id + "/en.html")})
		if err != nil {
			t.Fatal(err)
		}
		var stored []string
		for _, v := range out.Versions {
			stored = append(stored, aws.ToString(v.VersionId))
		}
		slices.Sort(stored)
		slices.Sort(audited)
		if len(stored) != 2 || !slices.Equal(stored, audited) {
			t.Errorf("bucket holds versions %q of the English page, the audit names %q: want the same two", stored, audited)
		}
	})

	// What each locale's page must show: its title, and its headings in order.
	want := map[string]struct {
		title string
		h2    []string
	}{
		"en": {"Security notice from Acme – " + id, []string{"What happened", "What data is involved", "What we have done", "What you should do", "Contact", "Updates"}},
		"es": {"Aviso de seguridad de Acme – " + id, []string{"Qué ha pasado", "Qué datos están afectados", "Qué hemos hecho", "Qué te recomendamos hacer", "Contacto", "Novedades"}},
		"de": {"Sicherheitshinweis von Acme – " + id, []string{"Was ist passiert", "Welche Daten betroffen sind", "Was wir getan haben", "Was Sie jetzt tun sollten", "Kontakt", "Aktuelles"}},
	}
	for _, loc := range []string{"en", "es", "de"} {
		t.Run("the "+loc+" page in Chromium", func(t *testing.T) {
			// The bucket is private: CloudFront's origin access signs its
			// reads on AWS, a pre-signed link does here.
			url, err := s.PublicPageLink(ctx, id, loc)
			if err != nil {
				t.Fatal(err)
			}
			dom := br.load(t, url, "public-"+loc)
			w := want[loc]
			if got := attr(dom, "html", "lang"); got != loc {
				t.Errorf("<html lang> = %q, want %q", got, loc)
			}
			if got := text(first(dom, "title")); got != w.title {
				t.Errorf("title = %q, want %q", got, w.title)
			}
			hs := headings(dom)
			if len(hs) == 0 || hs[0].level != 1 || strings.Count(dom, "<h1") != 1 {
				t.Fatalf("headings %+v: want one h1, first", hs)
			}
			var h2 []string
			var h3 []string
			for i, h := range hs {
				if i > 0 && h.level > hs[i-1].level+1 {
					t.Errorf("heading %q (h%d) skips a level after h%d", h.text, h.level, hs[i-1].level)
				}
				switch h.level {
				case 2:
					h2 = append(h2, h.text)
				case 3:
					h3 = append(h3, h.text)
				}
			}
			if !slices.Equal(h2, w.h2) {
				t.Errorf("sections %q, want %q", h2, w.h2)
			}
			// The timeline: both updates, dated, the newest first.
			timeline := dom[strings.Index(dom, `class="timeline"`):]
			newest, oldest := strings.Index(timeline, updates[1]), strings.Index(timeline, updates[0])
			if len(h3) != 2 || newest < 0 || oldest < 0 || newest > oldest {
				t.Errorf("timeline entries %q, newest at %d, oldest at %d: want two dated entries, the newest first", h3, newest, oldest)
			}
			for _, want := range []string{"Unauthorised access to internal systems", id, "8.9.0"} {
				if !strings.Contains(dom, want) {
					t.Errorf("the page does not show %q", want)
				}
			}
			noRemote(t, dom)
		})
	}

	t.Run("the notice emails in Chromium", func(t *testing.T) {
		seen := map[string]bool{}
		for _, m := range emails {
			loc := attr(m.HTML, "html", "lang")
			if seen[loc] {
				continue
			}
			seen[loc] = true
			page := strings.TrimPrefix(s.PublicPage(id, loc), "http://")
			if !strings.Contains(m.Text, page) {
				t.Errorf("the %s email's text does not name the public page %s", loc, page)
			}
			url := br.serve("/email-"+loc+".html", m.HTML)
			dom := br.load(t, url, "email-"+loc)
			body := text(first(dom, "body"))
			for _, want := range []string{id, page} {
				if !strings.Contains(body, want) {
					t.Errorf("the %s email shows no %q", loc, want)
				}
			}
			if len(body) < 300 {
				t.Errorf("the %s email shows %d characters: %q", loc, len(body), body)
			}
			noRemote(t, dom)
		}
		if len(seen) < 2 {
			t.Errorf("emails in %d locales checked, want the demo users' several", len(seen))
		}
	})
}

// noRemote checks a rendered DOM carries nothing that runs or loads
// anything: no script, no stylesheet or import, no http(s) address in an
// attribute, no event handler. (The proxy sees that nothing was loaded;
// this sees that nothing could be.)
func noRemote(t *testing.T, dom string) {
	t.Helper()
	lower := strings.ToLower(dom)
	for _, bad := range []string{"<script", "<link", "@import", "<iframe", "<object", "<embed", "javascript:"} {
		if strings.Contains(lower, bad) {
			t.Errorf("the document contains %s", bad)
		}
	}
	if m := regexp.MustCompile(`<[^>]*\s(src|href|srcset|action|poster|background)\s*=`).FindString(lower); m != "" {
		t.Errorf("an element loads or links something: %s", m)
	}
	if m := regexp.MustCompile(`<[^>]*\son[a-z]+\s*=`).FindString(lower); m != "" {
		t.Errorf("an element carries an event handler: %s", m)
	}
	if m := regexp.MustCompile(`url\(`).FindString(lower); m != "" {
		t.Error("a style loads a resource (url(...))")
	}
}

// browser runs headless Chromium (Debian's chromium package, which make
// tools installs) with every request through a recording proxy.
type browser struct {
	bin, dir string
	proxy    string
	mu       sync.Mutex
	requests []string
	served   map[string]string // path on the proxy's own host -> document
}

const servedHost = "documents.invalid"

// chromiumOwn are the requests Chromium makes of its own accord whatever
// it loads (network time, sign-in, Google's own services), which no flag
// turns off in this version. Whatever a page loads from those hosts
// noRemote refuses in the markup: no src, href, link, @import or url().
var chromiumOwn = regexp.MustCompile(`^(GET http://clients2\.google\.com/time/|CONNECT //(www|accounts)\.google\.com:443$)`)

func newBrowser(t *testing.T) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed: make tools installs Debian's chromium package (apt-get install chromium)")
	}
	b := &browser{bin: bin, dir: t.TempDir(), served: map[string]string{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: b}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	b.proxy = "http://" + l.Addr().String()
	return b
}

// ServeHTTP is the proxy: it records each request Chromium makes, answers
// for servedHost itself and forwards the rest.
func (b *browser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.requests = append(b.requests, r.Method+" "+r.URL.String())
	doc, ok := b.served[r.URL.Path]
	b.mu.Unlock()
	if r.URL.Host == servedHost {
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, doc)
		return
	}
	if r.Method == http.MethodConnect || r.URL.Host == "" {
		http.Error(w, "only plain http is proxied", http.StatusForbidden)
		return
	}
	r.RequestURI = ""
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// serve makes doc available to the browser at the returned address.
func (b *browser) serve(path, doc string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.served[path] = doc
	return "http://" + servedHost + path
}

// load renders url, keeps a screenshot as .local/screenshots/<shot>.png
// and returns the DOM as Chromium built it; the document must be the only
// thing Chromium fetched.
func (b *browser) load(t *testing.T, url, shot string) string {
	t.Helper()
	b.mu.Lock()
	b.requests = nil
	b.mu.Unlock()
	dom := b.run(t, "--dump-dom", url)
	b.mu.Lock()
	fetched := slices.DeleteFunc(slices.Clone(b.requests), func(r string) bool {
		return strings.HasSuffix(r, "/favicon.ico") || chromiumOwn.MatchString(r)
	})
	b.mu.Unlock()
	if doc, _, _ := strings.Cut(url, "?"); len(fetched) != 1 || !strings.HasPrefix(fetched[0], "GET "+doc) {
		t.Errorf("loading %s fetched %q: want the document alone, no remote resources", url, fetched)
	}
	dir := filepath.Join(root, ".local", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(dir, shot+".png")
	b.run(t, "--screenshot="+png, "--window-size=1024,1800", url)
	if fi, err := os.Stat(png); err != nil || fi.Size() == 0 {
		t.Errorf("no screenshot at %s: %v", png, err)
	}
	if !strings.Contains(dom, "<html") {
		t.Fatalf("Chromium returned no document for %s: %.200q", url, dom)
	}
	return dom
}

func (b *browser) run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + b.dir,
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		// Every request, to the local servers too, goes through the proxy.
		"--proxy-server=" + b.proxy, "--proxy-bypass-list=<-loopback>"}, args...)
	cmd := exec.CommandContext(ctx, b.bin, args...)
	// Its own process group, so that its helpers end with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args[len(args)-2:], " "), err, tail(stderr.String(), 2000))
	}
	return string(out)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var (
	tagRE     = regexp.MustCompile(`<[^>]*>`)
	headingRE = regexp.MustCompile(`(?s)<h([1-6])[^>]*>(.*?)</h[1-6]>`)
)

type heading struct {
	level int
	text  string
}

func headings(dom string) []heading {
	var out []heading
	for _, m := range headingRE.FindAllStringSubmatch(dom, -1) {
		out = append(out, heading{level: int(m[1][0] - '0'), text: text(m[2])})
	}
	return out
}

// first is the inner HTML of the first element named tag.
func first(dom, tag string) string {
	m := regexp.MustCompile(fmt.Sprintf(`(?s)<%s[^>]*>(.*?)</%s>`, tag, tag)).FindStringSubmatch(dom)
	if m == nil {
		return ""
	}
	return m[1]
}

func attr(dom, tag, name string) string {
	m := regexp.MustCompile(fmt.Sprintf(`<%s[^>]*\s%s="([^"]*)"`, tag, name)).FindStringSubmatch(dom)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// text is markup's text: tags dropped, entities decoded, spaces collapsed.
func text(markup string) string {
	return strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(markup, " "))), " ")
}

// The timeline's append against DynamoDB (moto): it takes the count its
// publisher read, so a publication that read a stale timeline is refused
// as a conflict instead of publishing a page without the other's entry.
func TestTimelineAppendIsConditional(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	inc := &dynamo.Incidents{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["IncidentsTable"]}
	const id = "INC-TIMELINE-1"
	if err := inc.Create(ctx, incident.Record{Incident: incident.Incident{ID: id, Status: incident.Confirmed, Title: "t"}, State: incident.StateSending}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2014, 5, 27, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		name string
		had  int
		text string
		want error // nil: appended
	}{
		{"the first update", 0, "one", nil},
		{"another publisher who also read none", 0, "stale", incident.ErrUpdatesChanged},
		{"the second update", 1, "two", nil},
		{"another publisher who read one", 1, "stale too", incident.ErrUpdatesChanged},
		{"a count ahead of the timeline", 5, "ahead", incident.ErrUpdatesChanged},
	}
	for i, st := range steps {
		err := inc.AddUpdate(ctx, id, st.had, incident.Update{At: at.Add(time.Duration(i) * time.Minute), Text: st.text, By: "dpo:ann"})
		if !errors.Is(err, st.want) || (st.want == nil && err != nil) {
			t.Errorf("%s: err = %v, want %v", st.name, err, st.want)
		}
		if st.want != nil && errs.KindOf(err) != errs.Conflict {
			t.Errorf("%s: kind %s, want conflict (HTTP 409)", st.name, errs.KindOf(err))
		}
	}
	if err := inc.AddUpdate(ctx, "INC-NO-SUCH", 0, incident.Update{At: at, Text: "x"}); err == nil {
		t.Error("an update was added to an incident that does not exist")
	}
	rec, _, err := inc.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, u := range rec.Updates {
		texts = append(texts, u.Text)
	}
	if !slices.Equal(texts, []string{"one", "two"}) || !rec.Updates[1].At.Equal(at.Add(2*time.Minute)) || rec.Updates[0].By != "dpo:ann" {
		t.Errorf("timeline = %+v, want one then two, as written", rec.Updates)
	}
}
