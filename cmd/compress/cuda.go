//go:build cuda

package main

// Built with -tags cuda, the binary has the GPU backend (--device cuda).
import _ "pixelcnn/cuda"
