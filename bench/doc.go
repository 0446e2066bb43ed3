// Package bench holds the gateway's Go benchmarks (bench_test.go, `make bench-go`): the pieces of the hot path
// one by one (decoding a request, building the upstream request, parsing a stream event), the whole pipeline
// in-process, and full HTTP round trips through the gateway's edge, each next to the same exchange without the
// gateway so that its own share can be read off.
//
// The load harness is under cmd/ (`make bench-load`); docs/benchmarks.md explains both and records results.
package bench
