//go:build !race

package locustest

const raceEnabled = false
