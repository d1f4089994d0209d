package main

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/profile-ingest/profile-ingest/hubsim"
	"github.com/profile-ingest/profile-ingest/profile"
)

func TestExplain(t *testing.T) {
	const ua = "profile-ingest/test"
	big := `{"distinct_id":"big","operations":[{"set":{"pad":"` + strings.Repeat("x", 3<<20) + `"}}]}`
	tests := []struct {
		name     string
		cmd      explainCmd
		stdin    string
		want     string
		wantCode int
	}{
		{
			name:  "accepted and rejected lines, blank lines skipped but counted",
			cmd:   explainCmd{WorkspaceKey: "WORKSPACE_KEY"},
			stdin: "{\"distinct_id\":\"u-42\",\"operations\":[{\"add_email\":\"a@example.com\"},{\"set\":{\"plan\":\"<pro>\"}}],\"event_id\":\"e1\"}\n\n   \r\n{\"distinct_id\":\"u\",\"operations\":[{\"add_email\":\"x y@example.com\"}]}\r\nnot json",
			want: `{"line":1,"event":{"$schema":"2","$insert_id":"e1","$time":0,"env":"WORKSPACE_KEY","distinct_id":"u-42","$user_operations":[{"$append":{"$email":"a@example.com"}},{"$set":{"plan":"<pro>"}}],"properties":{"$ss_sdk_version":"profile-ingest/test"}}}` + "\n" +
				`{"line":4,"rejected":{"reason":"invalid_operation","error":"operations[0].add_email: \"x y@example.com\" is not a valid email","code":400}}` + "\n" +
				`{"line":5,"rejected":{"reason":"invalid_json","error":"invalid JSON at byte 0: unexpected character 'n', expecting a value","code":400}}` + "\n",
			wantCode: exitRejected,
		},
		{
			name:  "insert id from stdin/0/line, record time flag",
			cmd:   explainCmd{WorkspaceKey: "WS", RecordTime: 1714557600000},
			stdin: `{"distinct_id":"u","operations":[]}` + "\n",
			want:  `{"line":1,"event":{"$schema":"2","$insert_id":"` + insertID("stdin", 1) + `","$time":1714557600000,"env":"WS","distinct_id":"u","$user_operations":[],"properties":{"$ss_sdk_version":"profile-ingest/test"}}}` + "\n",
		},
		{
			name:     "a line of several MB",
			cmd:      explainCmd{WorkspaceKey: "WS"},
			stdin:    big + "\n",
			want:     `{"line":1,"rejected":{"reason":"too_large","error":"the event is 3145932 bytes as it would be sent, over the limit of 10240","code":400}}` + "\n",
			wantCode: exitRejected,
		},
		{
			name:     "bad workspace key",
			cmd:      explainCmd{WorkspaceKey: "has space"},
			stdin:    "",
			wantCode: exitUsage,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := tc.cmd.run(strings.NewReader(tc.stdin), &out, ua)
			if got := codeOf(err); got != tc.wantCode {
				t.Fatalf("exit code %d (%v), want %d", got, err, tc.wantCode)
			}
			if out.String() != tc.want {
				t.Errorf("output\n got %s\nwant %s", out.String(), tc.want)
			}
		})
	}
}

func TestExplainFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.jsonl")
	if err := os.WriteFile(a, []byte(`{"distinct_id":"u","operations":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := explainCmd{Files: []string{a, "-"}, WorkspaceKey: "WS"}
	if err := c.run(strings.NewReader(`{"distinct_id":"v","operations":[]}`), &out, "ua"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 ||
		!strings.HasPrefix(lines[0], `{"line":1,"file":"`+a+`","event":{"$schema":"2","$insert_id":"`+insertID(a, 1)+`"`) ||
		!strings.HasPrefix(lines[1], `{"line":1,"event":{"$schema":"2","$insert_id":"`+insertID("stdin", 1)+`"`) {
		t.Errorf("output:\n%s", out.String())
	}
	c = explainCmd{Files: []string{filepath.Join(dir, "missing")}, WorkspaceKey: "WS"}
	if err := c.run(strings.NewReader(""), &out, "ua"); codeOf(err) != exitUsage { // as publish: issue 10
		t.Errorf("missing file: %v, want exit %d", err, exitUsage)
	}
}

func codeOf(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailure
}

func insertID(topic string, line int64) string {
	return profile.InsertIDFor(profile.Origin{Topic: topic, Offset: line})
}

const (
	testDate   = "Mon, 30 Nov 2026 03:31:15 GMT"
	testSecret = "explain-test-secret"
)

// requestOut is one line of explain --requests: a request or a rejected line.
type requestOut struct {
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Headers  map[string]string `json:"headers"`
	Body     *string           `json:"body"`
	Records  int               `json:"records"`
	Lines    [2]int            `json:"lines"`
	Line     int               `json:"line"`
	Rejected *rejection        `json:"rejected"`
}

// runRequests runs explain --requests on stdin with the secret in the environment.
func runRequests(t *testing.T, c explainCmd, stdin string) (string, []requestOut, error) {
	t.Helper()
	t.Setenv("SUPRSEND_WORKSPACE_SECRET", testSecret)
	c.Requests = true
	if c.WorkspaceKey == "" {
		c.WorkspaceKey = "WS"
	}
	if c.MaxRecords == 0 {
		c.MaxRecords = 400
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 819200
	}
	if c.BaseURL == "" {
		c.BaseURL = "https://hub.suprsend.com/"
	}
	if c.Date == "" {
		c.Date = testDate
	}
	var out bytes.Buffer
	err := c.run(strings.NewReader(stdin), &out, "profile-ingest/test")
	var lines []requestOut
	dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
	for dec.More() {
		var l requestOut
		if derr := dec.Decode(&l); derr != nil {
			t.Fatalf("output is not JSON lines: %v\n%s", derr, out.String())
		}
		lines = append(lines, l)
	}
	return out.String(), lines, err
}

// wantAuth signs as the wire protocol (b) says, independently of package sender.
func wantAuth(key, secret, path, date, body string) string {
	sum := md5.Sum([]byte(body))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("POST\n" + hex.EncodeToString(sum[:]) + "\napplication/json; charset=utf-8\n" + date + "\n" + path))
	return key + ":" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func msg(id string, pad int) string {
	return `{"distinct_id":"` + id + `","event_id":"ev-` + id + `","operations":[{"set":{"pad":"` + strings.Repeat("x", pad) + `"}}]}`
}

func TestExplainRequests(t *testing.T) {
	// Events as explain prints them, to build the expected bodies.
	input := msg("u-1", 1) + "\n" + `{"distinct_id":"u-2","operations":[{"add_email":"nope"}]}` + "\n" + msg("u-3", 3) + "\n\n" + msg("u-5", 5) + "\n"
	var evOut bytes.Buffer
	_ = (&explainCmd{WorkspaceKey: "WS"}).run(strings.NewReader(input), &evOut, "profile-ingest/test")
	var events []string
	for _, l := range strings.Split(strings.TrimSpace(evOut.String()), "\n") {
		var v struct{ Event json.RawMessage }
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		if v.Event != nil {
			events = append(events, string(v.Event))
		}
	}
	if len(events) != 3 {
		t.Fatalf("events: %s", evOut.String())
	}

	raw, lines, err := runRequests(t, explainCmd{MaxRecords: 2}, input)
	if codeOf(err) != exitRejected {
		t.Fatalf("exit %d (%v), want %d", codeOf(err), err, exitRejected)
	}
	// Line 2 is refused; lines 1 and 3 fill a request of 2; line 5 closes the input.
	want := []struct {
		line    int
		body    string
		records int
		lines   [2]int
	}{
		{line: 2},
		{body: "[" + events[0] + "," + events[1] + "]", records: 2, lines: [2]int{1, 3}},
		{body: "[" + events[2] + "]", records: 1, lines: [2]int{5, 5}},
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), raw)
	}
	for i, w := range want {
		got := lines[i]
		if w.line != 0 {
			if got.Line != w.line || got.Rejected == nil || got.Rejected.Reason != profile.ReasonInvalidOperation {
				t.Errorf("line %d: %+v, want line %d rejected", i, got, w.line)
			}
			continue
		}
		wantHeaders := map[string]string{
			"Content-Type":  "application/json; charset=utf-8",
			"Date":          testDate,
			"Authorization": wantAuth("WS", testSecret, "/event/", testDate, w.body),
			"User-Agent":    "profile-ingest/test",
		}
		if got.Method != "POST" || got.Path != "/event/" || got.Body == nil || *got.Body != w.body ||
			got.Records != w.records || got.Lines != w.lines || !reflect.DeepEqual(got.Headers, wantHeaders) {
			t.Errorf("request %d:\n got %+v body %q\nwant %+v headers %v", i, got, deref(got.Body), w, wantHeaders)
		}
	}
	if !strings.HasPrefix(raw, `{"line":2,"rejected":`) || !strings.Contains(raw, `{"method":"POST","path":"/event/","headers":{"Content-Type":`) {
		t.Errorf("field order:\n%s", raw)
	}
	again, _, _ := runRequests(t, explainCmd{MaxRecords: 2}, input)
	if again != raw {
		t.Errorf("output differs between runs with --date:\n%s\n%s", raw, again)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestExplainRequestsOptions(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := msg("u", 1) + "\n"
	t.Run("base URL path and secret file", func(t *testing.T) {
		_, lines, err := runRequests(t, explainCmd{BaseURL: "http://hub.local:8080/api", SecretFile: secretFile}, in)
		if err != nil || len(lines) != 1 {
			t.Fatalf("%v %+v", err, lines)
		}
		l := lines[0]
		if l.Path != "/api/event/" || l.Headers["Authorization"] != wantAuth("WS", "from-file", "/api/event/", testDate, *l.Body) {
			t.Errorf("path %q authorization %q", l.Path, l.Headers["Authorization"])
		}
	})
	for _, tc := range []struct {
		name    string
		cmd     explainCmd
		noEnv   bool
		wantMsg []string
	}{
		{"no secret", explainCmd{}, true, []string{"SUPRSEND_WORKSPACE_SECRET", "--secret-file"}},
		{"missing secret file", explainCmd{SecretFile: filepath.Join(dir, "none")}, false, []string{"--secret-file"}},
		{"date not RFC 1123", explainCmd{Date: "2026-11-30T03:31:15Z"}, false, []string{"--date", "GMT"}},
		{"date with the wrong weekday", explainCmd{Date: "Tue, 30 Nov 2026 03:31:15 GMT"}, false, []string{`"Mon, 30 Nov 2026 03:31:15 GMT"`}},
		{"too many records", explainCmd{MaxRecords: 401}, false, []string{"--max-records", "401"}},
		{"too many bytes", explainCmd{MaxBytes: 819201}, false, []string{"--max-bytes", "819201"}},
		{"bad base URL", explainCmd{BaseURL: "hub.suprsend.com"}, false, []string{"--base-url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cmd
			c.Requests, c.WorkspaceKey = true, "WS"
			c.MaxRecords, c.MaxBytes = cmp.Or(c.MaxRecords, 400), cmp.Or(c.MaxBytes, 819200)
			c.BaseURL, c.Date = cmp.Or(c.BaseURL, "https://hub.suprsend.com/"), cmp.Or(c.Date, testDate)
			secret := testSecret
			if tc.noEnv {
				secret = ""
			}
			t.Setenv("SUPRSEND_WORKSPACE_SECRET", secret)
			var out bytes.Buffer
			err := c.run(strings.NewReader(in), &out, "ua")
			if codeOf(err) != exitUsage || out.Len() != 0 {
				t.Fatalf("exit %d (%v), output %q; want %d and no output", codeOf(err), err, out.String(), exitUsage)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not name %s", err, m)
				}
			}
		})
	}
}

// TestExplainRequestsAccepted replays every printed request into hubsim: each is accepted, so
// the path, headers, signature and body are what the platform takes.
func TestExplainRequestsAccepted(t *testing.T) {
	var in strings.Builder
	for i := range 450 {
		fmt.Fprintf(&in, `{"distinct_id":"u-%d","operations":[{"add_email":"u%d@example.com"},{"set":{"plan":"<pro>","n":%d}},{"increment":{"logins":1}}]}`+"\n", i%7, i, i)
	}
	_, lines, err := runRequests(t, explainCmd{WorkspaceKey: "WSKEY"}, in.String())
	if err != nil || len(lines) != 2 {
		t.Fatalf("%v: %d lines", err, len(lines))
	}
	cfg := hubsim.Default()
	cfg.Key, cfg.Secret, cfg.AcceptAnyDate = "WSKEY", testSecret, true
	sim, err := hubsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		r := httptest.NewRequest(l.Method, l.Path, strings.NewReader(*l.Body))
		for k, v := range l.Headers {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		sim.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	if st := sim.Stats(); st.EventsApplied != 450 || st.Profiles != 7 {
		t.Fatalf("hubsim stats %+v", st)
	}
	// A request whose body was changed after signing is refused: the check above means something.
	r := httptest.NewRequest("POST", "/event/", strings.NewReader(strings.Replace(*lines[1].Body, "<pro>", "<max>", 1)))
	for k, v := range lines[1].Headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	sim.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("tampered body: %d", w.Code)
	}
}

func TestExplainRequestsChunking(t *testing.T) {
	lineSet := func(n, pad int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(msg(fmt.Sprintf("u-%04d", i), pad) + "\n")
		}
		return b.String()
	}
	tests := []struct {
		name        string
		input       string
		wantRecords []int
	}{
		{"401 small events: 400 then 1", lineSet(401, 10), []int{400, 1}},
		// Each event is 10000 bytes as sent: 81 of them with their commas and brackets take
		// 810082 bytes, 82 would take 820083 (the SDK's rule gives 81/81/38 as well).
		{"200 events of 10000 bytes: the byte limit", lineSet(200, 9820), []int{81, 81, 38}},
		{"--max-bytes cuts smaller bodies", lineSet(10, 9820), []int{4, 4, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := explainCmd{}
			if strings.HasPrefix(tc.name, "--max-bytes") {
				c.MaxBytes = 4*10000 + 3 + 2 + 1000 // four events, not five
			}
			raw, lines, err := runRequests(t, c, tc.input)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			next := 1
			for i, l := range lines {
				if l.Body == nil {
					t.Fatalf("line %d is not a request: %s", i, raw)
				}
				got = append(got, l.Records)
				if len(*l.Body) > cmp.Or(c.MaxBytes, 819200) || l.Records > 400 {
					t.Errorf("request %d: %d bytes, %d records", i, len(*l.Body), l.Records)
				}
				if l.Lines != [2]int{next, next + l.Records - 1} {
					t.Errorf("request %d lines %v, want [%d %d]", i, l.Lines, next, next+l.Records-1)
				}
				next += l.Records
				var evs []json.RawMessage
				if err := json.Unmarshal([]byte(*l.Body), &evs); err != nil || len(evs) != l.Records {
					t.Fatalf("request %d: body of %d events (%v), records %d", i, len(evs), err, l.Records)
				}
				if n := len(evs[0]); tc.name != "401 small events: 400 then 1" && n != 10000 {
					t.Fatalf("events are %d bytes, the test assumes 10000", n)
				}
				// A request closed by bytes could not have taken the next event.
				if i < len(lines)-1 && l.Records < 400 {
					var nextEvs []json.RawMessage
					_ = json.Unmarshal([]byte(*lines[i+1].Body), &nextEvs)
					if len(*l.Body)+1+len(nextEvs[0]) <= cmp.Or(c.MaxBytes, 819200) {
						t.Errorf("request %d closed at %d bytes though the next event (%d bytes) fit", i, len(*l.Body), len(nextEvs[0]))
					}
				}
			}
			if !reflect.DeepEqual(got, tc.wantRecords) {
				t.Errorf("records per request %v, want %v", got, tc.wantRecords)
			}
		})
	}
}
