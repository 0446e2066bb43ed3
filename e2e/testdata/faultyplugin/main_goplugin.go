//go:build !wasip1

package main

import (
	"syscall"

	"github.com/switchyard/gateway/sdk"
)

// limitMemory caps the process's address space so that the allocation loop ends in an out-of-memory death
// rather than in the machine's swap.
func limitMemory() {
	_ = syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: 2 << 30, Max: 2 << 30})
}

func main() { sdk.ServeProvider(newFaulty()) }
