package batcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// body returns a compact JSON object of exactly n bytes (n >= 8).
func body(n int) []byte {
	return []byte(`{"p":"` + strings.Repeat("x", n-8) + `"}`)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"default is valid", func(*Config) {}, ""},
		{"zero records", func(c *Config) { c.MaxRecords = 0 }, "MaxRecords 0"},
		{"over platform records", func(c *Config) { c.MaxRecords = 401 }, "MaxRecords 401"},
		{"over platform bytes", func(c *Config) { c.MaxBytes = 819201 }, "MaxBytes 819201"},
		{"bytes too small for brackets", func(c *Config) { c.MaxBytes = 2 }, "MaxBytes 2"},
		{"negative linger", func(c *Config) { c.Linger = -time.Second }, "Linger -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			_, err := New(c)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want it to name %q", err, tt.wantErr)
			}
		})
	}
}

func TestAdd(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config
		sizes       []int
		wantErr     error         // error from the last Add
		wantReasons []FlushReason // reasons of chunks closed by Add calls, in order
		wantLen     int           // records left open
	}{
		{"count closes at MaxRecords", Config{MaxRecords: 3, MaxBytes: 1000}, []int{10, 10, 10, 10}, nil, []FlushReason{FlushCount}, 1},
		{"bytes closes before overflow", Config{MaxRecords: 400, MaxBytes: 25}, []int{10, 10, 10}, nil, []FlushReason{FlushBytes}, 1},
		{"exact fit stays open", Config{MaxRecords: 400, MaxBytes: 23}, []int{10, 10}, nil, nil, 2},
		{"one byte over closes", Config{MaxRecords: 400, MaxBytes: 22}, []int{10, 10}, nil, []FlushReason{FlushBytes}, 1},
		{"bytes then count in one Add", Config{MaxRecords: 1, MaxBytes: 100}, []int{10, 10}, nil, []FlushReason{FlushCount, FlushCount}, 0},
		{"record alone too large", Config{MaxRecords: 400, MaxBytes: 20}, []int{19}, ErrRecordTooLarge, nil, 0},
		{"largest record that fits", Config{MaxRecords: 400, MaxBytes: 20}, []int{18}, nil, nil, 1},
		{"10240-byte records at platform limits", Default(), repeat(10240, 81), nil, []FlushReason{FlushBytes}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var reasons []FlushReason
			for i, n := range tt.sizes {
				chunks, err := b.Add(Record{Key: "k", Body: body(n), Ref: uint64(i)})
				if i == len(tt.sizes)-1 && tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("Add error = %v, want %v", err, tt.wantErr)
					}
				} else if err != nil {
					t.Fatalf("Add #%d: %v", i, err)
				}
				for _, c := range chunks {
					checkChunk(t, tt.cfg, c)
					reasons = append(reasons, c.Reason)
				}
			}
			if fmt.Sprint(reasons) != fmt.Sprint(tt.wantReasons) {
				t.Errorf("flush reasons = %v, want %v", reasons, tt.wantReasons)
			}
			if b.Len() != tt.wantLen {
				t.Errorf("Len = %d, want %d", b.Len(), tt.wantLen)
			}
		})
	}
}

func repeat(n, times int) []int {
	out := make([]int, times)
	for i := range out {
		out[i] = n
	}
	return out
}

// checkChunk asserts the chunk's limits and that its body is its records' bodies in brackets.
func checkChunk(t *testing.T, cfg Config, c Chunk) {
	t.Helper()
	if len(c.Records) == 0 || len(c.Records) > cfg.MaxRecords {
		t.Fatalf("chunk has %d records, limit %d", len(c.Records), cfg.MaxRecords)
	}
	if len(c.Body) > cfg.MaxBytes {
		t.Fatalf("chunk body has %d bytes, limit %d", len(c.Body), cfg.MaxBytes)
	}
	if want := Encode(c.Records); !bytes.Equal(c.Body, want) {
		t.Fatalf("chunk body differs from its records' encoding")
	}
}

func TestFlushAndDeadline(t *testing.T) {
	b, _ := New(Default())
	if _, ok := b.Flush(FlushShutdown); ok {
		t.Fatal("Flush of an empty batcher returned a chunk")
	}
	if _, ok := b.Deadline(); ok {
		t.Fatal("Deadline reported for an empty batcher")
	}
	caller := []byte(`{"a":1}`)
	b.Add(Record{Key: "u1", Body: caller, Ref: 7})
	copy(caller, `{"b":2}`) // the caller reuses its buffer
	c, ok := b.Flush(FlushRevoke)
	if !ok || c.Reason != FlushRevoke || string(c.Body) != `[{"a":1}]` || c.Records[0].Ref != 7 || string(c.Records[0].Body) != `{"a":1}` {
		t.Fatalf("Flush = %+v %q, %v", c, c.Body, ok)
	}
	if b.Len() != 0 || b.Size() != 0 {
		t.Fatalf("after Flush Len=%d Size=%d", b.Len(), b.Size())
	}
}

