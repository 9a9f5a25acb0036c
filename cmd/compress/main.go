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
	"io"
	"os"

	"github.com/spf13/pflag"

	"pixelcnn/cmd/internal/cli"
	"pixelcnn/nn"
	_ "pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data"
)

// The synopses: the command's usage lists them all, each subcommand's help starts with its own.
const (
	encodeSynopsis = "compress encode --checkpoint CK (--dataset D [--split S] [--limit N] | IMAGE.png ...) --out F"
	decodeSynopsis = "compress decode --checkpoint CK --in F --out-dir DIR"
	benchSynopsis  = "compress bench  --checkpoint CK --dataset D [--split S] [--limit N]"
	usage          = "usage:\n  " + encodeSynopsis + "\n  " + decodeSynopsis + "\n  " + benchSynopsis +
		"\nrun \"compress CMD --help\" (or \"compress help CMD\") for a command's flags"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is main without the process exit, so tests can call it: 0 on success and for help,
// 2 for a bad command line, 1 for a failed command.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help":
		if len(args) == 1 {
			fmt.Fprintln(stdout, usage)
			return 0
		}
		if len(args) > 2 {
			fmt.Fprintf(stderr, "compress: unexpected arguments %q after help %s\n", args[2:], args[1])
			return 2
		}
		return run([]string{args[1], "--help"}, stdout, stderr)
	}
	cmds := map[string]func([]string) error{"encode": encodeCmd, "decode": decodeCmd, "bench": benchCmd}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "compress: unknown command %q\n%s\n", args[0], usage)
		return 2
	}
	if err := cmd(args[1:]); err != nil {
		var h cli.Help
		if errors.As(err, &h) {
			fmt.Fprint(stdout, h.Usage)
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "compress %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(stderr, "compress %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// usageError is a bad command line (exit status 2).
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// common are the flags every command has, and --batch, which the encoding commands have.
type common struct {
	checkpoint, device string
	batch              int
}

func (c *common) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.checkpoint, "checkpoint", "", "checkpoint (.safetensors) or run directory whose model codes the images (required)")
	fs.StringVar(&c.device, "device", "cpu", "cpu | cuda | auto (decode on the kind of backend that encoded)")
}

// registerBatch adds --batch: decoding has no such choice (it follows the file).
func (c *common) registerBatch(fs *pflag.FlagSet) {
	fs.IntVar(&c.batch, "batch", 0, "images per cached pass (0: the codec's default)")
}

// parse parses a subcommand's flags with parseFn (cli.Parse, or cli.ParseArgs for a
// subcommand that takes files) and checks the common ones. Help passes through as cli.Help.
func parse(fs *pflag.FlagSet, synopsis string, args []string, c *common, parseFn func(*pflag.FlagSet, string, []string) error) error {
	if err := parseFn(fs, "usage: "+synopsis, args); err != nil {
		var h cli.Help
		if errors.As(err, &h) {
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
	if ck.Notice != "" {
		fmt.Fprintln(os.Stderr, ck.Notice)
	}
	return ck.Model, nil
}

// checkSplit refuses a --split other than test and train.
func checkSplit(split string) error {
	if split != "test" && split != "train" {
		return usagef("--split %q: want test or train", split)
	}
	return nil
}

// datasetImages returns the first limit images (0: all) of a dataset split, checked against
// the model's image size.
func datasetImages(m *pixelcnn.Model, name, dir, split string, limit int) ([]uint8, []uint8, int, error) {
	if err := checkSplit(split); err != nil {
		return nil, nil, 0, err
	}
	ds, err := data.LoadSplit(name, dir, split)
	if err != nil {
		return nil, nil, 0, err
	}
	if err := m.Config.CheckImages(name, ds.H, ds.W, ds.C); err != nil {
		return nil, nil, 0, err
	}
	if m.Conditional() && ds.NoLabels != "" {
		return nil, nil, 0, fmt.Errorf("the checkpoint is class-conditional and %s has no labels here (%s)", name, ds.NoLabels)
	}
	s := ds.Test
	if split == "train" {
		s = ds.Train
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
