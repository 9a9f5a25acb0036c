// Command compress is a lossless image codec made from a trained PixelCNN checkpoint: each
// subpixel is range-coded with the model's predicted distribution, so files are about as
// small as the model's NLL says (package pixelcnn/codec).
//
//	compress encode --checkpoint CK (--dataset D [--split S] [--limit N] | IMAGE.png ...) --out F
//	compress decode --checkpoint CK --in F --out-dir DIR
//	compress bench  --checkpoint CK --dataset D [--split S] [--limit N]
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"pixelcnn/nn"
	_ "pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data"
)

const usage = `usage:
  compress encode --checkpoint CK (--dataset D [--split S] [--limit N] | IMAGE.png ...) --out F
  compress decode --checkpoint CK --in F --out-dir DIR
  compress bench  --checkpoint CK --dataset D [--split S] [--limit N]
run "compress CMD --help" for a command's flags`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{"encode": encodeCmd, "decode": decodeCmd, "bench": benchCmd}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "compress: unknown command %q\n%s\n", os.Args[1], usage)
		os.Exit(2)
	}
	if err := cmd(os.Args[2:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "compress %s: %v\n", os.Args[1], err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "compress %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// usageError is a bad command line (exit status 2).
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// common are the flags every command has.
type common struct {
	checkpoint, device string
	batch              int
}

func (c *common) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.checkpoint, "checkpoint", "", "checkpoint (.safetensors) or run directory whose model codes the images (required)")
	fs.StringVar(&c.device, "device", "cpu", "cpu | cuda | auto (decode on the kind of backend that encoded)")
	fs.IntVar(&c.batch, "batch", 0, "images per cached pass (encode; 0: the codec's default)")
}

func parse(fs *pflag.FlagSet, args []string, c *common) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if c.checkpoint == "" {
		return usagef("--checkpoint is required")
	}
	if c.batch < 0 {
		return usagef("--batch %d must be >= 0", c.batch)
	}
	return nil
}

// load opens the backend and the checkpoint's model (--checkpoint may be a run directory).
func (c *common) load() (*pixelcnn.Model, error) {
	path, err := pixelcnn.ResolveCheckpoint(c.checkpoint)
	if err != nil {
		return nil, err
	}
	b, err := nn.Open(c.device)
	if err != nil {
		return nil, err
	}
	ck, err := pixelcnn.Load(path, b)
	if err != nil {
		return nil, err
	}
	return ck.Model, nil
}

// datasetImages returns the first limit images (0: all) of a dataset split, checked against
// the model's image size.
func datasetImages(m *pixelcnn.Model, name, dir, split string, limit int) ([]uint8, []uint8, int, error) {
	ds, err := data.Load(name, dir)
	if err != nil {
		return nil, nil, 0, err
	}
	if err := m.Config.CheckImages(name, ds.H, ds.W, ds.C); err != nil {
		return nil, nil, 0, err
	}
	if m.Conditional() && ds.NoLabels != "" {
		return nil, nil, 0, fmt.Errorf("the checkpoint is class-conditional and %s has no labels here (%s)", name, ds.NoLabels)
	}
	var s data.Split
	switch split {
	case "test":
		s = ds.Test
	case "train":
		s = ds.Train
	default:
		return nil, nil, 0, usagef("--split %q: want test or train", split)
	}
	n := s.N
	if limit > 0 && limit < n {
		n = limit
	}
	var labels []uint8
	if m.Conditional() {
		labels = s.Labels[:n]
	}
	return s.Pixels[:n*ds.ImageLen()], labels, n, nil
}

// progress prints "label: done/total images" on stderr, overwriting the line.
func progress(label string) func(done, total int) {
	return func(done, total int) {
		fmt.Fprintf(os.Stderr, "\r%s: %d/%d images", label, done, total)
		if done == total {
			fmt.Fprintln(os.Stderr)
		}
	}
}
