package nccl

import "fmt"

// NCCL's version code (ncclGetVersion, NCCL_VERSION in nccl.h): X*1000 + Y*100 + Z up to 2.8,
// X*10000 + Y*100 + Z from 2.9 on (src/nccl.h.in of github.com/NVIDIA/nccl).

// MinVersion is the oldest NCCL this package accepts: 2.12.0.
const MinVersion = 21200

// SplitVersion returns the major, minor and patch numbers of a version code.
func SplitVersion(code int) (major, minor, patch int) {
	if code >= 10000 {
		return code / 10000, code % 10000 / 100, code % 100
	}
	return code / 1000, code % 1000 / 100, code % 100
}

// FormatVersion writes a version code as major.minor.patch, e.g. 21903 as "2.19.3".
func FormatVersion(code int) string {
	major, minor, patch := SplitVersion(code)
	return fmt.Sprintf("%d.%d.%d", major, minor, patch)
}

// checkVersion refuses a library older than MinVersion, naming it and what to install.
func checkVersion(lib string, code int) error {
	if code >= MinVersion {
		return nil
	}
	return fmt.Errorf("nccl: %s is NCCL %s; this program needs NCCL %s or newer: %s", lib, FormatVersion(code), FormatVersion(MinVersion), installHint)
}

// installHint says what to install when libnccl is missing or too old.
const installHint = "install NVIDIA's libnccl2 matching your CUDA major version (apt install libnccl2 from NVIDIA's CUDA repository, or pip install nvidia-nccl-cu12 and point PIXELCNN_NCCL_LIB at its libnccl.so.2, e.g. .../site-packages/nvidia/nccl/lib/libnccl.so.2)"
