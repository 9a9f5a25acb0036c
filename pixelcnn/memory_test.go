package pixelcnn

import (
	"bufio"
	"strings"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
)

// smallMemory is a CPU backend that reports little device memory.
type smallMemory struct {
	nn.Backend
	free int64
}

func (s smallMemory) MemInfo() (free, total int64, err error) { return s.free, 4 * s.free, nil }

func TestParamCount(t *testing.T) {
	c := tinyConfig(3, 5, 4)
	m, err := NewModel(cpu.New(), c, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, vars := m.Params()
	n := 0
	for _, v := range vars {
		n += v.Value.Len()
	}
	if got := paramCount(c); got != float64(n) {
		t.Fatalf("paramCount = %v, the model has %d", got, n)
	}
}

// TestCheckMemory: absurd runs are refused with the bytes needed and available, on the host
// (CPU) and against a device's free memory; ordinary ones pass.
func TestCheckMemory(t *testing.T) {
	if _, ok := hostAvailable(); !ok {
		t.Skip("no /proc/meminfo MemAvailable here")
	}
	huge := tinyConfig(1, 28, 28)
	huge.Hidden = 100_000_000
	mnist := Config{Colors: 1, Height: 28, Width: 28, Hidden: 64, Blocks: 8, OutDim: 256}
	o := DefaultTrainOptions()
	dev := smallMemory{Backend: cpu.New(), free: 1 << 20}
	for _, tc := range []struct {
		name string
		b    nn.Backend
		need MemoryNeed
		want string // "" = fits
	}{
		{"train mnist", cpu.New(), TrainMemory(mnist, o, 64), ""},
		{"eval mnist", cpu.New(), EvalMemory(mnist, 64), ""},
		{"sample 16", cpu.New(), SampleMemory(mnist, 16, false), ""},
		{"train hidden 1e8", cpu.New(), TrainMemory(huge, o, 64), "GiB of memory; this machine has"},
		{"sample 1e9 images", cpu.New(), SampleMemory(mnist, 1_000_000_000, false), "needs"},
		{"naive sample 1e9 images", cpu.New(), SampleMemory(mnist, 1_000_000_000, true), "needs"},
		{"device too small", dev, TrainMemory(mnist, o, 64), "of device memory; " + dev.Name() + " has 1.0 MiB free of 4.0 MiB"},
	} {
		err := CheckMemory("the run", tc.b, tc.need)
		if tc.want == "" && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "the run needs")) {
			t.Errorf("%s: %v; want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestParseMemAvailable(t *testing.T) {
	for _, tc := range []struct {
		text string
		want int64
		ok   bool
	}{
		{"MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    8000000 kB\n", 8000000 << 10, true},
		{"MemTotal:       16000000 kB\n", 0, false},
		{"MemAvailable: lots kB\n", 0, false},
	} {
		got, ok := parseMemAvailable(bufio.NewScanner(strings.NewReader(tc.text)))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: %d, %v; want %d, %v", tc.text, got, ok, tc.want, tc.ok)
		}
	}
}
