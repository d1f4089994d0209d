package sender

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestSignMatchesNodeSDK recomputes the signature of every request the official node SDK
// 1.10.0 sent, from its Date and its body (or the body's MD5 where the capture omits the body).
func TestSignMatchesNodeSDK(t *testing.T) {
	f, err := os.Open("/work/shared/vectors/node-sdk-1.10.0-requests.jsonl")
	if err != nil {
		t.Skipf("vectors not available: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var v struct {
			Seq     int         `json:"seq"`
			Method  string      `json:"method"`
			Path    string      `json:"path"`
			Headers [][2]string `json:"headers"`
			Body    *string     `json:"body_utf8"`
			BodyMD5 string      `json:"body_md5"`
			Key     string      `json:"workspace_key"`
			Secret  string      `json:"workspace_secret"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		h := map[string]string{}
		for _, kv := range v.Headers {
			h[kv[0]] = kv[1]
		}
		contentMD5 := v.BodyMD5
		if v.Body != nil {
			if got := ContentMD5([]byte(*v.Body)); got != v.BodyMD5 {
				t.Fatalf("seq %d: ContentMD5 = %s, capture says %s", v.Seq, got, v.BodyMD5)
			}
		}
		want := h["Authorization"]
		got := v.Key + ":" + Sign(v.Secret, v.Method, contentMD5, h["Content-Type"], h["Date"], v.Path)
		if got != want {
			t.Errorf("seq %d: Authorization %s, SDK sent %s", v.Seq, got, want)
		}
		if h["Content-Type"] != ContentType {
			t.Errorf("seq %d: Content-Type %q", v.Seq, h["Content-Type"])
		}
		n++
	}
	if n != 24 {
		t.Fatalf("checked %d requests, the capture has 24", n)
	}
}

func TestSignKnownAnswer(t *testing.T) {
	// Seq 1 of the capture, spelled out.
	got := Sign("WSSECRET_test_abcdefghijklmnopqrstuvwxyz_0123456789", "POST", "69b84cd3e4c90da22943e16e51cc5ae3",
		"application/json; charset=utf-8", "Mon, 30 Nov 2026 03:31:15 GMT", "/event/")
	if got != "2TrTYjTnPWs6NAtY6Pdh72vmoe6JXldNGWAcLqSNmb4=" {
		t.Fatalf("Sign = %s", got)
	}
	if s := StringToSign("POST", "m", "ct", "d", "/event/"); s != "POST\nm\nct\nd\n/event/" || strings.Count(s, "\n") != 4 {
		t.Fatalf("StringToSign = %q", s)
	}
	if ContentMD5(nil) != "" {
		t.Fatal("ContentMD5 of an empty body must be empty")
	}
}
