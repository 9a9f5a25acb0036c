package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pixelcnn/pixelcnn/fileio/fileiotest"
)

// TestReportOutputs: --profile-json and --roofline naming a device node or a FIFO are
// refused before anything runs, and by the JSON writer; the node stays.
func TestReportOutputs(t *testing.T) {
	for _, kind := range []struct {
		name string
		make func(testing.TB, string)
	}{{"FIFO", fileiotest.FIFO}, {"character device", fileiotest.CharDevice}} {
		t.Run(kind.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "report")
			kind.make(t, path)
			before, _ := os.Lstat(path)
			for _, err := range []error{
				checkWritable("--profile-json", path),
				writeProfileOutputs(profileReport{}, path, ""),
				checkWritable("--roofline", path),
			} {
				if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a regular file") {
					t.Errorf("%v, want an error naming %s as not a regular file", err, path)
				}
			}
			if after, _ := os.Lstat(path); after.Mode() != before.Mode() {
				t.Errorf("%s is now %v, was %v", path, after.Mode(), before.Mode())
			}
		})
	}
}
