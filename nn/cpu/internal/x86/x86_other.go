//go:build !amd64 || purego

package x86

// HasAVX2FMA is false off amd64 and with -tags purego.
const HasAVX2FMA = false
