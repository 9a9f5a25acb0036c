//go:build cuda

package main

// Built with -tags cuda, the binary has the GPU backend (--device cuda, and auto picks it).
import _ "pixelcnn/cuda"
