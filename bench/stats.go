package bench

import (
	"slices"
	"time"
)

// Stats summarises the latencies of one target.
type Stats struct {
	N                        int
	P50, P90, P99, Max, Mean time.Duration
	PerSec                   float64 // calls per second one caller achieves
}

func summarize(samples []Sample) Stats {
	if len(samples) == 0 {
		return Stats{}
	}
	d := make([]time.Duration, len(samples))
	var sum time.Duration
	for i, s := range samples {
		d[i] = s.Total
		sum += s.Total
	}
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	st := Stats{N: len(d), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: d[len(d)-1], Mean: sum / time.Duration(len(d))}
	if sum > 0 {
		st.PerSec = float64(len(d)) / sum.Seconds()
	}
	return st
}

// medianPhases is the per-phase median of the traced samples.
func medianPhases(samples []Sample) (Phases, bool) {
	var cols [6][]time.Duration
	for _, s := range samples {
		if !s.Traced {
			continue
		}
		for i, v := range []time.Duration{s.Phases.Marshal, s.Phases.Load, s.Phases.Transfer, s.Phases.Execute, s.Phases.Outputs, s.Phases.Other} {
			cols[i] = append(cols[i], v)
		}
	}
	if len(cols[0]) == 0 {
		return Phases{}, false
	}
	var m [6]time.Duration
	for i := range cols {
		slices.Sort(cols[i])
		m[i] = cols[i][len(cols[i])/2]
	}
	return Phases{m[0], m[1], m[2], m[3], m[4], m[5]}, true
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
