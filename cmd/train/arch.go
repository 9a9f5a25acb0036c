package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data"
)

// defaultPreset is the preset of a run without --preset: the gated one for --arch gated,
// else the dataset's.
func defaultPreset(f flags) string {
	if f.arch == pixelcnn.ArchGated {
		return "gated"
	}
	if f.dataset == "cifar10" {
		return "cifar10"
	}
	return "mnist"
}

// applyArchFlags applies --arch, --dilations and --conditional to cfg (the preset's, with the
// width overrides applied): the architecture must be the preset's, dilations apply to the
// gated architecture only, and a conditional model needs the dataset's labels.
func applyArchFlags(cfg *pixelcnn.Config, f flags, fs *pflag.FlagSet, ds *data.Dataset) error {
	if fs.Changed("arch") {
		if _, err := pixelcnn.LookupArch(f.arch); err != nil {
			return fmt.Errorf("--arch: %w", err)
		}
		if f.arch != cfg.ArchName() {
			return fmt.Errorf("--arch %s: preset %s is arch %s (pick a preset of arch %s, e.g. --preset %s, or drop --preset)",
				f.arch, cfg.Preset, cfg.ArchName(), f.arch, map[string]string{pixelcnn.ArchGated: "gated", pixelcnn.ArchPixelCNN: "mnist"}[f.arch])
		}
	}
	if cfg.ArchName() == pixelcnn.ArchGated {
		pattern := pixelcnn.DefaultDilations
		if fs.Changed("dilations") {
			var err error
			if pattern, err = parseDilations(f.dilations); err != nil {
				return err
			}
		}
		if fs.Changed("dilations") && cfg.Blocks > 0 && len(pattern) > cfg.Blocks {
			return fmt.Errorf("--dilations %s: %d values for %d gated layers (--blocks)", f.dilations, len(pattern), cfg.Blocks)
		}
		cfg.Dilations = pixelcnn.RepeatDilations(pattern, cfg.Blocks)
	} else if fs.Changed("dilations") {
		return fmt.Errorf("--dilations: only the gated architecture has dilations (this run is arch %s; add --arch gated)", cfg.ArchName())
	}
	if f.conditional {
		if ds.NoLabels != "" {
			return fmt.Errorf("--conditional: dataset %s has no labels here (%s)", ds.Name, ds.NoLabels)
		}
		cfg.Classes = ds.Classes
	}
	return nil
}

// parseDilations parses --dilations: positive integers separated by commas.
func parseDilations(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("--dilations is empty: give positive integers separated by commas, e.g. 1,2,1,4")
	}
	var ds []int
	for _, part := range strings.Split(s, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || d < 1 {
			return nil, fmt.Errorf("--dilations %s: %q is not a positive integer (want e.g. 1,2,1,4)", s, part)
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// widthFix names the widths of cfg that its colour count does not divide (each colour gets
// an equal group of features), with the flags that override them to the next widths that fit;
// "" when every width fits.
func widthFix(cfg pixelcnn.Config) string {
	widths := []struct {
		name, flag string
		v          int
	}{{"hidden", "hidden", cfg.Hidden}}
	if cfg.ArchName() == pixelcnn.ArchPixelCNN {
		widths = append(widths, struct {
			name, flag string
			v          int
		}{"out_dim", "out-dim", cfg.OutDim})
	}
	var bad, fix []string
	for _, w := range widths {
		if cfg.Colors > 0 && w.v > 0 && w.v%cfg.Colors != 0 {
			bad = append(bad, fmt.Sprintf("%s %d", w.name, w.v))
			fix = append(fix, fmt.Sprintf("--%s %d", w.flag, (w.v/cfg.Colors+1)*cfg.Colors))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	verb := "is"
	if len(bad) > 1 {
		verb = "are"
	}
	msg := fmt.Sprintf("%s %s not divisible by the %d colours: override with %s", strings.Join(bad, " and "), verb, cfg.Colors, strings.Join(fix, " "))
	if cfg.ArchName() == pixelcnn.ArchPixelCNN && cfg.Colors == 3 {
		msg += ", or use --preset cifar10 (every width divisible by 3)"
	}
	return msg
}
