package nn

import (
	"fmt"
	"sort"
	"sync"
)

var (
	registryMu sync.Mutex
	registry   = map[string]func() (Backend, error){}
)

// Register makes a backend available to Open under name. Backends call it from init; the
// CUDA backend exists only in binaries built with -tags cuda.
func Register(name string, open func() (Backend, error)) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[name] = open
}

// Open returns the named backend. "auto" picks "cuda" when it is registered and opens (a GPU
// is present), else "cpu".
func Open(name string) (Backend, error) {
	registryMu.Lock()
	open, ok := registry[name]
	cudaOpen, hasCUDA := registry["cuda"]
	cpuOpen := registry["cpu"]
	registryMu.Unlock()
	if name == "auto" {
		if hasCUDA {
			if b, err := cudaOpen(); err == nil {
				return b, nil
			}
		}
		if cpuOpen == nil {
			return nil, fmt.Errorf("device auto: no backend registered")
		}
		return cpuOpen()
	}
	if !ok {
		if name == "cuda" {
			return nil, fmt.Errorf("device cuda: this binary has no CUDA backend; build it with `make ptx && go build -tags cuda` (have: %v)", Registered())
		}
		return nil, fmt.Errorf("device %q: unknown (have: %v)", name, Registered())
	}
	return open()
}

// Registered lists the registered backend names.
func Registered() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	var names []string
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
