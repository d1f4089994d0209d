package consumer

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestOffsetsCommitOnlyContiguousResolved(t *testing.T) {
	tp := TopicPartition{"t", 3}
	tests := []struct {
		name    string
		start   int64
		add     []int64
		resolve []int64
		want    int64 // Next after the steps; -1 none
	}{
		{"nothing fetched keeps the group's position", 40, nil, nil, 40},
		{"unknown start waits for the first record", -1, nil, nil, -1},
		{"unknown start, first record unresolved", -1, []int64{7, 8}, nil, 7},
		{"all resolved in order", 0, []int64{0, 1, 2}, []int64{0, 1, 2}, 3},
		{"a hole blocks later resolutions", 0, []int64{0, 1, 2, 3}, []int64{0, 2, 3}, 1},
		{"the hole filled releases everything", 0, []int64{0, 1, 2, 3}, []int64{3, 2, 0, 1}, 4},
		{"gaps in offsets (compaction) are skipped", 10, []int64{12, 15, 16}, []int64{12, 15}, 16},
		{"nothing resolved at a gap commits up to the gap", 10, []int64{12}, nil, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOffsets()
			o.Assign(tp, tc.start)
			for _, off := range tc.add {
				if err := o.Add(tp, off); err != nil {
					t.Fatal(err)
				}
			}
			for _, off := range tc.resolve {
				if err := o.Resolve(tp, off); err != nil {
					t.Fatal(err)
				}
			}
			if got := o.Next(tp); got != tc.want {
				t.Errorf("Next = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestOffsetsRejectsMisuse(t *testing.T) {
	tp := TopicPartition{"t", 0}
	o := NewOffsets()
	o.Assign(tp, 5)
	if err := o.Add(tp, 4); err == nil {
		t.Error("a record before the committed position was accepted")
	}
	if err := o.Add(TopicPartition{"t", 1}, 0); err == nil {
		t.Error("a record of an unassigned partition was accepted")
	}
	if err := o.Add(tp, 5); err != nil {
		t.Fatal(err)
	}
	if err := o.Add(tp, 5); err == nil {
		t.Error("a record added twice was accepted")
	}
	if err := o.Resolve(tp, 6); err == nil {
		t.Error("resolving a record never added was accepted")
	}
	if err := o.Resolve(tp, 5); err != nil {
		t.Fatal(err)
	}
	if err := o.Resolve(tp, 5); err == nil {
		t.Error("resolving a record twice was accepted")
	}
}

func TestOffsetsCommittableReportsOnlyProgress(t *testing.T) {
	a, b := TopicPartition{"a", 0}, TopicPartition{"b", 2}
	o := NewOffsets()
	o.Assign(a, 0)
	o.Assign(b, 100)
	if c := o.Committable(); c != nil {
		t.Fatalf("fresh tracker has %v to commit", c)
	}
	for _, off := range []int64{0, 1} {
		_ = o.Add(a, off)
	}
	_ = o.Add(b, 100)
	_ = o.Resolve(a, 0)
	_ = o.Resolve(b, 100)
	want := map[string]map[int]int64{"a": {0: 1}, "b": {2: 101}}
	got := o.Committable()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Committable = %v, want %v", got, want)
	}
	o.Committed(got)
	if c := o.Committable(); c != nil {
		t.Fatalf("after commit, %v left to commit", c)
	}
	if p := o.Pending(a); p != 1 {
		t.Errorf("Pending(a) = %d, want 1", p)
	}
}

// TestOffsetsRandomResolutionOrder checks against a model: whatever order records resolve in, the
// commit point is the first unresolved offset, and never moves backwards.
func TestOffsetsRandomResolutionOrder(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		tp := TopicPartition{"t", 0}
		o := NewOffsets()
		o.Assign(tp, 0)
		n := 1 + rng.IntN(3000)
		offsets := make([]int64, n)
		var off int64
		for i := range offsets {
			off += 1 + int64(rng.IntN(3)) // gaps, as compaction leaves
			offsets[i] = off
			if err := o.Add(tp, off); err != nil {
				t.Fatal(err)
			}
		}
		resolved := make(map[int64]bool, n)
		prev := int64(-1)
		for _, i := range rng.Perm(n) {
			if err := o.Resolve(tp, offsets[i]); err != nil {
				t.Fatal(err)
			}
			resolved[offsets[i]] = true
			// The commit point follows the last record of the resolved prefix; before any, it is
			// the first record's offset.
			want := offsets[0]
			for _, x := range offsets {
				if !resolved[x] {
					break
				}
				want = x + 1
			}
			got := o.Next(tp)
			if got != want {
				t.Fatalf("seed %d: Next = %d, want %d", seed, got, want)
			}
			if got < prev {
				t.Fatalf("seed %d: commit point moved back from %d to %d", seed, prev, got)
			}
			prev = got
		}
		if o.Pending(tp) != 0 {
			t.Fatalf("seed %d: %d pending after all resolved", seed, o.Pending(tp))
		}
	}
}

// TestSkipMovesPastOffsetsWithoutRecords: offsets that carry no record (a transaction marker,
// aborted records, where a partition without a commit starts) become committable once the
// records before them resolve, never before.
func TestSkipMovesPastOffsetsWithoutRecords(t *testing.T) {
	tp := TopicPartition{"t", 0}
	o := NewOffsets()
	o.Assign(tp, -1)
	if err := o.Skip(tp, 5); err != nil || o.Next(tp) != 5 {
		t.Fatalf("Skip to 5 with nothing pending: next %d (%v), want 5", o.Next(tp), err)
	}
	for _, off := range []int64{5, 6} {
		if err := o.Add(tp, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Skip(tp, 10); err != nil { // 7..9: a marker and aborted records
		t.Fatal(err)
	}
	if err := o.Add(tp, 10); err != nil {
		t.Fatalf("a record at the skipped-to offset: %v", err)
	}
	if err := o.Resolve(tp, 6); err != nil || o.Next(tp) != 5 {
		t.Fatalf("after resolving 6 only: next %d (%v), want 5", o.Next(tp), err)
	}
	if err := o.Resolve(tp, 5); err != nil || o.Next(tp) != 10 {
		t.Fatalf("after resolving 5 and 6: next %d (%v), want 10, past the skipped offsets", o.Next(tp), err)
	}
	if err := o.Resolve(tp, 10); err != nil || o.Next(tp) != 11 {
		t.Fatalf("after resolving 10: next %d (%v), want 11", o.Next(tp), err)
	}
	if err := o.Skip(tp, 3); err != nil || o.Next(tp) != 11 {
		t.Fatalf("a skip behind the position moved it: next %d (%v)", o.Next(tp), err)
	}
	if err := o.Add(tp, 12); err != nil || o.Skip(tp, 12) != nil || o.Skip(tp, 13) != nil {
		t.Fatal("skip up to the last record added")
	}
	if err := o.Resolve(tp, 12); err != nil || o.Next(tp) != 13 {
		t.Fatalf("next %d (%v), want 13", o.Next(tp), err)
	}
	if err := o.Skip(TopicPartition{"t", 9}, 1); err == nil {
		t.Error("Skip of an unassigned partition succeeded")
	}
}
