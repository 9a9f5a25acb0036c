// Package pixelcnn is the model of van den Oord et al. (2016) on top of nn: configuration and
// presets, the network, its loss in bits/dim, the trainer, the samplers and checkpoint I/O.
package pixelcnn

import (
	"fmt"
	"sort"
)

// Config is the model's shape. The residual stream has 2*Hidden features, each block's inner
// convolutions Hidden, the output head OutDim, and the logits 256*Colors.
type Config struct {
	Preset string `json:"preset,omitempty"`
	Colors int    `json:"colors"`
	Height int    `json:"height"`
	Width  int    `json:"width"`
	Hidden int    `json:"hidden"`
	Blocks int    `json:"blocks"`
	OutDim int    `json:"out_dim"`
}

// presets: hidden, blocks, out_dim.
var presets = map[string]Config{
	// tiny: seconds per step on one core; for tests.
	"tiny": {Hidden: 6, Blocks: 2, OutDim: 12},
	// mnist: the paper's MNIST scale, 32 feature maps in the 3x3 layers (residual stream 64).
	"mnist": {Hidden: 32, Blocks: 7, OutDim: 32},
	// cifar10: 15 blocks, residual stream 384, head 768, all divisible by 3.
	"cifar10": {Hidden: 192, Blocks: 15, OutDim: 768},
	// seed: the tutorial's config.yml (hidden_dim 128, out_dim 1024, n_layers 15), tripled.
	"seed": {Hidden: 384, Blocks: 15, OutDim: 3072},
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
	return p, p.Validate()
}

// Validate checks that every width is positive and divisible by the colour count.
func (c Config) Validate() error {
	if c.Colors != 1 && c.Colors != 3 {
		return fmt.Errorf("config: colors %d, want 1 or 3", c.Colors)
	}
	if c.Height < 1 || c.Width < 1 {
		return fmt.Errorf("config: image size %dx%d must be positive", c.Height, c.Width)
	}
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
