// Package buildinfo names this build of profile-ingest: its version and the user agent it sends.
// Its values are set once at link time and read-only afterwards.
package buildinfo

import (
	"fmt"
	"runtime"
)

// Version is the release of this build, set at link time with
// -ldflags "-X github.com/profile-ingest/profile-ingest/internal/buildinfo.Version=v1.2.3".
var Version = "0.1.0-dev"

// UserAgent is what the worker sends as the User-Agent header and as properties.$ss_sdk_version,
// so SuprSend can tell its events from an SDK's: "profile-ingest/0.1.0-dev (go1.26.8; linux)".
func UserAgent() string {
	return fmt.Sprintf("profile-ingest/%s (%s; %s)", Version, runtime.Version(), runtime.GOOS)
}
