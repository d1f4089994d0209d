package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
)

// linePos is a line of an input file.
type linePos struct {
	name string
	n    int
}

// resumeError says what a failed or interrupted publish published and the command that
// resumes it: the failing file first, from the first line of the batch that failed (records of
// that batch the broker took before failing are published again, with the same derived
// event_ids, so SuprSend deduplicates them). Interrupted, it is exit 130.
func (c *publishCmd) resumeError(ctx context.Context, files []string, at linePos, published int, cause error) error {
	idx := 0
	for i, f := range files {
		if f == at.name {
			idx = i
		}
	}
	rest := c.Files[idx:]
	shown := at.name
	if at.name == c.stdinSpool {
		shown = "stdin"
	}
	hint := fmt.Sprintf("published %d records, every line before %s line %d; resume with: profile-ingest publish [the same flags] --from-line %d %s",
		published, shown, at.n, at.n, strings.Join(rest, " "))
	if at.name == c.stdinSpool {
		hint += " (stdin cannot be read again: save it to a file and give that file)"
	}
	if ctx.Err() != nil {
		return &exitError{code: exitInterrupted, err: fmt.Errorf("publish: interrupted: %s", hint)}
	}
	return fmt.Errorf("publish: %s: %w", hint, cause)
}

// publishProgress shows publish's progress on stderr: on a terminal one line redrawn with a bar
// (the size of the files is known), else a line every few seconds, so a log shows life without
// filling up. A short run prints nothing.
type publishProgress struct {
	w            io.Writer
	tty          bool
	total, bytes int64
	records      int
	began, last  time.Time
	every        time.Duration
	drawn        bool
}

func newPublishProgress(w *os.File, files []string) *publishProgress {
	p := &publishProgress{w: w, tty: isatty.IsTerminal(w.Fd()), began: time.Now(), last: time.Now()}
	p.every = 5 * time.Second
	if p.tty {
		p.every = 250 * time.Millisecond
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			p.total += fi.Size()
		}
	}
	return p
}

func (p *publishProgress) read(n int) { p.bytes += int64(n) }

func (p *publishProgress) published(records int) {
	p.records = records
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		p.draw(now)
	}
}

func (p *publishProgress) draw(now time.Time) {
	elapsed := now.Sub(p.began).Seconds()
	rate := float64(p.records) / max(elapsed, 1e-9)
	frac := 0.0
	if p.total > 0 {
		frac = min(float64(p.bytes)/float64(p.total), 1)
	}
	eta := "?"
	if frac > 0 {
		eta = (time.Duration(elapsed*(1-frac)/frac) * time.Second).Round(time.Second).String()
	}
	text := fmt.Sprintf("published %d records, %.1f of %.1f MiB (%.0f%%), %.0f records/s, ETA %s",
		p.records, float64(p.bytes)/(1<<20), float64(p.total)/(1<<20), 100*frac, rate, eta)
	if p.tty {
		const width = 24
		bar := strings.Repeat("#", int(frac*width)) + strings.Repeat(".", width-int(frac*width))
		fmt.Fprintf(p.w, "\r[%s] %s", bar, text)
		p.drawn = true
		return
	}
	fmt.Fprintf(p.w, "publish: %s\n", text)
}

// done ends a redrawn line.
func (p *publishProgress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
