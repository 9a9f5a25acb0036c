package pixelcnn

import (
	"fmt"
	"sort"

	"pixelcnn/nn"
)

// An architecture is a value: its parameters (each conv's spec with its initial gain, each
// class table, in checkpoint order), its forward pass, and its per-position pass for the
// cached sampler and the codec. Model, the trainer, checkpoints, memory estimates, the
// samplers and the tools all derive from it; a new architecture is one file that registers
// one Arch.

// Architecture names.
const (
	ArchPixelCNN = "pixelcnn" // the seed's (van den Oord et al. 2016a), with its blind spot
	ArchGated    = "gated"    // the gated PixelCNN (van den Oord et al. 2016b), no blind spot
)

// Arch is one network architecture.
type Arch interface {
	// validate checks an architecture's own config fields (the image is checked already).
	validate(c Config) error
	// convs lists every convolution of c's network in checkpoint order.
	convs(c Config) []ConvDef
	// tables lists the class tables of a conditional c, in checkpoint order.
	tables(c Config) []TableDef
	// forward computes the logits [N,H,W,Levels*C] of x [N,H,W,C] (labels: one per image
	// of a conditional model, else nil).
	forward(m *Model, g *nn.Graph, x *nn.Var, labels []int32) (*nn.Var, error)
	// newStepper returns the per-position pass of m over n images whose current values are
	// img (HWC, v/255), with labels for a conditional model.
	newStepper(m *Model, n int, img []float32, labels []int32) (stepper, error)
}

// ConvDef is one convolution of an architecture: its spec (Spec.Name is the checkpoint
// name) and the gain of its initialisation (sqrt(2) before a ReLU-like nonlinearity, 1
// otherwise, smaller for a residual branch).
type ConvDef struct {
	Spec nn.ConvSpec
	Gain float64
}

// TableDef is a class-conditional table [Classes, Width] added to a layer's pre-activation.
type TableDef struct {
	Name  string
	Width int
}

var archs = map[string]Arch{}

func registerArch(name string, a Arch) { archs[name] = a }

// Archs lists the architecture names.
func Archs() []string {
	var names []string
	for n := range archs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupArch returns the named architecture or an error listing the known ones.
func LookupArch(name string) (Arch, error) {
	a, ok := archs[name]
	if !ok {
		return nil, fmt.Errorf("architecture %q: unknown (have %v)", name, Archs())
	}
	return a, nil
}

// archOf returns c's architecture; c has been validated.
func archOf(c Config) Arch {
	a, err := LookupArch(c.ArchName())
	if err != nil {
		panic(err) // unreachable: every Config reaching here passed Validate
	}
	return a
}

// stepper is an architecture's per-position pass (the cached sampler's and the codec's):
// the net at one position of n images, every layer that reads neighbours reading them from
// caches of final values. Generation is in raster order, colours in order within a pixel;
// startRow(i) comes before the first pass of row i; pass(i, j, head) runs the net at (i, j) on
// the image so far and, with head, returns the logits [N,1,1,Levels*C] (without, it only
// brings the caches up to date, for a kept pixel); setPixel writes pixel (i, j) of the n
// images (pix [N*C], values v/255) into the image the passes read.
type stepper interface {
	startRow(i int) error
	pass(i, j int, head bool) (*nn.Tensor, error)
	setPixel(i, j int, pix []float32) error
	release()
}

// ConvSpecs lists every convolution of c's network in checkpoint order (for tools that
// time or size the layers: cmd/bench).
func ConvSpecs(c Config) ([]nn.ConvSpec, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var specs []nn.ConvSpec
	for _, d := range archOf(c).convs(c) {
		specs = append(specs, d.Spec)
	}
	return specs, nil
}
