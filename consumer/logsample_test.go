package consumer

import (
	"maps"
	"slices"
	"testing"
	"time"
)

func TestLogSamplerLimitsLinesPerReasonAndWindow(t *testing.T) {
	s := newLogSampler(2, time.Minute)
	t0 := time.Unix(1700000000, 0)
	var got []bool
	for i, reason := range []string{"invalid_json", "invalid_json", "invalid_json", "rejected", "invalid_json"} {
		ok, last := s.allow(reason, t0.Add(time.Duration(i)*time.Second))
		if last != nil {
			t.Fatalf("line %d: a summary %v inside the first window", i, last)
		}
		got = append(got, ok)
	}
	if want := []bool{true, true, false, true, false}; !slices.Equal(got, want) {
		t.Fatalf("allowed %v, want %v: two per reason", got, want)
	}
	ok, last := s.allow("invalid_json", t0.Add(time.Minute))
	if !ok || !maps.Equal(last, map[string]int{"invalid_json": 2}) {
		t.Fatalf("next window: allowed %v, summary %v; want allowed and invalid_json 2 suppressed", ok, last)
	}
	if last := s.reset(t0.Add(2 * time.Minute)); last != nil {
		t.Fatalf("a window without suppression summarised %v", last)
	}
}
