package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The progress line says records, bytes of the files, the share done, the rate and the ETA;
// on a terminal it is one redrawn line with a bar, ended by done.
func TestPublishProgressLine(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var b bytes.Buffer
		p := &publishProgress{w: &b, tty: tty, total: 4 << 20, began: time.Now().Add(-10 * time.Second)}
		p.read(1 << 20)
		p.published(1000)
		p.done()
		out := b.String()
		if !strings.Contains(out, "published 1000 records, 1.0 of 4.0 MiB (25%), 100 records/s, ETA 30s") {
			t.Errorf("tty %v: %q", tty, out)
		}
		if tty && (!strings.HasPrefix(out, "\r[######..................] ") || !strings.HasSuffix(out, "\n")) {
			t.Errorf("terminal line without its bar or its end: %q", out)
		}
		if !tty && !strings.HasPrefix(out, "publish: ") {
			t.Errorf("log line: %q", out)
		}
	}
}
