package consumer

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// A new cluster answers COORDINATOR_NOT_AVAILABLE until its offsets topic exists: that is no
// warning the first few times (a fresh `make run` printed one), but it is when it persists, and
// any other failure to join is one at once.
func TestJoinFailuresWarnOnlyWhenTheyLast(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		n    int
		want string
	}{
		{"coordinator not available yet", kafka.GroupCoordinatorNotAvailable, 1, "info"},
		{"coordinator still loading", kafka.GroupCoordinatorNotAvailable, quietJoinFailures, "info"},
		{"coordinator not available for long", kafka.GroupCoordinatorNotAvailable, quietJoinFailures + 1, "warn"},
		{"not retriable", kafka.GroupAuthorizationFailed, 1, "warn"},
		{"not a Kafka error", errors.New("dial tcp 127.0.0.1:1: connection refused"), 1, "warn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := &Worker{log: zerolog.New(&buf), cfg: Config{GroupID: "g"}}
			w.joinFailed(tc.err, tc.n)
			if !strings.Contains(buf.String(), `"level":"`+tc.want+`"`) {
				t.Errorf("logged %s, want level %s", buf.String(), tc.want)
			}
		})
	}
}
