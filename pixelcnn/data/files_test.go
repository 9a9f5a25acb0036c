package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pixelcnn/pixelcnn/fileio/fileiotest"
)

// TestReadersRefuseSpecialFiles: every dataset reader refuses a FIFO (without hanging), a
// device node and a directory naming the path.
func TestReadersRefuseSpecialFiles(t *testing.T) {
	readers := []struct {
		name string
		read func(string) error
	}{
		{"idx images", func(p string) error { _, _, _, _, err := ReadIDXImages(p); return err }},
		{"idx labels", func(p string) error { _, err := ReadIDXLabels(p, 10); return err }},
		{"cifar", func(p string) error { _, _, err := ReadCIFARBatch(p); return err }},
	}
	for _, kind := range []struct {
		name string
		make func(testing.TB, string)
	}{
		{"FIFO", fileiotest.FIFO},
		{"character device", fileiotest.CharDevice},
		{"directory", func(t testing.TB, p string) { os.Mkdir(p, 0o755) }},
	} {
		t.Run(kind.name, func(t *testing.T) {
			for _, r := range readers {
				path := filepath.Join(t.TempDir(), "data.bin")
				kind.make(t, path)
				err := fileiotest.Within(t, 10*time.Second, r.name, func() error { return r.read(path) })
				if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a regular file") {
					t.Errorf("%s: %v, want an error naming %s as not a regular file", r.name, err, path)
				}
			}
		})
	}
}

// TestCIFARSizeLimit: a CIFAR batch larger than the whole of CIFAR-10 is refused before it
// is read (a sparse file: no disk space is used).
func TestCIFARSizeLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data_batch_1.bin")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, (cifarMaxImages+1)*cifarRecord); err != nil {
		t.Fatal(err)
	}
	_, _, err := ReadCIFARBatch(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("ReadCIFARBatch = %v, want an error naming %s and the limit", err, path)
	}
}
