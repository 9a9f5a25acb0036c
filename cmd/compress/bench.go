package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"pixelcnn/cmd/internal/cli"
	"pixelcnn/pixelcnn/codec"
	"pixelcnn/pixelcnn/fileio"
)

// row is one codec's result in the side-by-side table.
type row struct {
	Codec      string  `json:"codec"`
	Bytes      int64   `json:"bytes"`
	BitsPerDim float64 `json:"bits_per_dim"`
	Note       string  `json:"note,omitempty"`
}

// benchResult is what bench prints as JSON with --json.
type benchResult struct {
	Dataset       string  `json:"dataset"`
	Split         string  `json:"split"`
	Images        int     `json:"images"`
	Checkpoint    string  `json:"checkpoint"`
	Backend       string  `json:"backend"`
	NLLBitsPerDim float64 `json:"model_nll_bits_per_dim"`
	// TablesBitsPerDim is the ideal code length of the integer frequency tables.
	TablesBitsPerDim float64 `json:"tables_bits_per_dim"`
	EncodePerSec     float64 `json:"encode_images_per_s"`
	DecodePerSec     float64 `json:"decode_images_per_s"`
	Rows             []row   `json:"rows"`
}

// add appends a row and reports it on stderr at once, so a long run shows its results as it
// goes.
func (r *benchResult) add(x row) {
	r.Rows = append(r.Rows, x)
	fmt.Fprintf(os.Stderr, "%s: %d bytes, %.5f bits/dim %s\n", x.Codec, x.Bytes, x.BitsPerDim, x.Note)
}

func benchCmd(args []string) error {
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	var c common
	c.register(fs)
	c.registerBatch(fs)
	dataset := fs.String("dataset", "mnist", "mnist | fashion-mnist | cifar10")
	dataDir := fs.String("data-dir", "", "dataset directory (default: the dataset's standard place)")
	split := fs.String("split", "test", "test | train")
	limit := fs.Int("limit", 0, "the first N images of the split (0: all)")
	jobs := fs.Int("jobs", 2, "cwebp/cjxl processes at a time for the per-image files")
	asJSON := fs.String("json", "", "also write the results as JSON to this file")
	if err := parse(fs, benchSynopsis, args, &c, cli.Parse); err != nil {
		return err
	}
	switch {
	case *limit < 0:
		return usagef("--limit %d must be >= 0 (0: all)", *limit)
	case *jobs < 1:
		return usagef("--jobs %d must be >= 1", *jobs)
	}
	if err := checkSplit(*split); err != nil {
		return err
	}
	if *asJSON != "" {
		if err := checkOutput(*asJSON, c.checkpoint); err != nil {
			return err
		}
	}
	m, err := c.load()
	if err != nil {
		return err
	}
	px, labels, n, err := datasetImages(m, *dataset, *dataDir, *split, *limit)
	if err != nil {
		return err
	}
	cfg := m.Config
	subpixels := n * cfg.Subpixels()
	bpd := func(b int64) float64 { return float64(8*b) / float64(subpixels) }
	res := benchResult{Dataset: *dataset, Split: *split, Images: n, Checkpoint: c.checkpoint, Backend: codec.BackendTag(m.B)}

	// Ours: encode, decode, compare.
	start := time.Now()
	file, st, err := codec.Encode(m, px, n, codec.Options{Batch: c.batch, Progress: progress("encode"), Labels: labels})
	if err != nil {
		return err
	}
	res.EncodePerSec = float64(n) / time.Since(start).Seconds()
	start = time.Now()
	_, back, err := codec.Decode(m, file, codec.Options{Progress: progress("decode")})
	if err != nil {
		return fmt.Errorf("decoding what was just encoded: %w", err)
	}
	res.DecodePerSec = float64(n) / time.Since(start).Seconds()
	if !bytes.Equal(back, px) {
		return fmt.Errorf("round trip: decoded images differ from the originals")
	}
	res.NLLBitsPerDim = st.NLLBitsPerDim()
	res.TablesBitsPerDim = st.QuantBits / float64(st.Subpixels)
	res.add(row{Codec: "pixelcnn codec (this)", Bytes: int64(st.Bytes), BitsPerDim: st.BitsPerDim(),
		Note: fmt.Sprintf("%+.3f%% vs NLL, round trip exact", 100*(st.BitsPerDim()/st.NLLBitsPerDim()-1))})
	fmt.Fprintf(os.Stderr, "model NLL %.5f bits/dim, integer tables %.5f; encode %.1f images/s, decode %.1f images/s\n",
		res.NLLBitsPerDim, res.TablesBitsPerDim, res.EncodePerSec, res.DecodePerSec)

	// PNG, per image and tiled, Go's encoder at best compression.
	sub := cfg.Subpixels()
	var pngBytes int64
	for i := 0; i < n; i++ {
		b, err := encodePNG(px[i*sub:(i+1)*sub], cfg.Height, cfg.Width, cfg.Colors, png.BestCompression)
		if err != nil {
			return err
		}
		pngBytes += int64(len(b))
	}
	res.add(row{Codec: "PNG per image (Go, best compression)", Bytes: pngBytes, BitsPerDim: bpd(pngBytes)})
	tile, th, tw := tiled(px, n, cfg.Height, cfg.Width, cfg.Colors)
	tb, err := encodePNG(tile, th, tw, cfg.Colors, png.BestCompression)
	if err != nil {
		return err
	}
	res.add(row{Codec: fmt.Sprintf("PNG tiled %dx%d (Go, best compression)", tw, th), Bytes: int64(len(tb)), BitsPerDim: bpd(int64(len(tb))),
		Note: "padding cells are black"})

	// cwebp and cjxl, per image and tiled, every byte of every file counted.
	tmp, err := os.MkdirTemp("", "compress-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, t := range []struct {
		name, bin, ext string
		args           []string
	}{
		{"WebP lossless (cwebp -lossless -z 9)", "cwebp", "webp", []string{"-quiet", "-lossless", "-z", "9", "IN", "-o", "OUT"}},
		{"JPEG XL lossless (cjxl -d 0 -e 9)", "cjxl", "jxl", []string{"-d", "0", "-e", "9", "--quiet", "IN", "OUT"}},
	} {
		if _, err := exec.LookPath(t.bin); err != nil {
			res.add(row{Codec: t.name, Note: t.bin + " not installed (Debian: apt-get install webp libjxl-tools)"})
			continue
		}
		fmt.Fprintf(os.Stderr, "%s per image...\n", t.bin)
		per, err := externalPerImage(tmp, t.bin, t.ext, t.args, px, n, cfg.Height, cfg.Width, cfg.Colors, *jobs)
		if err != nil {
			return err
		}
		res.add(row{Codec: t.name + " per image", Bytes: per, BitsPerDim: bpd(per)})
		in := filepath.Join(tmp, "tiled.png")
		if err := fileio.WriteFile(in, tb); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s tiled...\n", t.bin)
		size, err := external(t.bin, t.args, in, filepath.Join(tmp, "tiled."+t.ext))
		if err != nil {
			return err
		}
		res.add(row{Codec: t.name + " tiled", Bytes: size, BitsPerDim: bpd(size)})
	}
	printTable(res)
	if *asJSON != "" {
		js, _ := json.MarshalIndent(res, "", "  ")
		return fileio.WriteFile(*asJSON, append(js, '\n'))
	}
	return nil
}

