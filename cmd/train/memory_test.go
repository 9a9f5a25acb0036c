package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefusesWhatCannotFit: a model far too big for memory is refused with the numbers, before
// any allocation or any file is written (issue 10 item 2).
func TestRefusesWhatCannotFit(t *testing.T) {
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		t.Skip("no /proc/meminfo: the host's memory is not checked here")
	}
	dir := filepath.Join(t.TempDir(), "run")
	_, err := runArgs(t, with(t, "--hidden", "100000000", "--steps", "1", "--run-dir", dir)...)
	if err == nil || !strings.Contains(err.Error(), "training needs") || !strings.Contains(err.Error(), "available") {
		t.Fatalf("error %v; want one saying what training needs and what is available", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the refused run created %s", dir)
	}
}
