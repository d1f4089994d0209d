package sender_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/profile-ingest/profile-ingest/batcher"
	"github.com/profile-ingest/profile-ingest/sender"
)

// BenchmarkSendChunk measures the sender's own cost for one full chunk (400 events): signing,
// the HTTP round trip on loopback and the results, against a server that only reads the body.
func BenchmarkSendChunk(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	s, err := sender.New(srv.URL, sender.Credentials{Key: key, Secret: secret}, sender.WithUserAgent("profile-ingest/bench"))
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]batcher.Record, 400)
	for i := range recs {
		recs[i] = batcher.Record{Key: fmt.Sprint("u", i%50), Body: event(fmt.Sprint("u", i%50), i)}
	}
	chunk := batcher.Chunk{Records: recs, Body: batcher.Encode(recs)}
	b.SetBytes(int64(len(chunk.Body)))
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range s.Send(b.Context(), chunk) {
			if r.Outcome != sender.Delivered {
				b.Fatalf("record not delivered: %+v", r)
			}
		}
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkSign is the signature of one 128 KB body (MD5, HMAC-SHA256, base64).
func BenchmarkSign(b *testing.B) {
	body := make([]byte, 128<<10)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		_ = sender.Sign(secret, "POST", sender.ContentMD5(body), sender.ContentType, "Mon, 30 Nov 2026 03:31:15 GMT", "/event/")
	}
}
