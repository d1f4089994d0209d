package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// explain --format debezium|segment --mapping FILE shows what a message becomes: an event, a
// skip (committed past) or a rejection naming the source field.
func TestExplainFormats(t *testing.T) {
	dir := t.TempDir()
	mf := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(mf, []byte("distinct_id: id\nchannels: {email: email}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := `{"before":null,"after":{"id":7,"email":"a@example.com","plan":"pro"},"source":{"table":"users","lsn":5,"ts_ms":1000},"op":"c"}` + "\n" +
		`{"before":{"id":7,"email":"a@example.com","plan":"pro"},"after":{"id":7,"email":"a@example.com","plan":"pro"},"source":{"table":"users","lsn":6},"op":"u"}` + "\n" +
		`{"before":null,"after":{"id":8,"email":"bad"},"source":{"table":"users","lsn":7},"op":"c"}` + "\n"
	var out bytes.Buffer
	c := explainCmd{WorkspaceKey: "WS", Format: "debezium", Mapping: mf}
	err := c.run(strings.NewReader(in), &out, "ua/1")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitRejected {
		t.Fatalf("exit %v, want exitRejected", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 ||
		!strings.Contains(lines[0], `"distinct_id":"7","$user_operations":[{"$append":{"$email":"a@example.com"}},{"$set":{"plan":"pro"}}]`) ||
		!strings.Contains(lines[0], `"$time":1000`) ||
		lines[1] != `{"line":2,"skipped":{"reason":"no_change","msg":"no mapped column of users changed"}}` ||
		!strings.Contains(lines[2], `"error":"after.email (as add_email): \"bad\" is not a valid email"`) {
		t.Fatalf("got\n%s", out.String())
	}

	out.Reset()
	c = explainCmd{WorkspaceKey: "WS", Format: "segment"}
	if err := c.run(strings.NewReader(`{"type":"identify","userId":"u","messageId":"m","traits":{"phone":"+14155550100"}}`+"\n"+`{"type":"screen","userId":"u"}`+"\n"), &out, "ua/1"); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, `"$insert_id":"m"`) || !strings.Contains(got, `{"$append":{"$sms":"+14155550100"}}`) || !strings.Contains(got, `"skipped":{"reason":"segment_screen"`) {
		t.Fatalf("got\n%s", got)
	}

	for _, bad := range []explainCmd{{WorkspaceKey: "WS", Format: "debezium"}, {WorkspaceKey: "WS", Format: "mutation", Mapping: mf}} {
		err := bad.run(strings.NewReader(""), &out, "ua/1")
		if !errors.As(err, &ee) || ee.code != exitUsage {
			t.Errorf("%+v: %v, want exitUsage", bad, err)
		}
	}
	if err := os.WriteFile(mf, []byte("distinct_id: id\nchannels: {email: email, sms: email}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = explainCmd{WorkspaceKey: "WS", Format: "debezium", Mapping: mf}
	if err := c.run(strings.NewReader(""), &out, "ua/1"); !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), `channels.sms: field "email" is already mapped by channels.email`) {
		t.Errorf("a bad mapping: %v", err)
	}
}
