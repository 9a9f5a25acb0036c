package pixelcnn

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn/safetensors"
)

// TestChecksumCoversMetadata: editing the optimiser's beta1 from 0.9 to 0.1 in a written
// checkpoint's header (same length, so every offset stays valid) is refused naming the file;
// it used to load and the run continued differently.
func TestChecksumCoversMetadata(t *testing.T) {
	dir := t.TempDir()
	good, _ := trainedCheckpoint(t, dir)
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	old, edit := []byte(`\"beta1\":0.9,`), []byte(`\"beta1\":0.1,`)
	if bytes.Count(raw, old) != 1 {
		t.Fatalf("the header holds %q %d times, want once", old, bytes.Count(raw, old))
	}
	path := filepath.Join(dir, "edited.safetensors")
	if err := os.WriteFile(path, bytes.Replace(raw, old, edit, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(good, cpu.New()); err != nil {
		t.Fatalf("the unedited file: %v", err)
	}
	_, err = Load(path, cpu.New())
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("Load of the edited file = %v, want a checksum error naming %s", err, path)
	}
}

// TestChecksumOlderFiles: a file written before the checksum covered the metadata (a data
// checksum only) and one from before any checksum still load, with a notice saying what is
// not verified; a damaged data byte under the old data checksum is still caught; a file
// saved from such a checkpoint carries the full checksum and loads without a notice.
func TestChecksumOlderFiles(t *testing.T) {
	dir := t.TempDir()
	good, split := trainedCheckpoint(t, dir)
	f, err := safetensors.Read(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Metadata[MetaSHA256]; !ok {
		t.Fatalf("a new checkpoint has no %s", MetaSHA256)
	}
	write := func(name string, meta map[string]string, ts []safetensors.Tensor) string {
		path := filepath.Join(dir, name)
		if err := safetensors.Write(path, ts, meta); err != nil {
			t.Fatal(err)
		}
		return path
	}
	older := func(dataSum string) map[string]string {
		m := maps.Clone(f.Metadata)
		delete(m, MetaSHA256)
		if dataSum != "" {
			m[MetaDataSHA256] = dataSum
		}
		return m
	}
	damaged := slices.Clone(f.Tensors)
	damaged[0].Data = slices.Clone(damaged[0].Data)
	damaged[0].Data[1] += 0.5
	for _, tc := range []struct {
		name, path string
		notice     string // "" = none
		err        string // "" = loads
	}{
		{"current", good, "", ""},
		{"data checksum only", write("data-sum.safetensors", older(safetensors.DataSHA256(f.Tensors)), f.Tensors), "its metadata (config, step, optimiser settings) is not", ""},
		{"no checksum", write("no-sum.safetensors", older(""), f.Tensors), "neither its tensor data nor its metadata", ""},
		{"data checksum, damaged data", write("damaged.safetensors", older(safetensors.DataSHA256(f.Tensors)), damaged), "", "data checksum mismatch"},
	} {
		ck, err := Load(tc.path, cpu.New())
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("%s: Load = %v, want an error naming the file and containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.notice == "" {
			if ck.Notice != "" {
				t.Errorf("%s: notice %q, want none", tc.name, ck.Notice)
			}
			continue
		}
		if !strings.Contains(ck.Notice, tc.notice) || !strings.Contains(ck.Notice, tc.path) || !strings.Contains(ck.Notice, "the next checkpoint") || strings.Contains(ck.Notice, "\n") {
			t.Errorf("%s: notice %q, want one line naming the file and saying %q", tc.name, ck.Notice, tc.notice)
		}
		// Saving it again (as a resumed run does) covers everything.
		tr, err := ck.Resume(split)
		if err != nil {
			t.Fatal(err)
		}
		resaved := filepath.Join(dir, "resaved.safetensors")
		if err := Save(resaved, ck.Model, tr, ck.Dataset); err != nil {
			t.Fatal(err)
		}
		if ck2, err := Load(resaved, cpu.New()); err != nil || ck2.Notice != "" {
			t.Errorf("%s, saved again: %v, notice %q; want a clean load", tc.name, err, ck2.Notice)
		}
	}
}
