//go:build race

package main

// raceEnabled: the race detector slows the broker and the handlers several
// times over; tests that measure, or that move many events, do less.
const raceEnabled = true
