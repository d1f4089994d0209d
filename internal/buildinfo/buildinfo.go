// Package buildinfo names this build of profile-ingest: its version, commit and build date, the
// user agent it sends and the profile_ingest_build_info metric. Its values are set once at link
// time (or read from the binary's embedded build information) and read-only afterwards.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Set at link time; an empty one is filled from debug.ReadBuildInfo (the module version of a
// `go install …@v1.2.3`, the vcs.revision and vcs.time of a build in a git checkout):
//
//	-ldflags "-X github.com/profile-ingest/profile-ingest/internal/buildinfo.Version=v1.2.3
//	          -X github.com/profile-ingest/profile-ingest/internal/buildinfo.Commit=0123abc
//	          -X github.com/profile-ingest/profile-ingest/internal/buildinfo.Date=2026-12-01T05:00:00Z"
//
// `make build` and `make image` set all three.
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// devVersion names a build that says nothing of its version.
const devVersion = "0.1.0-dev"

// Info is what a build says of itself.
type Info struct {
	Version   string // a release (v1.2.3) or 0.1.0-dev
	Commit    string // the git revision, "unknown" when the build did not record it; "-dirty" when modified
	Date      string // RFC 3339 build (or commit) time, "unknown" when not recorded
	GoVersion string // the toolchain, e.g. go1.26.8
}

var (
	once sync.Once
	info Info
)

// Get returns this build's Info.
func Get() Info {
	once.Do(func() {
		bi, _ := debug.ReadBuildInfo()
		info = resolve(Version, Commit, Date, bi)
	})
	return info
}

// resolve fills what the link-time values leave empty from the embedded build information.
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	in := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version()}
	if bi != nil {
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Commit == "" {
					in.Commit = s.Value
				}
			case "vcs.time":
				if in.Date == "" {
					in.Date = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit == "" && in.Commit != "" {
			in.Commit += "-dirty"
		}
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
	}
	if in.Version == "" {
		in.Version = devVersion
	}
	if in.Commit == "" {
		in.Commit = "unknown"
	}
	if in.Date == "" {
		in.Date = "unknown"
	}
	return in
}

// String is the `version` command's line:
// "profile-ingest 0.1.0-dev (commit 0123abc, built 2026-12-01T05:00:00Z, go1.26.8 linux/amd64)".
func (in Info) String() string {
	return fmt.Sprintf("profile-ingest %s (commit %s, built %s, %s %s/%s)",
		in.Version, in.Commit, in.Date, in.GoVersion, runtime.GOOS, runtime.GOARCH)
}

// UserAgent is what the worker sends as the User-Agent header and as properties.$ss_sdk_version,
// and writes in the profile-ingest-worker-version dead-letter header, so SuprSend and an SRE can
// tell its events from an SDK's and which build sent them:
// "profile-ingest/0.1.0-dev+0123abcdef01 (go1.26.8; linux)".
func UserAgent() string {
	in := Get()
	v := in.Version
	if in.Commit != "unknown" && !strings.Contains(v, shortCommit(in.Commit)) {
		v += "+" + shortCommit(in.Commit)
	}
	return fmt.Sprintf("profile-ingest/%s (%s; %s)", v, in.GoVersion, runtime.GOOS)
}

// shortCommit is the first 12 characters of a revision, and its -dirty mark.
func shortCommit(c string) string {
	rev, dirty := strings.CutSuffix(c, "-dirty")
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += ".dirty"
	}
	return rev
}

// Collector is the profile_ingest_build_info gauge: always 1, labelled with version, commit,
// date and goversion, so a dashboard can show which build runs and `* on() group_left` can
// join it to any series.
func Collector() prometheus.Collector {
	in := Get()
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "profile_ingest_build_info",
		Help: "Always 1; the labels say which build of profile-ingest this is.",
		ConstLabels: prometheus.Labels{
			"version": in.Version, "commit": in.Commit, "date": in.Date, "goversion": in.GoVersion,
		},
	}, func() float64 { return 1 })
}
