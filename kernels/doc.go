// Package kernels holds the CUDA C sources of the GPU backend (one .cu file per op family and
// the shared common.cuh). `make ptx` compiles them to kernels/ptx/*.ptx, which builds tagged
// cuda embed (embed.go) for the cuda package to load. Without the tag this package is empty.
package kernels
