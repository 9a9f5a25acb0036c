package main

import (
	"bytes"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"pixelcnn/cmd/internal/cli"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/codec"
	"pixelcnn/pixelcnn/fileio"
)

func encodeCmd(args []string) error {
	fs := pflag.NewFlagSet("encode", pflag.ContinueOnError)
	var c common
	c.register(fs)
	c.registerBatch(fs)
	dataset := fs.String("dataset", "", "code the images of this dataset (mnist | fashion-mnist | cifar10) instead of PNG files")
	dataDir := fs.String("data-dir", "", "dataset directory (default: the dataset's standard place)")
	split := fs.String("split", "test", "test | train")
	limit := fs.Int("limit", 0, "code the first N images of the split (0: all)")
	out := fs.String("out", "", "the file to write (required; replaced atomically)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	class := fs.Int("class", -1, "class-conditional checkpoints, PNG files: the class of every image (a dataset's images carry their labels)")
	if err := parse(fs, encodeSynopsis, args, &c, cli.ParseArgs); err != nil {
		return err
	}
	switch {
	case *out == "":
		return usagef("--out is required")
	case (*dataset == "") == (fs.NArg() == 0):
		return usagef("give either --dataset or PNG files, not both and not neither")
	case *limit < 0:
		return usagef("--limit %d must be >= 0", *limit)
	}
	if *dataset == "" {
		if err := cli.Unused(fs, "is only read with --dataset (PNG files are coded as given)", "split", "limit", "data-dir"); err != nil {
			return usageError{err}
		}
	} else {
		if err := checkSplit(*split); err != nil {
			return err
		}
		if fs.Changed("class") {
			return usagef("--class is for PNG files: a dataset's images carry their own labels")
		}
	}
	if err := checkOutput(*out, c.checkpoint, fs.Args()...); err != nil {
		return err
	}
	m, err := c.load()
	if err != nil {
		return err
	}
	var px, labels []uint8
	var n int
	if *dataset != "" {
		px, labels, n, err = datasetImages(m, *dataset, *dataDir, *split, *limit)
	} else {
		px, err = readPNGs(fs.Args(), m.Config.Height, m.Config.Width, m.Config.Colors)
		n = fs.NArg()
		if err == nil {
			labels, err = pngLabels(m, *class, fs.Changed("class"), n)
		}
	}
	if err != nil {
		return err
	}
	o := codec.Options{Batch: c.batch, Labels: labels}
	if !*quiet {
		o.Progress = progress("encode")
	}
	start := time.Now()
	file, st, err := codec.Encode(m, px, n, o)
	if err != nil {
		return err
	}
	took := time.Since(start)
	if err := fileio.WriteFile(*out, file); err != nil {
		return err
	}
	fmt.Printf("%s: %d images, %d bytes: %.5f bits/dim; model NLL %.5f bits/dim; overhead %+.3f%% (integer tables %+.3f%%); %s, %.1f images/s\n",
		*out, n, st.Bytes, st.BitsPerDim(), st.NLLBitsPerDim(),
		100*(st.BitsPerDim()/st.NLLBitsPerDim()-1), 100*(st.QuantBits/st.NLLBits-1),
		codec.BackendTag(m.B), float64(n)/took.Seconds())
	return nil
}

// pngLabels is --class for n PNG files: required for a class-conditional model (in range),
// refused for an unconditional one.
func pngLabels(m *pixelcnn.Model, class int, given bool, n int) ([]uint8, error) {
	classes := m.Config.Classes
	switch {
	case classes == 0 && given:
		return nil, usagef("--class %d: the checkpoint is an unconditional model", class)
	case classes == 0:
		return nil, nil
	case !given:
		return nil, usagef("the checkpoint is class-conditional: give the images' class with --class (0..%d)", classes-1)
	case class < 0 || class >= classes:
		return nil, usagef("--class %d: the model has classes 0..%d", class, classes-1)
	}
	return bytes.Repeat([]byte{byte(class)}, n), nil
}

// checkOutput refuses an output that cannot be written as a regular file, or that is one of
// the command's inputs: the checkpoint (a run directory stands for its checkpoint) or a PNG.
func checkOutput(out, checkpoint string, pngs ...string) error {
	ck, _ := pixelcnn.ResolveCheckpoint(checkpoint) // a bad --checkpoint is reported by load
	return fileio.CheckOutput(out, append([]string{checkpoint, ck}, pngs...)...)
}
