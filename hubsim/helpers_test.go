package hubsim

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/sender"
)

const (
	testKey    = "WSKEY_test_0123456789"
	testSecret = "WSSECRET_test_abcdefghijklmnopqrstuvwxyz_0123456789"
)

func newTestServer(t testing.TB, mutate func(*Config)) *Server {
	t.Helper()
	cfg := Default()
	cfg.Key, cfg.Secret, cfg.KeepInsertIDs = testKey, testSecret, 100
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ev returns a compact identity event for distinct id with the given op objects.
func ev(id, insertID string, ops ...string) string {
	return fmt.Sprintf(`{"$schema":"2","$insert_id":%q,"$time":1700000000000,"env":%q,"distinct_id":%q,"$user_operations":[%s],"properties":{"$ss_sdk_version":"test"}}`,
		insertID, testKey, id, strings.Join(ops, ","))
}

func array(events ...string) string { return "[" + strings.Join(events, ",") + "]" }

// signed builds a request signed with secret as the sender signs it, dated at date.
func signed(body, secret string, date time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/event/", bytes.NewReader([]byte(body)))
	d := sender.FormatDate(date)
	r.Header.Set("Content-Type", sender.ContentType)
	r.Header.Set("Date", d)
	r.Header.Set("Authorization", testKey+":"+sender.Sign(secret, http.MethodPost, sender.ContentMD5([]byte(body)), sender.ContentType, d, "/event/"))
	return r
}

func post(s *Server, body string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, signed(body, testSecret, time.Now()))
	return w
}
