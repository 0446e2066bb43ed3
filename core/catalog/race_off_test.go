//go:build !race

package catalog

// raceDetector: this test binary runs under the race detector.
const raceDetector = false
