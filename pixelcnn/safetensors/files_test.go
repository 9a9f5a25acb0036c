package safetensors

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pixelcnn/pixelcnn/fileio/fileiotest"
)

// specialFiles are the kinds of non-regular file a user can name as a checkpoint.
var specialFiles = []struct {
	name string
	make func(testing.TB, string)
}{
	{"character device", fileiotest.CharDevice},
	{"FIFO", fileiotest.FIFO},
	{"directory", func(t testing.TB, p string) {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}},
}

// TestWriteRefusesSpecialFiles: Write over a device node, a FIFO or a directory is refused
// naming the path, and the node is left as it was (it used to be replaced by a file).
func TestWriteRefusesSpecialFiles(t *testing.T) {
	for _, sf := range specialFiles {
		t.Run(sf.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ckpt.safetensors")
			sf.make(t, path)
			before, _ := os.Lstat(path)
			err := Write(path, sampleTensors(), sampleMeta())
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a regular file") {
				t.Fatalf("Write = %v, want an error naming %s as not a regular file", err, path)
			}
			if after, _ := os.Lstat(path); after.Mode() != before.Mode() {
				t.Errorf("%s is now %v, was %v", path, after.Mode(), before.Mode())
			}
		})
	}
}

// TestWriteFollowsLink: a checkpoint path that is a link to a regular file has the file
// replaced and the link kept.
func TestWriteFollowsLink(t *testing.T) {
	dir := t.TempDir()
	target, link := filepath.Join(dir, "real.safetensors"), filepath.Join(dir, "link.safetensors")
	writeOld(t, target)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := Write(link, sampleTensors(), sampleMeta()); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v, %v", st.Mode(), err)
	}
	f, err := Read(target)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(sampleTensors()) {
		t.Errorf("the target holds %d tensors, want the new file's %d", len(f.Tensors), len(sampleTensors()))
	}
}

// TestReadRefusesSpecialFiles: Read of a device node, a FIFO (without hanging) or a
// directory is an error naming the path as not a regular file.
func TestReadRefusesSpecialFiles(t *testing.T) {
	for _, sf := range specialFiles {
		t.Run(sf.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ckpt.safetensors")
			sf.make(t, path)
			err := fileiotest.Within(t, 10*time.Second, "Read", func() error { _, err := Read(path); return err })
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a regular file") {
				t.Fatalf("Read = %v, want an error naming %s as not a regular file", err, path)
			}
		})
	}
}

// TestReadChecksSizeAgainstHeader: a file longer or shorter than its header describes is
// refused naming the file, before its data is read.
func TestReadChecksSizeAgainstHeader(t *testing.T) {
	good := encode(t, sampleTensors(), sampleMeta())
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"extended", append(append([]byte{}, good...), make([]byte, 100)...), "the data section has"},
		{"truncated", good[:len(good)-3], "out of range for a"},
		{"only the length", good[:8], "exceeds the 0 bytes after the length field"},
	} {
		path := filepath.Join(t.TempDir(), "ckpt.safetensors")
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Read = %v, want an error naming %s and containing %q", tc.name, err, path, tc.want)
		}
	}
}

// TestContentSHA256: the hash changes with any metadata key or value, a tensor's name, shape
// or data, and not with the order the metadata map was built in; keys and values cannot be
// shifted into each other.
func TestContentSHA256(t *testing.T) {
	base := ContentSHA256(sampleTensors(), sampleMeta())
	meta := map[string]string{}
	for k, v := range sampleMeta() {
		meta[k] = v
	}
	if ContentSHA256(sampleTensors(), meta) != base {
		t.Fatal("ContentSHA256 depends on the map's construction")
	}
	for _, tc := range []struct {
		name string
		edit func([]Tensor, map[string]string)
	}{
		{"metadata value", func(_ []Tensor, m map[string]string) { m["format"] += "x" }},
		{"metadata key added", func(_ []Tensor, m map[string]string) { m["beta1"] = "0.1" }},
		{"metadata key removed", func(_ []Tensor, m map[string]string) { delete(m, "format") }},
		{"tensor name", func(ts []Tensor, _ map[string]string) { ts[1].Name = "input_conv.bias2" }},
		{"tensor shape", func(ts []Tensor, _ map[string]string) { ts[0].Shape = []int{2, 3, 9} }},
		{"tensor data", func(ts []Tensor, _ map[string]string) { ts[1].Data[0] = 1.25 }},
	} {
		ts, m := sampleTensors(), sampleMeta()
		tc.edit(ts, m)
		if ContentSHA256(ts, m) == base {
			t.Errorf("%s: the hash did not change", tc.name)
		}
	}
	a := ContentSHA256(nil, map[string]string{"a": "bc"})
	if a == ContentSHA256(nil, map[string]string{"ab": "c"}) {
		t.Error(`{"a": "bc"} and {"ab": "c"} hash alike`)
	}
}
