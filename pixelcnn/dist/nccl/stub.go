//go:build !cuda

package nccl

import (
	"fmt"

	"pixelcnn/pixelcnn/dist"
)

const hasNCCL = false

func openNCCL(dist.Comm, *dist.TorchrunEnv) (dist.Comm, error) {
	return nil, fmt.Errorf("nccl: this binary was built without -tags cuda")
}
