package publish

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/profile"
)

type captureWriter struct {
	msgs   []kafka.Message
	err    error
	closed bool
}

func (w *captureWriter) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	w.msgs = append(w.msgs, msgs...)
	return w.err
}

func (w *captureWriter) Close() error { w.closed = true; return nil }

func TestPublish(t *testing.T) {
	tests := []struct {
		name      string
		ms        []*profile.Mutation
		writeErr  error
		wantErr   string
		wantKeys  []string
		wantValue []string
	}{
		{
			name:      "single, event id given",
			ms:        []*profile.Mutation{profile.NewMutation(" u-42 ").WithEventID("e1").AddEmail("a@example.com")},
			wantKeys:  []string{"u-42"},
			wantValue: []string{`{"distinct_id":" u-42 ","operations":[{"add_email":"a@example.com"}],"event_id":"e1"}`},
		},
		{
			name:      "bulk, event ids generated, order kept",
			ms:        []*profile.Mutation{profile.NewMutation("a").Set("x", 1), profile.NewMutation("b").Unset("$sms")},
			wantKeys:  []string{"a", "b"},
			wantValue: []string{`{"distinct_id":"a","operations":[{"set":{"x":1}}],"event_id":"id-1"}`, `{"distinct_id":"b","operations":[{"unset":["$sms"]}],"event_id":"id-2"}`},
		},
		{
			name:    "one invalid mutation: nothing written",
			ms:      []*profile.Mutation{profile.NewMutation("a").Set("x", 1), profile.NewMutation("b").AddEmail("nope")},
			wantErr: `publish: mutation 1: operations[0].add_email: "nope" is not a valid email`,
		},
		{
			name:     "write failure returned",
			ms:       []*profile.Mutation{profile.NewMutation("a").Set("x", 1)},
			writeErr: kafka.LeaderNotAvailable,
			wantErr:  "publish: write 1 mutations: [5] Leader Not Available",
			wantKeys: []string{"a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &captureWriter{err: tc.writeErr}
			n := 0
			p, err := New(Config{}, WithMessageWriter(w), WithEventIDs(func() string { n++; return "id-" + string(rune('0'+n)) }))
			if err != nil {
				t.Fatal(err)
			}
			err = p.Publish(context.Background(), tc.ms...)
			if got := errString(err); !strings.HasPrefix(got, tc.wantErr) || (got == "") != (tc.wantErr == "") {
				t.Fatalf("Publish() error = %q, want %q", got, tc.wantErr)
			}
			if len(w.msgs) != len(tc.wantKeys) {
				t.Fatalf("wrote %d records, want %d", len(w.msgs), len(tc.wantKeys))
			}
			for i, m := range w.msgs {
				if string(m.Key) != tc.wantKeys[i] {
					t.Errorf("record %d key %q, want %q", i, m.Key, tc.wantKeys[i])
				}
				if tc.wantValue != nil && string(m.Value) != tc.wantValue[i] {
					t.Errorf("record %d value\n got %s\nwant %s", i, m.Value, tc.wantValue[i])
				}
			}
			var me *MutationError
			if errors.As(err, &me) {
				var pe *profile.Error
				if !errors.As(err, &pe) || pe.Reason != profile.ReasonInvalidOperation {
					t.Errorf("MutationError does not unwrap to the *profile.Error: %v", err)
				}
			}
		})
	}
}

func TestNewWriter(t *testing.T) {
	p, err := New(Config{Brokers: []string{"localhost:9092"}, Topic: "profile-mutations"})
	if err != nil {
		t.Fatal(err)
	}
	w, ok := p.w.(*kafka.Writer)
	if !ok {
		t.Fatalf("writer is %T", p.w)
	}
	if _, ok := w.Balancer.(*kafka.Murmur2Balancer); !ok {
		t.Errorf("balancer is %T, want *kafka.Murmur2Balancer (the Java client's partitioner)", w.Balancer)
	}
	if w.RequiredAcks != kafka.RequireAll {
		t.Errorf("RequiredAcks = %v, want RequireAll", w.RequiredAcks)
	}
	if w.Topic != "profile-mutations" || w.AllowAutoTopicCreation {
		t.Errorf("topic %q, auto-create %v", w.Topic, w.AllowAutoTopicCreation)
	}
	_ = p.Close()

	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Topic: "t"}, "publish: Config.Brokers is empty"},
		{Config{Brokers: []string{"b:9092"}}, "publish: Config.Topic is empty"},
		{Config{Brokers: []string{""}, Topic: "t"}, "publish: Config.Brokers[0] is empty"},
		{Config{Brokers: []string{"b:9092"}, Topic: "t", RequiredAcks: 2}, "publish: Config.RequiredAcks 2 is not -1, 0 or 1"},
	} {
		if _, err := New(tc.cfg); errString(err) != tc.want {
			t.Errorf("New(%+v) error = %v, want %s", tc.cfg, err, tc.want)
		}
	}
}

// Keys land where the Java client's default partitioner puts them:
// toPositive(Utils.murmur2(key)) % partitions, with murmur2 values from Kafka's UtilsTest.
func TestPartitionLikeJava(t *testing.T) {
	b := &kafka.Murmur2Balancer{}
	parts := make([]int, 1000)
	for i := range parts {
		parts[i] = i
	}
	for key, javaMurmur2 := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"abc":                        479470107,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
	} {
		want := int(uint32(javaMurmur2)&0x7fffffff) % len(parts)
		if got := b.Balance(kafka.Message{Key: []byte(key)}, parts...); got != want {
			t.Errorf("key %q: partition %d, Java's is %d", key, got, want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
