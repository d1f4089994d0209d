package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildSaysWhatItIs builds the real binary with the link-time values `make build` and
// `make image` pass, and checks that `--version`, `version` and the User-Agent of the requests it
// would send (and so $ss_sdk_version and the dead-letter worker-version header, which carry the
// same string) name the version and the commit.
func TestBuildSaysWhatItIs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "profile-ingest")
	const pkg = "github.com/profile-ingest/profile-ingest/internal/buildinfo"
	ldflags := "-X " + pkg + ".Version=v9.8.7 -X " + pkg + ".Commit=feedfacecafebeef0001 -X " + pkg + ".Date=2026-12-01T04:00:00Z"
	build := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(stdin string, args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(os.Environ(), "SUPRSEND_WORKSPACE_SECRET=test-secret")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
		}
		return string(out)
	}
	const line = "profile-ingest v9.8.7 (commit feedfacecafebeef0001, built 2026-12-01T04:00:00Z, go"
	if out := run("", "--version"); !strings.HasPrefix(out, line) {
		t.Errorf("--version printed %q, want it to start with %q", out, line)
	}
	const ua = "profile-ingest/v9.8.7+feedfacecafe (go"
	out := run("", "version")
	if !strings.HasPrefix(out, line) || !strings.Contains(out, "user agent: "+ua) {
		t.Errorf("version printed %q, want %q and the user agent %q", out, line, ua)
	}
	req := run(`{"distinct_id":"u1","operations":[{"add_email":"a@example.com"}]}`+"\n", "explain", "--requests")
	if !strings.Contains(req, `"User-Agent":"`+ua) || !strings.Contains(req, `\"$ss_sdk_version\":\"`+ua) {
		t.Errorf("explain --requests: want User-Agent and $ss_sdk_version %q…, got\n%s", ua, req)
	}
}
