package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	if err := c.run(strings.NewReader(""), &out, "ua"); codeOf(err) != exitFailure {
		t.Errorf("missing file: %v", err)
	}
}

func codeOf(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return exitFailure
}

func insertID(topic string, line int64) string {
	return profile.InsertIDFor(profile.Origin{Topic: topic, Offset: line})
}
