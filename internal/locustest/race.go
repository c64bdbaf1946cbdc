//go:build race

package locustest

// raceEnabled is true when the test binary runs with the race detector: the
// server is then built with -race too.
const raceEnabled = true
