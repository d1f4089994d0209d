package hubsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/profile-ingest/profile-ingest/sender"
)

// Server is a simulated SuprSend event endpoint.
type Server struct {
	cfg Config
	key []byte // cfg.Key
	mux *http.ServeMux

	mu    sync.Mutex // guards store
	store *store

	faultMu sync.Mutex
	faults  *faultState

	stats   stats
	latency latencyRecorder // when cfg.RecordLatency
}

// New returns a Server, or an error when cfg is invalid.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fs, err := compileFaults(cfg.Faults)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, key: []byte(cfg.Key), store: newStore(cfg.KeepInsertIDs, cfg.DedupWindow), faults: fs}
	s.stats.reset()
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /event/{$}", s.handleEvent)
	s.mux.HandleFunc("GET /_sim/profiles/{id...}", s.handleProfile)
	s.mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, s.Stats()) })
	s.mux.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		writeJSON(w, 200, map[string]string{"status": "reset"})
	})
	s.mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, s.Faults()) })
	s.mux.HandleFunc("POST /_sim/faults", s.handleSetFaults)
	s.mux.HandleFunc("GET /_sim/latency", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, s.Latency()) })
	s.mux.HandleFunc("POST /_sim/latency", s.handleLatencyWindow)
	return s, nil
}

// Handler serves the event endpoint and the /_sim/ control endpoints.
func (s *Server) Handler() http.Handler { return s.mux }

// Profile returns a copy of a stored profile.
func (s *Server) Profile(distinctID string) (Profile, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.store.profiles[distinctID]
	if !ok {
		return Profile{}, false
	}
	return p.clone(), true
}

// Reset forgets every profile, applied insert id and count; faults stay as they are.
func (s *Server) Reset() {
	s.mu.Lock()
	s.store = newStore(s.cfg.KeepInsertIDs, s.cfg.DedupWindow)
	s.mu.Unlock()
	s.stats.reset()
	s.latency.reset(0, 0)
}

// Faults returns the faults in force.
func (s *Server) Faults() Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults.f
}

// SetFaults replaces the faults in force (and re-seeds the random draws).
func (s *Server) SetFaults(f Faults) error {
	fs, err := compileFaults(f)
	if err != nil {
		return err
	}
	s.faultMu.Lock()
	s.faults = fs
	s.faultMu.Unlock()
	return nil
}

// Running is a Server listening on a real address.
type Running struct {
	URL string // "http://127.0.0.1:port/", the base URL for sender.New
	srv *http.Server
}

// Close stops the server at once.
func (r *Running) Close() error { return r.srv.Close() }

// Start serves on addr ("127.0.0.1:0" picks a free port) until Close.
func (s *Server) Start(addr string) (*Running, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("hubsim: listen %s: %w", addr, err)
	}
	srv := s.httpServer()
	go func() { _ = srv.Serve(ln) }()
	return &Running{URL: "http://" + ln.Addr().String() + "/", srv: srv}, nil
}

// httpServer is the HTTP server of Start and Run: it counts the connections it accepts.
func (s *Server) httpServer() *http.Server {
	return &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.stats.conns.Add(1)
			}
		}}
}

// Run serves on addr until ctx ends, then shuts down within 5s. listening, when not nil, is
// called with the bound address once the server accepts connections.
func (s *Server) Run(ctx context.Context, addr string, listening func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("hubsim: listen %s: %w", addr, err)
	}
	srv := s.httpServer()
	if listening != nil {
		listening(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("hubsim: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("hubsim: shutdown: %w", err)
	}
	return nil
}

// bodyPool holds request body buffers; parserPool the parsers' scratch space. Nothing of a
// request outlives its handler: the store copies what it keeps.
var (
	bodyPool   = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
	parserPool = sync.Pool{New: func() any { return new(bodyParser) }}
)

// readBody reads at most MaxBodyBytes+1 bytes of r into buf, sized by the Content-Length hint.
func readBody(r io.Reader, hint int64, buf []byte) ([]byte, error) {
	if hint >= 0 && int(hint) < MaxBodyBytes+1 && cap(buf) < int(hint)+1 {
		buf = make([]byte, 0, int(hint)+1) // +1: the read that meets EOF needs room
	}
	buf = buf[:0]
	for len(buf) <= MaxBodyBytes {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), MaxBodyBytes+1)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func (s *Server) handleEvent(w http.ResponseWriter, r *http.Request) {
	s.stats.requests.Add(1)
	bufp := bodyPool.Get().(*[]byte)
	body, err := readBody(r.Body, r.ContentLength, *bufp)
	defer func() {
		if cap(body) <= MaxBodyBytes+1 {
			*bufp = body[:0]
			bodyPool.Put(bufp)
		}
	}()
	if err != nil {
		s.refuse(w, &requestError{Status: 400, Cause: "bad_body", Msg: "reading body: " + err.Error()})
		return
	}
	if s.cfg.RecordLatency {
		s.latency.record(time.Now(), body)
	}
	if s.cfg.AcceptAll {
		s.accept(w)
		return
	}
	d, answered := s.injectFaults(w, r)
	if answered {
		return
	}
	if len(body) > MaxBodyBytes {
		s.refuse(w, &requestError{Status: 413, Cause: "body_too_large",
			Msg: fmt.Sprintf("request body over %d bytes", MaxBodyBytes)})
		return
	}
	if rerr := s.verify(r, body); rerr != nil {
		s.refuse(w, rerr)
		return
	}
	p := parserPool.Get().(*bodyParser)
	defer parserPool.Put(p)
	p.key = s.key
	raws, rerr := p.parseEvents(body)
	if rerr != nil {
		s.refuse(w, rerr)
		return
	}
	s.faultMu.Lock()
	reject, rejectMsg := s.faults.reject, s.faults.f.RejectMessage
	s.faultMu.Unlock()
	var bad []eventError
	for i := range raws {
		ev, cause, err := checkEvent(&raws[i], s.cfg.Key, reject, rejectMsg)
		if err != nil {
			bad = append(bad, eventError{Index: i, Cause: cause, Msg: err.Error()})
			continue
		}
		raws[i].ev = ev
	}
	if len(bad) > 0 {
		msg := fmt.Sprintf("event %d: %s", bad[0].Index, bad[0].Msg)
		if len(bad) > 1 {
			msg += fmt.Sprintf(" (and %d more invalid events)", len(bad)-1)
		}
		s.refuse(w, &requestError{Status: 400, Cause: bad[0].Cause, Msg: msg, Events: bad})
		return
	}
	var applied, dups int64
	s.mu.Lock()
	for i := range raws {
		if s.store.apply(&raws[i].ev, s.cfg.DedupWindow) {
			applied++
		} else {
			dups++
		}
	}
	s.mu.Unlock()
	s.stats.applied.Add(applied)
	s.stats.duplicates.Add(dups)
	if d.lost {
		s.stats.lostResponses.Add(1)
		closeWithoutAnswer(w)
		return
	}
	s.accept(w)
}

// accept answers 202 and counts it.
func (s *Server) accept(w http.ResponseWriter) {
	s.stats.accepted.Add(1)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "OK")
}

