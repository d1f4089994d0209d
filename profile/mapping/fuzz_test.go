package mapping

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/profile-ingest/profile-ingest/profile"
)

// checkVerdict holds for every input: an event within the size limit, a skip, or a
// *profile.Error with a reason; never a panic.
func checkVerdict(t *testing.T, ev profile.Event, err error) {
	var s *profile.Skip
	var pe *profile.Error
	switch {
	case err == nil:
		if len(ev.Body) == 0 || len(ev.Body) > profile.MaxEventBytes || ev.InsertID == "" || ev.DistinctID == "" {
			t.Fatalf("bad event %v", ev)
		}
	case errors.As(err, &s):
		if s.Reason == "" {
			t.Fatal("a skip without a reason")
		}
	case errors.As(err, &pe):
		if pe.Reason == "" {
			t.Fatal("an error without a reason")
		}
	default:
		t.Fatalf("error of another type: %T %v", err, err)
	}
}

func FuzzDebezium(f *testing.F) {
	for _, name := range []string{"debezium-pg15-users-schemas-false.tsv", "debezium-pg15-users-schemas-true.tsv", "debezium-pg15-users_default-schemas-false.tsv"} {
		raw, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			k, v, _ := strings.Cut(line, "\t")
			f.Add([]byte(k), []byte(v))
		}
	}
	m, err := Parse([]byte(usersMapping), FormatDebezium)
	if err != nil {
		f.Fatal(err)
	}
	d, err := NewDebezium(m, testOpts, func(string) {})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		ev, err := d.Decode(value, profile.Origin{Topic: "t", Key: key})
		checkVerdict(t, ev, err)
	})
}

func FuzzSegment(f *testing.F) {
	f.Add([]byte(specIdentify))
	f.Add([]byte(`{"type":"track","userId":"u"}`))
	f.Add([]byte(`{"type":"identify","anonymousId":"a"}`))
	f.Add([]byte(`{"type":"identify","userId":7,"traits":{"email":"a@b.co","phone":null,"x":[1]}}`))
	m, err := Parse([]byte("channels: {androidpush: {field: context.device.token}, slack: traits.slack}\npreferred_language: traits.language\n"), FormatSegment)
	if err != nil {
		f.Fatal(err)
	}
	s, err := NewSegment(m, testOpts)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		ev, err := s.Decode(value, profile.Origin{Topic: "t"})
		checkVerdict(t, ev, err)
	})
}
