//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestPublishCommand: `profile-ingest publish` refuses a file with an invalid line and publishes
// nothing; a valid file (or stdin) arrives in order, keyed by distinct_id, on the partition the
// Java client would choose; --allow-invalid publishes the bad lines too.
func TestPublishCommand(t *testing.T) {
	brokers := Brokers(t)
	bin := Binary(t, "profile-ingest")
	dir := t.TempDir()
	good := `{"distinct_id":"u-1","operations":[{"set":{"n":1}}]}
{"distinct_id":" u-2 ","operations":[{"add_email":"a@example.com"}]}

{"distinct_id":"u-1","operations":[{"set":{"n":2}}]}
`
	bad := good + `{"distinct_id":"u-3","operations":[{"add_email":"nope"}]}
`
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	publishArgs := func(topic string, more ...string) []string {
		return append([]string{"publish", "--brokers", strings.Join(brokers, ","), "--topic", topic}, more...)
	}

	t.Run("invalid file publishes nothing", func(t *testing.T) {
		topic := NewTopic(t, brokers, 3)
		p := Start(t, nil, bin, publishArgs(topic, write("bad.jsonl", bad))...)
		if code := p.Wait(time.Minute); code != 3 {
			t.Fatalf("exit %d, want 3", code)
		}
		if !strings.Contains(p.Output(), `line 5: operations[0].add_email: "nope" is not a valid email`) {
			t.Errorf("the error does not name the line and the rule:\n%s", p.Output())
		}
		if n := len(ReadAll(t, brokers, topic)); n != 0 {
			t.Fatalf("%d records published from a refused file", n)
		}
	})

	t.Run("valid file in order, keyed, murmur2 partitions", func(t *testing.T) {
		topic := NewTopic(t, brokers, 3)
		p := Start(t, nil, bin, publishArgs(topic, write("good.jsonl", good))...)
		if code := p.Wait(time.Minute); code != 0 {
			t.Fatalf("exit %d, want 0", code)
		}
		msgs := ReadAll(t, brokers, topic)
		if len(msgs) != 3 {
			t.Fatalf("%d records, want 3", len(msgs))
		}
		want := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte("u-1")}, 0, 1, 2)
		var u1 []string
		for _, m := range msgs {
			if string(m.Key) == "u-1" {
				u1 = append(u1, string(m.Value))
				if m.Partition != want {
					t.Errorf("u-1 on partition %d, want %d as the Java client", m.Partition, want)
				}
			}
			if string(m.Key) == " u-2 " {
				t.Errorf("key not trimmed")
			}
		}
		if len(u1) != 2 || !strings.Contains(u1[0], `"n":1`) || !strings.Contains(u1[1], `"n":2`) {
			t.Errorf("u-1's records out of order: %v", u1)
		}
	})

	t.Run("stdin with --allow-invalid", func(t *testing.T) {
		topic := NewTopic(t, brokers, 1)
		p := Start(t, nil, "/bin/sh", "-c", bin+" "+strings.Join(publishArgs(topic, "--allow-invalid", "-"), " ")+" < "+write("stdin.jsonl", bad))
		if code := p.Wait(time.Minute); code != 0 {
			t.Fatalf("exit %d, want 0:\n%s", code, p.Output())
		}
		if n := len(ReadAll(t, brokers, topic)); n != 4 {
			t.Fatalf("%d records, want all 4", n)
		}
		if !strings.Contains(p.Output(), "1 invalid") {
			t.Errorf("the summary does not count the invalid line: %s", p.Output())
		}
	})

	// A history of 5,000 lines in writes cut by --batch-bytes (about 20 records each) arrives
	// whole and in order.
	t.Run("many writes, cut by bytes, in order", func(t *testing.T) {
		topic := NewTopic(t, brokers, 1)
		var history strings.Builder
		for i := range 5000 {
			fmt.Fprintf(&history, `{"distinct_id":"u-%d","operations":[{"set":{"seq":%d}}]}`+"\n", i%7, i)
		}
		p := Start(t, nil, bin, publishArgs(topic, "--batch-bytes", "1000", write("history.jsonl", history.String()))...)
		if code := p.Wait(2 * time.Minute); code != 0 {
			t.Fatalf("exit %d, want 0:\n%s", code, p.Output())
		}
		msgs := ReadAll(t, brokers, topic)
		if len(msgs) != 5000 {
			t.Fatalf("%d records, want 5000", len(msgs))
		}
		for i, m := range msgs {
			if want := fmt.Sprintf(`"seq":%d}`, i); !strings.Contains(string(m.Value), want) {
				t.Fatalf("record %d is %s: out of file order", i, m.Value)
			}
		}
	})
}

// TestPublishResumesFromTheLineItPrints: a publish that fails part-way says which lines are
// published and the --from-line that resumes it; resumed there after the bad line is fixed,
// every line of the file is on the topic once, in order.
func TestPublishResumesFromTheLineItPrints(t *testing.T) {
	brokers := Brokers(t)
	bin := Binary(t, "profile-ingest")
	topic := UniqueName(t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Client(brokers).CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "4000"}}}}})
	if err != nil || res.Errors[topic] != nil {
		t.Fatalf("create %s: %v %v", topic, err, res.Errors[topic])
	}
	t.Cleanup(func() { deleteTopic(brokers, topic) })
	line := func(i int, pad int) string {
		return fmt.Sprintf(`{"distinct_id":"u-%d","operations":[{"set":{"seq":%d,"pad":%q}}]}`, i%3, i, strings.Repeat("x", pad))
	}
	var body strings.Builder
	for i := 1; i <= 100; i++ {
		pad := 10
		if i == 45 {
			pad = 6000 // over the topic's max.message.bytes
		}
		body.WriteString(line(i, pad) + "\n")
	}
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(path, []byte(body.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"publish", "--brokers", strings.Join(brokers, ","), "--topic", topic, "--batch-size", "10"}
	p := Start(t, nil, bin, append(args, path)...)
	if code := p.Wait(time.Minute); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, p.Output())
	}
	want := "published 40 records, every line before " + path + " line 41; resume with: profile-ingest publish [the same flags] --from-line 41 " + path
	if !strings.Contains(p.Output(), want) {
		t.Fatalf("the failure does not say how to resume (%q):\n%s", want, p.Output())
	}
	if n := len(ReadAll(t, brokers, topic)); n != 40 {
		t.Fatalf("%d records after the failure, want the 40 it says", n)
	}
	fixed := strings.Replace(body.String(), line(45, 6000), line(45, 10), 1)
	if err := os.WriteFile(path, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	p = Start(t, nil, bin, append(args, "--from-line", "41", path)...)
	if code := p.Wait(time.Minute); code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, p.Output())
	}
	msgs := ReadAll(t, brokers, topic)
	if len(msgs) != 100 {
		t.Fatalf("%d records after the resume, want 100", len(msgs))
	}
	for i, m := range msgs {
		if !strings.Contains(string(m.Value), fmt.Sprintf(`"seq":%d,`, i+1)) {
			t.Fatalf("record %d is %s: a line missing or twice", i, m.Value)
		}
	}
}
