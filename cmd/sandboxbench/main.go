// Command sandboxbench measures cold starts on this machine: every tessera
// backend that can run here, each next to the floor it stands on, and peer
// sandboxes when installed, all in one run with calls interleaved.
//
//	sandboxbench [-n 2000] [-systems kvm,seccomp,...] [-functions noop,...]
//	             [-peers] [-sweep] [-json] [-plot DIR]
//
// The table goes to stdout (or, with -json, one JSON object per
// measurement); progress goes to stderr with -v.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"tessera/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandboxbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 2000, "calls per system and function")
	peerCalls := fs.Int("peer-calls", 200, "calls per peer sandbox (each costs milliseconds)")
	systems := fs.String("systems", "", "comma-separated systems to measure: kvm, seccomp, ptrace, wasm, floor/..., peer/... or peers (default: all)")
	functions := fs.String("functions", "", "comma-separated functions: noop, matmul1, matmul128 (default: all)")
	peers := fs.Bool("peers", true, "also measure peer sandboxes that are installed (make bench-peers)")
	sweep := fs.Bool("sweep", true, "run the open-loop load sweep on every backend")
	sweepStep := fs.Duration("sweep-step", time.Second, "duration of each load-sweep rate")
	sweepFn := fs.String("sweep-function", "noop", "function the load sweep calls")
	asJSON := fs.Bool("json", false, "write one JSON object per measurement instead of the table")
	plotDir := fs.String("plot", "", "write PNG charts into `DIR`")
	timeout := fs.Duration("timeout", 10*time.Second, "deadline of each call")
	verbose := fs.Bool("v", false, "report progress on stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	var log io.Writer
	if *verbose {
		log = stderr
	}
	cfg := bench.Config{N: *n, PeerCalls: *peerCalls, Timeout: *timeout, Systems: split(*systems),
		Functions: split(*functions), Peers: *peers, Log: log}
	for _, f := range cfg.Functions {
		if _, ok := bench.WorkloadByName(f); !ok {
			fmt.Fprintf(stderr, "sandboxbench: unknown function %q\n", f)
			return 2
		}
	}
	rep := &bench.Report{Host: bench.DescribeHost(), N: *n}
	results, skipped, err := bench.Measure(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "sandboxbench:", err)
		for _, s := range skipped {
			fmt.Fprintln(stderr, "  not measured:", s)
		}
		return 1
	}
	rep.Results, rep.Skipped = results, skipped
	if *sweep {
		sc := bench.SweepConfig{Systems: backendsOnly(cfg.Systems), Function: *sweepFn, Step: *sweepStep}
		if *verbose {
			sc.Log = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
		}
		sweeps, err := bench.LoadSweep(sc)
		rep.Sweeps = sweeps
		if err != nil {
			rep.Skipped = append(rep.Skipped, "load sweep: "+err.Error())
		}
	}
	if *asJSON {
		if err := rep.WriteJSON(stdout); err != nil {
			fmt.Fprintln(stderr, "sandboxbench:", err)
			return 1
		}
	} else {
		rep.WriteTable(stdout)
	}
	if *plotDir != "" {
		files, err := rep.WritePlots(*plotDir)
		if err != nil {
			fmt.Fprintln(stderr, "sandboxbench: plotting:", err)
			return 1
		}
		fmt.Fprintf(stderr, "sandboxbench: wrote %s\n", strings.Join(files, ", "))
	}
	return 0
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// backendsOnly keeps the backend names of a -systems list for the sweep.
func backendsOnly(systems []string) []string {
	var out []string
	for _, s := range systems {
		if !strings.Contains(s, "/") && s != "peers" {
			out = append(out, s)
		}
	}
	if len(systems) > 0 && len(out) == 0 {
		return []string{"none"}
	}
	return out
}
