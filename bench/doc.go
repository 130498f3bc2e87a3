// Package bench measures cold starts: every backend against the floor it
// stands on and against peer sandboxes, in one run, with calls interleaved
// so that drift on a noisy host hits every system alike. cmd/sandboxbench is
// its command-line front end.
package bench
