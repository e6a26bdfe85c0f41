package durable

import (
	"fmt"
	"os"
	"sync"

	"github.com/pulse-run/pulse/internal/platform/ids"
)

// instance is computed once: every kind of work in this process holds its
// leases under the same name, so an operator reading lease_owner sees one
// process, and one renewal statement per table covers all it holds.
var instance = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), ids.New()[24:])
})

// Instance is this process's lease owner name: host/pid/random.
func Instance() string { return instance() }