// verify checks the Authorization signature and the Date as SuprSend's SDKs produce them.
func (s *Server) verify(r *http.Request, body []byte) *requestError {
	auth := r.Header.Get("Authorization")
	key, sig, ok := strings.Cut(auth, ":")
	if !ok || key == "" || sig == "" {
		return &requestError{Status: 401, Cause: "auth_header", Msg: `missing or malformed Authorization header; want "<workspace_key>:<signature>"`}
	}
	if key != s.cfg.Key {
		return &requestError{Status: 401, Cause: "auth_key", Msg: "unknown workspace key"}
	}
	date := r.Header.Get("Date")
	if date == "" {
		return &requestError{Status: 401, Cause: "auth_date", Msg: "missing Date header"}
	}
	if !s.cfg.AcceptAnyDate {
		t, err := http.ParseTime(date)
		if err != nil {
			return &requestError{Status: 401, Cause: "auth_date", Msg: fmt.Sprintf("Date %q is not an RFC 1123 date", date)}
		}
		if skew := time.Since(t).Abs(); skew > s.cfg.MaxSkew {
			return &requestError{Status: 401, Cause: "auth_date", Msg: fmt.Sprintf("Date %q is %s from the server clock, more than %s", date, skew.Round(time.Second), s.cfg.MaxSkew)}
		}
	}
	want := sender.Sign(s.cfg.Secret, r.Method, sender.ContentMD5(body), r.Header.Get("Content-Type"), date, r.URL.RequestURI())
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return &requestError{Status: 401, Cause: "auth_signature", Msg: "signature mismatch: sign METHOD\\nMD5(body)\\nContent-Type\\nDate\\nrequest URI with the workspace secret (HMAC-SHA256, base64)"}
	}
	return nil
}

// injectFaults answers the request with an injected fault, if one is drawn before the request
// is handled; it returns the draw and whether it answered.
func (s *Server) injectFaults(w http.ResponseWriter, r *http.Request) (draw, bool) {
	s.faultMu.Lock()
	st := s.faults
	d := st.next()
	outage, status, retryAfter := st.f.AuthOutage, st.f.ErrorStatus, st.retryAfterSeconds()
	s.faultMu.Unlock()
	if d.delay > 0 {
		t := time.NewTimer(d.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return d, true
		}
	}
	switch {
	case d.drop:
		s.stats.reject("fault_drop")
		closeWithoutAnswer(w)
	case outage:
		s.refuse(w, &requestError{Status: 401, Cause: "fault_auth_outage", Msg: "authentication failed (simulated outage)"})
	case d.fail:
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfter)
		}
		s.refuse(w, &requestError{Status: status, Cause: "fault_status", Msg: "simulated server error"})
	case d.throttle:
		w.Header().Set("Retry-After", retryAfter)
		s.refuse(w, &requestError{Status: http.StatusTooManyRequests, Cause: "fault_throttle", Msg: "too many requests (simulated)"})
	default:
		return d, false
	}
	return d, true
}

// closeWithoutAnswer closes the request's connection without writing a response.
func closeWithoutAnswer(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // closes the connection (HTTP/2 too)
}

// refuse answers a refused request with a JSON error and counts it.
func (s *Server) refuse(w http.ResponseWriter, e *requestError) {
	s.stats.reject(e.Cause)
	writeJSON(w, e.Status, struct {
		Status string       `json:"status"`
		Code   int          `json:"code"`
		Cause  string       `json:"cause"`
		Msg    string       `json:"message"`
		Events []eventError `json:"errors,omitempty"`
	}{"fail", e.Status, e.Cause, e.Msg, e.Events})
}

func (s *Server) handleProfile(w http.ResponseWriter, r *http.Request) {
	p, ok := s.Profile(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "no such profile"})
		return
	}
	writeJSON(w, 200, p)
}

func (s *Server) handleSetFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		writeJSON(w, 400, map[string]string{"message": "faults: " + err.Error()})
		return
	}
	if err := s.SetFaults(f); err != nil {
		writeJSON(w, 400, map[string]string{"message": err.Error()})
		return
	}
	writeJSON(w, 200, s.Faults())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
