// Package pixelcnn is the model of van den Oord et al. (2016) on top of nn: configuration and
// presets, the network, its loss in bits/dim, the trainer, the samplers and checkpoint I/O.
package pixelcnn

import (
	"fmt"
	"sort"

	"pixelcnn/nn"
)

// Levels is the number of values a subpixel takes (8-bit images): each subpixel's logits
// are Levels wide.
const Levels = nn.Levels

// Config is the model's shape. Arch names the network (Arch; "" is the seed's "pixelcnn").
// For pixelcnn the residual stream has 2*Hidden features, each block's inner convolutions
// Hidden, the output head OutDim; for gated Hidden is the features per stack, Blocks the gated
// layers and Dilations their dilations. The logits are Levels*Colors. Classes > 0 makes the
// model class-conditional (labels 0..Classes-1).
type Config struct {
	Preset    string `json:"preset,omitempty"`
	Arch      string `json:"arch,omitempty"`
	Colors    int    `json:"colors"`
	Height    int    `json:"height"`
	Width     int    `json:"width"`
	Hidden    int    `json:"hidden"`
	Blocks    int    `json:"blocks"`
	OutDim    int    `json:"out_dim"`
	Dilations []int  `json:"dilations,omitempty"`
	Classes   int    `json:"classes,omitempty"`
}

// ArchName is the config's architecture name, "pixelcnn" for the seed's (also when unset).
func (c Config) ArchName() string {
	if c.Arch == "" {
		return ArchPixelCNN
	}
	return c.Arch
}

// presets: hidden, blocks, out_dim (and arch, for the gated ones).
var presets = map[string]Config{
	// tiny: seconds per step on one core; for tests.
	"tiny": {Hidden: 6, Blocks: 2, OutDim: 12},
	// mnist: the paper's MNIST scale, 32 feature maps in the 3x3 layers (residual stream 64).
	"mnist": {Hidden: 32, Blocks: 7, OutDim: 32},
	// cifar10: 15 blocks, residual stream 384, head 768, all divisible by 3.
	"cifar10": {Hidden: 192, Blocks: 15, OutDim: 768},
	// seed: the tutorial's config.yml (hidden_dim 128, out_dim 1024, n_layers 15), tripled.
	"seed": {Hidden: 384, Blocks: 15, OutDim: 3072},
	// gated: the gated PixelCNN sized to train well in 30 minutes on a 2-core CPU (MNIST).
	"gated": {Arch: ArchGated, Hidden: 32, Blocks: 7},
	// uva: the gated PixelCNN of the UvA tutorial (64 channels, 7 layers; 0.81 bits/dim on
	// 8-bit MNIST after 150 epochs): a GPU-sized model.
	"uva": {Arch: ArchGated, Hidden: 64, Blocks: 7},
}

// presetLR is the Adam learning rate of the presets sized for 30 CPU minutes on MNIST, where
// 4e-3 beat the field's usual 1e-3 at every step measured (bench/results/2026-12-08-cpu-lr);
// the other presets take DefaultLR.
var presetLR = map[string]float64{"mnist": 4e-3, "gated": 4e-3}

// DefaultLR is the learning rate of a preset without one of its own (PixelCNN++'s).
const DefaultLR = 1e-3

// PresetLR is the default learning rate of the named preset.
func PresetLR(name string) float64 {
	if lr, ok := presetLR[name]; ok {
		return lr
	}
	return DefaultLR
}

// Presets lists the preset names.
func Presets() []string {
	var names []string
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PresetConfig returns the named preset for images of the given size and colour count. When
// the preset does not fit (e.g. widths not divisible by 3 colours) it returns the config and
// the validation error, so that a caller may override widths and validate again.
func PresetConfig(name string, colors, height, width int) (Config, error) {
	p, ok := presets[name]
	if !ok {
		return Config{Preset: name}, fmt.Errorf("preset %q: unknown (have %v)", name, Presets())
	}
	p.Preset, p.Colors, p.Height, p.Width = name, colors, height, width
	if p.Arch == ArchGated {
		p.Dilations = RepeatDilations(DefaultDilations, p.Blocks)
	}
	return p, p.Validate()
}

// Validate checks the architecture, and that every width is positive and divisible by the
// colour count.
func (c Config) Validate() error {
	a, err := LookupArch(c.ArchName())
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.Classes < 0 {
		return fmt.Errorf("config: classes %d must be >= 0 (0: unconditional)", c.Classes)
	}
	if err := c.validateImage(); err != nil {
		return err
	}
	return a.validate(c)
}

// validateImage checks the colour count and image size.
func (c Config) validateImage() error {
	if c.Colors != 1 && c.Colors != 3 {
		return fmt.Errorf("config: colors %d, want 1 or 3", c.Colors)
	}
	if c.Height < 1 || c.Width < 1 {
		return fmt.Errorf("config: image size %dx%d must be positive", c.Height, c.Width)
	}
	return nil
}

// validateSeed checks the seed architecture's widths.
func (c Config) validateSeed() error {
	if c.Blocks < 0 {
		return fmt.Errorf("config: blocks %d must be >= 0", c.Blocks)
	}
	for _, w := range []struct {
		name string
		v    int
	}{{"hidden", c.Hidden}, {"out_dim", c.OutDim}} {
		if w.v < 1 || w.v%c.Colors != 0 {
			return fmt.Errorf("config: %s %d must be positive and divisible by %d colours", w.name, w.v, c.Colors)
		}
	}
	return nil
}

// CheckImages reports an error when the model's image size differs from a dataset's.
func (c Config) CheckImages(dataset string, height, width, colors int) error {
	if c.Colors != colors || c.Height != height || c.Width != width {
		return fmt.Errorf("the model is for %dx%dx%d images, dataset %s has %dx%dx%d",
			c.Height, c.Width, c.Colors, dataset, height, width, colors)
	}
	return nil
}

// Subpixels is the number of modelled values per image, C*H*W: the bits/dim denominator.
func (c Config) Subpixels() int { return c.Colors * c.Height * c.Width }
