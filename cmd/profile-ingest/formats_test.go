package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/profile-ingest/profile-ingest/config"
	"github.com/profile-ingest/profile-ingest/profile"
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

// The worker validates every mapping once, before it touches Kafka, and exits 2 naming the
// topic, the file, the YAML path and the rule.
func TestRunRefusesABadMappingAtStart(t *testing.T) {
	mf := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(mf, []byte("distinct_id: id\nchannels: {iospush: {field: t, provider: fcm}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Kafka.Brokers = []string{"127.0.0.1:1"} // never dialled
	cfg.Kafka.Topics = []string{"users"}
	cfg.Kafka.Formats = map[string]config.TopicFormat{"users": {Format: "debezium", Mapping: mf}}
	cfg.SuprSend.WorkspaceKey, cfg.SuprSend.Secret = "k", "s"
	err := runWorker(t.Context(), cfg, zerolog.Nop(), os.Stdout)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitUsage ||
		err.Error() != "config: kafka.formats.users: mapping "+mf+`: channels.iospush.provider: "fcm" is not a provider of this channel: use apns` {
		t.Fatalf("got %v", err)
	}
}

// Each topic is decoded in its own format.
func TestTopicDecodersPickByTopic(t *testing.T) {
	k := config.Kafka{Topics: []string{"m", "seg"}, Formats: map[string]config.TopicFormat{"seg": {Format: "segment"}}}
	mutation, err := profile.NewDecoder(profile.Options{WorkspaceKey: "k", UserAgent: "ua"})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := topicDecoders(k, mutation, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	seg := []byte(`{"type":"identify","userId":"u","traits":{"email":"a@example.com"}}`)
	if _, err := dec(nil, seg, profile.Origin{Topic: "seg"}); err != nil {
		t.Errorf("segment topic: %v", err)
	}
	var pe *profile.Error
	if _, err := dec(nil, seg, profile.Origin{Topic: "m"}); !errors.As(err, &pe) || pe.Reason != profile.ReasonInvalidMessage {
		t.Errorf("mutation topic given a Segment call: %v, want invalid_message", err)
	}
	if _, err := dec(nil, []byte(`{"distinct_id":"u","operations":[]}`), profile.Origin{Topic: "m"}); err != nil {
		t.Errorf("mutation topic: %v", err)
	}
}