// TestLinger runs a small owner loop, as the worker does, under a fake clock: a chunk with
// fewer records than the limits is flushed exactly Linger after its first record was added.
func TestLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Default()
		cfg.Linger = 100 * time.Millisecond
		b, _ := New(cfg)
		in := make(chan Record)
		type flushed struct {
			c  Chunk
			at time.Time
		}
		out := make(chan flushed, 10)
		go func() { // the owner
			timer := time.NewTimer(time.Hour)
			timer.Stop()
			for {
				select {
				case r, ok := <-in:
					if !ok {
						if c, ok := b.Flush(FlushShutdown); ok {
							out <- flushed{c, time.Now()}
						}
						close(out)
						return
					}
					chunks, _ := b.Add(r)
					for _, c := range chunks {
						out <- flushed{c, time.Now()}
					}
					if d, ok := b.Deadline(); ok && b.Len() == 1 {
						timer.Reset(time.Until(d))
					}
				case <-timer.C:
					if c, ok := b.Flush(FlushLinger); ok {
						out <- flushed{c, time.Now()}
					}
				}
			}
		}()
		start := time.Now()
		in <- Record{Key: "a", Body: []byte(`{"n":1}`)}
		time.Sleep(60 * time.Millisecond)
		in <- Record{Key: "b", Body: []byte(`{"n":2}`)}
		f := <-out
		if f.c.Reason != FlushLinger || len(f.c.Records) != 2 || f.at.Sub(start) != 100*time.Millisecond {
			t.Fatalf("first flush: reason %s, %d records, after %s; want linger, 2, 100ms", f.c.Reason, len(f.c.Records), f.at.Sub(start))
		}
		time.Sleep(time.Second) // idle: nothing is flushed
		start = time.Now()
		in <- Record{Key: "c", Body: []byte(`{"n":3}`)}
		f = <-out
		if f.c.Reason != FlushLinger || f.at.Sub(start) != 100*time.Millisecond {
			t.Fatalf("second flush: reason %s after %s; want linger after 100ms", f.c.Reason, f.at.Sub(start))
		}
		in <- Record{Key: "d", Body: []byte(`{"n":4}`)}
		close(in)
		f = <-out
		if f.c.Reason != FlushShutdown || string(f.c.Body) != `[{"n":4}]` {
			t.Fatalf("shutdown flush: %s %s", f.c.Reason, f.c.Body)
		}
	})
}

// TestProperties feeds many random sizes, many near the limits, through random configs: no
// chunk exceeds a limit, nothing is lost, duplicated or reordered, and every body is valid JSON.
func TestProperties(t *testing.T) {
	for seed := int64(1); seed <= 8; seed++ {
		rng := rand.New(rand.NewSource(seed))
		cfg := Config{MaxRecords: 1 + rng.Intn(LimitRecords), MaxBytes: 64 + rng.Intn(LimitBytes-63)}
		if seed%4 == 0 {
			cfg = Default()
		}
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		maxBody := min(cfg.MaxBytes-2, 10240)
		var got []Record
		var want []uint64
		n := 1000 + rng.Intn(1000)
		collect := func(c Chunk) {
			checkChunk(t, cfg, c)
			if !json.Valid(c.Body) {
				t.Fatalf("seed %d: chunk body is not valid JSON", seed)
			}
			got = append(got, c.Records...)
		}
		for i := range n {
			var size int
			switch rng.Intn(4) {
			case 0:
				size = maxBody - rng.Intn(4) // near the per-record limit
			case 1:
				size = 9 + rng.Intn(40)
			default:
				size = 9 + rng.Intn(maxBody-8)
			}
			size = max(size, 9)
			key := fmt.Sprintf("u%d", rng.Intn(50))
			chunks, err := b.Add(Record{Key: key, Body: body(size), Ref: uint64(i)})
			if err != nil {
				t.Fatalf("seed %d: Add(%d bytes): %v", seed, size, err)
			}
			want = append(want, uint64(i))
			for _, c := range chunks {
				collect(c)
			}
			if rng.Intn(500) == 0 {
				if c, ok := b.Flush(FlushLinger); ok {
					collect(c)
				}
			}
		}
		if c, ok := b.Flush(FlushShutdown); ok {
			collect(c)
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d records out, %d in", seed, len(got), len(want))
		}
		for i, r := range got {
			if r.Ref != want[i] {
				t.Fatalf("seed %d: record %d has ref %d, want %d", seed, i, r.Ref, want[i])
			}
		}
	}
}

func FuzzChunk(f *testing.F) {
	f.Add([]byte(`{"a":1}`), []byte(`{"b":"x"}`), uint16(20))
	f.Add([]byte(`{}`), []byte(`{"long":"yyyyyyyyyyyyyyyyyyyyyyyyyyyy"}`), uint16(3))
	f.Fuzz(func(t *testing.T, a, b []byte, maxBytes uint16) {
		cfg := Config{MaxRecords: 3, MaxBytes: max(int(maxBytes), 3)}
		bt, _ := New(cfg)
		var all []Chunk
		var added [][]byte
		for _, body := range [][]byte{a, b, a, b, a} {
			chunks, err := bt.Add(Record{Body: body})
			if err == nil {
				added = append(added, body)
			} else if len(body) != 0 && len(body)+2 <= cfg.MaxBytes {
				t.Fatalf("Add(%d bytes) with MaxBytes %d: %v", len(body), cfg.MaxBytes, err)
			}
			all = append(all, chunks...)
		}
		if c, ok := bt.Flush(FlushShutdown); ok {
			all = append(all, c)
		}
		var i int
		for _, c := range all {
			checkChunk(t, cfg, c)
			if want := "[" + string(bytes.Join(added[i:i+len(c.Records)], []byte(","))) + "]"; string(c.Body) != want {
				t.Fatalf("body %q, want %q", c.Body, want)
			}
			i += len(c.Records)
		}
		if i != len(added) {
			t.Fatalf("%d records in chunks, %d added", i, len(added))
		}
	})
}

func BenchmarkAdd(b *testing.B) {
	for _, size := range []int{300, 2000} {
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			bt, _ := New(Default())
			rec := Record{Key: "user-1", Body: body(size)}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bt.Add(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
