package tools

import (
	"maps"
	"testing"
	"time"
)

func TestPurgePartitionPlan(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	old := now.Add(-time.Hour)
	// offsets 10..15: replayed, superseded, never replayed, replayed, foreign, replayed
	items := []purgeItem{
		{offset: 10, time: old, original: "o/0/1", journalled: true},
		{offset: 11, time: old, original: "o/0/2"},
		{offset: 12, time: now, original: "o/0/3"},
		{offset: 13, time: old, original: "o/0/4", journalled: true},
		{offset: 14, time: old, foreign: true},
		{offset: 15, time: now, original: "o/0/2", replayCount: 1, journalled: true},
	}
	newest := map[string]int{"o/0/1": 0, "o/0/2": 1, "o/0/3": 0, "o/0/4": 0}
	sp := span{partition: 3, first: 10, end: 16}
	for _, tc := range []struct {
		name    string
		sel     PurgeSelection
		before  int64
		deleted map[string]int
		blocked int
	}{
		{"replayed stops at the first record never replayed", PurgeSelection{Replayed: true}, 12,
			map[string]int{PurgeReplayed: 1, PurgeSuperseded: 1}, 2},
		{"before stops at the first newer record", PurgeSelection{Before: now}, 12, map[string]int{PurgeOlder: 2}, 2},
		{"both: older and replayed", PurgeSelection{Before: now, Replayed: true}, 12,
			map[string]int{PurgeReplayed: 1, PurgeSuperseded: 1}, 1},
		{"everything selected deletes to the end", PurgeSelection{Before: now.Add(time.Hour)}, 16, map[string]int{PurgeOlder: 6}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pp := tc.sel.partitionPlan(sp, items, newest)
			if pp.Partition != 3 || pp.Low != 10 || pp.End != 16 || pp.DeleteBefore != tc.before || !maps.Equal(pp.Deleted, tc.deleted) || pp.Blocked != tc.blocked {
				t.Errorf("plan %+v; want delete up to %d, deleted %v, %d selected kept", pp, tc.before, tc.deleted, tc.blocked)
			}
		})
	}
	if pp := (PurgeSelection{Replayed: true}).partitionPlan(span{first: 5, end: 5}, nil, nil); pp.DeleteBefore != 5 || pp.Deletes() != 0 {
		t.Errorf("empty partition: %+v", pp)
	}
}

func TestJournalKeepsTheLatestReplay(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	j := NewJournal(
		JournalRecord{Topic: "d", Partition: 0, From: 0, To: 3, Replayed: map[string][]int64{"a": {0, 2}}, Group: "g1", At: t0.Add(time.Minute)},
		JournalRecord{Topic: "d", Partition: 0, From: 0, To: 1, Replayed: map[string][]int64{"b": {0}}, Group: "g2", At: t0},
	)
	if r, ok := j.Lookup(0, 0); !ok || r.To != "a" || r.Group != "g1" {
		t.Errorf("offset 0: %+v %v; want the later replay, to a by g1", r, ok)
	}
	if _, ok := j.Lookup(0, 1); ok {
		t.Error("offset 1 was skipped, not replayed")
	}
	if _, ok := (*Journal)(nil).Lookup(0, 0); ok {
		t.Error("a nil journal knows of a replay")
	}
}
