package pixelcnn

import (
	"flag"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
	"pixelcnn/nn/cpu/isa"
)

// BenchmarkTrainStep times one full training step (forward, loss, backward, Adam) at batch 16,
// named as tools/peer/bench.py names its train_step cases: PRESET/b16 at the best instruction
// set this CPU has, PRESET/b16/ISA at each other assembly level (the levels interleaved within
// a preset, so a -count run alternates them), and the "host-ops" case, the step that reads its
// scalars back between ops (Trainer.HostStep), for the comparison with nn.StepRecorder's step.
// PRESET/b16/bf16 is the step with the convolutions at --precision bf16 (VDPBF16PS, best
// instruction set), beside PRESET/b16 at fp32; it is skipped, naming the missing feature, on a
// CPU without AVX512_BF16. cifar10 (about 4 s a step on 2 cores) runs only when the -bench
// pattern names it.
func BenchmarkTrainStep(b *testing.B) {
	type stepCase struct {
		name, preset string
		colors, size int
		level        isa.Level
		hostStep     bool
		precision    nn.Precision // "" is the backend's default, fp32
	}
	var cases []stepCase
	for _, p := range []struct {
		preset       string
		colors, size int
	}{{"tiny", 1, 28}, {"mnist", 1, 28}, {"gated", 1, 28}, {"cifar10", 3, 32}} {
		cases = append(cases, stepCase{p.preset + "/b16", p.preset, p.colors, p.size, isa.Detected, false, ""})
		for _, l := range isa.Available() {
			if l >= isa.AVX2 && l < isa.FP32KernelsAt(isa.Detected) {
				cases = append(cases, stepCase{p.preset + "/b16/" + l.String(), p.preset, p.colors, p.size, l, false, ""})
			}
		}
		cases = append(cases, stepCase{p.preset + "/b16/bf16", p.preset, p.colors, p.size, isa.Detected, false, nn.BF16})
	}
	cases = append(cases, stepCase{"mnist/b16/host-ops", "mnist", 1, 28, isa.Detected, true, ""})
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			if tc.preset == "cifar10" && !strings.Contains(benchFlag(), "cifar10") {
				b.Skip("cifar10: name it in -bench to run it")
			}
			old := isa.Active()
			if err := isa.Set(tc.level); err != nil {
				b.Fatal(err)
			}
			defer isa.Set(old)
			c, err := PresetConfig(tc.preset, tc.colors, tc.size, tc.size)
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 1))
			split := randomSplit(r, c, 64)
			be := cpu.New()
			if tc.precision != "" {
				if err := be.SetPrecision(tc.precision); err != nil {
					b.Skip(err)
				}
			}
			m, _ := NewModel(be, c, 1)
			o := DefaultTrainOptions()
			tr, err := NewTrainer(m, split, o)
			if err != nil {
				b.Fatal(err)
			}
			tr.HostStep = tc.hostStep
			if _, err := tr.TrainStep(); err != nil { // warm the buffer pool
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := tr.TrainStep(); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec*1e3, "ms/op")
			b.ReportMetric(float64(o.Batch)/sec, "images/s")
		})
	}
}

// benchFlag is the -bench pattern of this run.
func benchFlag() string {
	if f := flag.Lookup("test.bench"); f != nil {
		return f.Value.String()
	}
	return ""
}

// TestSlowMemoryFlat trains the mnist preset for a while and checks that the heap does not
// grow with steps: every per-step buffer comes back to the backend's pool.
func TestSlowMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: run with -short=false")
	}
	c, _ := PresetConfig("mnist", 1, 28, 28)
	r := rand.New(rand.NewPCG(2, 2))
	split := randomSplit(r, c, 64)
	be := cpu.New()
	m, _ := NewModel(be, c, 1)
	tr, _ := NewTrainer(m, split, DefaultTrainOptions())
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for i := 0; i < 3; i++ {
		tr.TrainStep()
	}
	allocs0, _ := be.PoolStats()
	h0 := heap()
	for i := 0; i < 20; i++ {
		if _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	allocs1, reuses := be.PoolStats()
	h1 := heap()
	// The model and trainer must be live at both readings: otherwise the second reading
	// runs after they were collected and the heap looks flat whatever the steps leaked.
	runtime.KeepAlive(tr)
	runtime.KeepAlive(m)
	if allocs1 != allocs0 {
		t.Errorf("backend allocated %d new buffers after warm-up (%d reuses)", allocs1-allocs0, reuses)
	}
	if h1 > h0+h0/20+1<<20 {
		t.Errorf("heap grew from %d to %d bytes over 20 steps", h0, h1)
	}
	t.Logf("heap %d -> %d bytes; pool allocs %d, reuses %d", h0, h1, allocs1, reuses)
}
