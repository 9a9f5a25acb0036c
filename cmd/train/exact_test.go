package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn/safetensors"
)

// otherISA is the CPU backend under another name, as the same machine running other
// kernels would name itself (nn/cpu names the ISA in Name).
type otherISA struct{ *cpu.Backend }

func (b otherISA) Name() string { return "cpu-other-isa:" + b.Backend.Name() }

func init() {
	nn.Register("cpu-other-isa", func() (nn.Backend, error) { return otherISA{cpu.New()}, nil })
}

// checkpointDiff says how two checkpoints differ: "" when they hold the same tensors and the
// same metadata bit for bit, the names of the runs that wrote them aside.
func checkpointDiff(t *testing.T, a, b string) string {
	t.Helper()
	read := func(path string) (*safetensors.File, map[string]any) {
		f, err := safetensors.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		var st map[string]any
		if err := json.Unmarshal([]byte(f.Metadata["train_state"]), &st); err != nil {
			t.Fatalf("%s: train_state: %v", path, err)
		}
		delete(st, "run")
		delete(f.Metadata, "train_state")
		for k := range f.Metadata {
			if strings.HasSuffix(k, "sha256") { // checksums over the header cover the run's name
				delete(f.Metadata, k)
			}
		}
		return f, st
	}
	fa, sa := read(a)
	fb, sb := read(b)
	if !maps.Equal(fa.Metadata, fb.Metadata) {
		return fmt.Sprintf("metadata %v, %v", fa.Metadata, fb.Metadata)
	}
	if ja, jb := fmt.Sprint(sa), fmt.Sprint(sb); ja != jb {
		return fmt.Sprintf("train state %s, %s", ja, jb)
	}
	if len(fa.Tensors) != len(fb.Tensors) {
		return fmt.Sprintf("%d tensors, %d", len(fa.Tensors), len(fb.Tensors))
	}
	for i, ta := range fa.Tensors {
		tb := fb.Tensors[i]
		if ta.Name != tb.Name || !slices.Equal(ta.Shape, tb.Shape) || !slices.Equal(ta.Data, tb.Data) {
			return "tensor " + ta.Name
		}
	}
	return ""
}

// TestResumeSaysWhenNotExact: a resume on another worker count (GOMAXPROCS), another ISA or
// backend, or at another precision prints that the run is not an exact continuation and
// notes it in the next metrics line; a resume on the same device says nothing of the kind.
func TestResumeSaysWhenNotExact(t *testing.T) {
	base := filepath.Join(t.TempDir(), "run")
	mustRun(t, with(t, "--steps", "2", "--run-dir", base, "--log-every", "1")...)
	procs := runtime.GOMAXPROCS(0)
	otherProcs := 1
	if procs == 1 {
		otherProcs = 2
	}
	for _, tc := range []struct {
		name  string
		procs int
		args  []string
		note  string // "": an exact continuation
	}{
		{"same device", procs, nil, ""},
		{"GOMAXPROCS", otherProcs, nil, fmt.Sprintf("(%d workers) (the checkpoint's was ", otherProcs)},
		{"ISA", procs, []string{"--device", "cpu-other-isa"}, "device cpu-other-isa:cpu"},
		{"precision", procs, []string{"--precision", "tf32"}, "precision tf32 (the checkpoint's was fp32)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyRun(t, base)
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(tc.procs))
			out := mustRun(t, append([]string{"--resume", dir, "--steps", "3"}, tc.args...)...)
			said := strings.Contains(out, "not an exact continuation")
			var noted []string
			for _, m := range readMetricsFile(t, dir) {
				if strings.Contains(m.Note, "not an exact continuation") {
					noted = append(noted, m.Note)
				}
			}
			if tc.note == "" {
				if said || len(noted) > 0 {
					t.Errorf("an exact resume says it is not:\n%s\nnotes %q", out, noted)
				}
				return
			}
			if !said || !strings.Contains(out, tc.note) {
				t.Errorf("output does not say %q ... not an exact continuation:\n%s", tc.note, out)
			}
			if len(noted) != 1 || !strings.Contains(noted[0], tc.note) {
				t.Errorf("metrics notes %q, want one noting %q", noted, tc.note)
			}
			// config.json now names the device the run goes on with, and said it changed.
			cfg, err := readRunConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name != "precision" && !strings.Contains(out, "device "+cfg.Device+" (the checkpoint's was ") {
				t.Errorf("config.json's device became %s without a note saying so:\n%s", cfg.Device, out)
			}
		})
	}
}
