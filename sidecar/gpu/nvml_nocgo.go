//go:build !cgo

package gpu

import "fmt"

// go-nvml needs cgo; a build without it has no way to reach NVML.
func openNVML(int) (source, error) {
	return nil, fmt.Errorf("%w: built without cgo, so without NVML", ErrNoGPU)
}