// tiled lays n images out in a grid of ceil(sqrt(n)) columns, HWC, unused cells black.
func tiled(px []uint8, n, h, w, c int) ([]uint8, int, int) {
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	rows := (n + cols - 1) / cols
	th, tw := rows*h, cols*w
	out := make([]uint8, th*tw*c)
	for i := 0; i < n; i++ {
		r, q := i/cols, i%cols
		for y := 0; y < h; y++ {
			src := px[(i*h+y)*w*c : (i*h+y+1)*w*c]
			copy(out[((r*h+y)*tw+q*w)*c:], src)
		}
	}
	return out, th, tw
}

// external runs bin with IN and OUT in args replaced and returns OUT's size.
func external(bin string, args []string, in, out string) (int64, error) {
	a := make([]string, len(args))
	for i, s := range args {
		switch s {
		case "IN":
			s = in
		case "OUT":
			s = out
		}
		a[i] = s
	}
	if msg, err := exec.Command(bin, a...).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%s %v: %w: %s", bin, a, err, msg)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// externalPerImage codes each image as its own file with bin, jobs at a time, and returns
// the total size.
func externalPerImage(tmp, bin, ext string, args []string, px []uint8, n, h, w, c, jobs int) (int64, error) {
	sub := h * w * c
	var (
		mu    sync.Mutex
		total int64
		first error
		wg    sync.WaitGroup
	)
	next := make(chan int)
	for j := 0; j < jobs; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				in := filepath.Join(tmp, fmt.Sprintf("%06d.png", i))
				out := filepath.Join(tmp, fmt.Sprintf("%06d.%s", i, ext))
				err := writePNG(in, px[i*sub:(i+1)*sub], h, w, c)
				var size int64
				if err == nil {
					size, err = external(bin, args, in, out)
				}
				os.Remove(in)
				os.Remove(out)
				mu.Lock()
				total += size
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return total, first
}

// printTable prints the results as a Markdown table.
func printTable(r benchResult) {
	fmt.Printf("%s %s, %d images, checkpoint %s, %s; model NLL %.5f bits/dim (integer tables %.5f); codec encode %.1f images/s, decode %.1f images/s\n\n",
		r.Dataset, r.Split, r.Images, r.Checkpoint, r.Backend, r.NLLBitsPerDim, r.TablesBitsPerDim, r.EncodePerSec, r.DecodePerSec)
	fmt.Println("| codec | bytes | bits/dim | vs this codec |")
	fmt.Println("|---|---:|---:|---:|")
	ours := r.Rows[0].Bytes
	for _, x := range r.Rows {
		if x.Bytes == 0 {
			fmt.Printf("| %s | – | – | %s |\n", x.Codec, x.Note)
			continue
		}
		rel := fmt.Sprintf("%.2fx", float64(x.Bytes)/float64(ours))
		if x.Note != "" {
			rel += " (" + x.Note + ")"
		}
		fmt.Printf("| %s | %d | %.4f | %s |\n", x.Codec, x.Bytes, x.BitsPerDim, rel)
	}
}
