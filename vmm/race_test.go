//go:build race

package vmm

// raceEnabled: the race detector's shadow memory grows with allocations,
// so RSS says nothing about leaks in a race build.
const raceEnabled = true
