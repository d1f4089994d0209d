//go:build tools

package monitoring

// promtool (make rules builds it from this module's pinned Prometheus into .cache/bin).
import _ "github.com/prometheus/prometheus/cmd/promtool"
