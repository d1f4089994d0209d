// Command measure runs a command and reports what it cost: wall time, CPU time (user + system,
// from the child's rusage) and peak RSS. The benchmark (deploy/bench/pipeline.sh) runs kcat and
// the worker under it, so both are measured the same way. It runs one child and exits.
//
//	measure -o cost.txt -- kcat -C -b 127.0.0.1:9092 -t topic -e -o beginning -q
//
// The child's stdin, stdout and stderr are the command's; -o gets one line,
// "wall_s=<s> cpu_s=<s> maxrss_kib=<KiB> exit=<code>", and measure exits with the child's code.
// SIGTERM and SIGINT are passed on to the child (a live consumer is stopped that way and still
// measured).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	out := flag.String("o", "", "file to write the measurement line to (required)")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "measure: usage: measure -o FILE -- command [args...]")
		os.Exit(2)
	}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "measure: %v\n", err)
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	wall := time.Since(start)
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		fmt.Fprintf(os.Stderr, "measure: %v\n", err)
		os.Exit(2)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "measure: no rusage on this platform")
		os.Exit(2)
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	line := fmt.Sprintf("wall_s=%.3f cpu_s=%.3f maxrss_kib=%d exit=%d\n", wall.Seconds(), cpu.Seconds(), ru.Maxrss, code)
	if err := os.WriteFile(*out, []byte(line), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "measure: %v\n", err)
		os.Exit(2)
	}
	os.Exit(code)
}
