package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-11-30T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		{"nothing known", "", "", "", nil, Info{Version: "0.1.0-dev", Commit: "unknown", Date: "unknown"}},
		{"ldflags win", "v1.2.3", "abc", "2026-12-01T00:00:00Z", vcs, Info{Version: "v1.2.3", Commit: "abc", Date: "2026-12-01T00:00:00Z", GoVersion: "go1.26.8"}},
		{"vcs fills the gaps, dirty marked", "", "", "", vcs, Info{Version: "0.1.0-dev", Commit: "0123456789abcdef0123-dirty", Date: "2026-11-30T10:00:00Z", GoVersion: "go1.26.8"}},
		{"go install module@version", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, Info{Version: "v1.4.0", Commit: "unknown", Date: "unknown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resolve(tc.version, tc.commit, tc.date, tc.bi)
			if tc.want.GoVersion == "" {
				tc.want.GoVersion = got.GoVersion // the running toolchain's
			}
			if got != tc.want {
				t.Errorf("resolve = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestUserAgentAndMetricNameTheBuild(t *testing.T) {
	once.Do(func() {}) // Get returns info as set here
	info = Info{Version: "v1.2.3", Commit: "0123456789abcdef0123-dirty", Date: "2026-12-01T00:00:00Z", GoVersion: "go1.26.8"}
	if ua := UserAgent(); !strings.HasPrefix(ua, "profile-ingest/v1.2.3+0123456789ab.dirty (go1.26.8; ") {
		t.Errorf("UserAgent() = %q, want the version, the short commit and the toolchain", ua)
	}
	if s := Get().String(); !strings.Contains(s, "v1.2.3 (commit 0123456789abcdef0123-dirty, built 2026-12-01T00:00:00Z, go1.26.8 ") {
		t.Errorf("String() = %q", s)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector())
	want := `# HELP profile_ingest_build_info Always 1; the labels say which build of profile-ingest this is.
# TYPE profile_ingest_build_info gauge
profile_ingest_build_info{commit="0123456789abcdef0123-dirty",date="2026-12-01T00:00:00Z",goversion="go1.26.8",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "profile_ingest_build_info"); err != nil {
		t.Error(err)
	}
}
