package pixelcnn

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"pixelcnn/nn"
)

// Memory estimates: what a run's tensors and buffers take, computed from the config before
// anything is allocated, so that a run that cannot fit is refused with the numbers instead of
// dying in the Go runtime's out-of-memory crash. They count the tensors the code holds at
// its peak (parameters and their gradients, optimiser slots, every layer output of a batch
// and, in training, its gradient; the samplers' caches and image buffers); the allocator's
// slack comes on top. Sizes are float64 bytes: absurd configs must not overflow.

// MemoryNeed is the bytes a run needs on the backend's device (the host, for the CPU
// backend) and on the host whatever the backend.
type MemoryNeed struct {
	Device, Host float64
}

// paramCount is the number of weights and biases of a model of config c.
func paramCount(c Config) float64 {
	var p float64
	a := archOf(c)
	for _, d := range a.convs(c) {
		s := d.Spec
		p += float64(s.KH())*float64(s.K)*float64(s.In)*float64(s.Out) + float64(s.Out)
	}
	for _, t := range a.tables(c) {
		p += float64(c.Classes) * float64(t.Width)
	}
	return p
}

// featuresPerPosition is the number of floats Forward keeps per pixel position: the input,
// every conv output and the architecture's other activations (extraActivations).
func featuresPerPosition(c Config) float64 {
	f := float64(c.Colors)
	for _, d := range archOf(c).convs(c) {
		f += float64(d.Spec.Out)
	}
	return f + extraActivations(c)
}

// extraActivations is the floats per position Forward keeps beside the conv outputs: for the
// seed each block's sum and the ReLU before the head (2H each); for gated per layer the
// v_to_h output, the two gates, the residual sum and, conditional, the two biased features
// (2p + p + p + p + 4p), and the ELU (p).
func extraActivations(c Config) float64 {
	if c.ArchName() == ArchGated {
		per := 5.0
		if c.Classes > 0 {
			per += 4
		}
		return float64(c.Hidden) * (per*float64(c.Blocks) + 1)
	}
	return float64(c.Blocks+1) * 2 * float64(c.Hidden)
}

func positions(c Config, n int) float64 { return float64(n) * float64(c.Height) * float64(c.Width) }

// TrainMemory is what training with o and evaluating in batches of evalBatch takes:
// parameters and gradients, the optimiser's slots (and the weights' average), a batch's activations with their
// gradients, and beside them an evaluation batch's activations (a recorded train step keeps
// its buffers between steps, so an evaluation cannot reuse them).
func TrainMemory(c Config, o TrainOptions, evalBatch int) MemoryNeed {
	slots := 2.0 // adam: m, v
	if o.Optimizer == "rmsprop" {
		slots = 1
	}
	if o.EMA > 0 {
		slots++ // the average of the weights
	}
	p := paramCount(c)
	acts := 2*positions(c, o.Batch) + positions(c, evalBatch)
	need := MemoryNeed{Device: 4 * ((2+slots)*p + acts*featuresPerPosition(c))}
	if o.Shards > 1 {
		// The sharded step's host vectors (shards.go, dist.Reducer): at most every shard's
		// gradient gathered, this rank's twice more (its own and the send buffer), and the sum.
		need.Host = 4 * p * float64(3*o.Shards+1)
	}
	return need
}

// EvalMemory is what evaluating in batches of batch images takes.
func EvalMemory(c Config, batch int) MemoryNeed {
	return MemoryNeed{Device: 4 * (2*paramCount(c) + positions(c, batch)*featuresPerPosition(c))}
}

// SampleMemory is what drawing n images takes with the cached sampler, or with the naive
// one (a whole forward pass over n images at its last row).
func SampleMemory(c Config, n int, naive bool) MemoryNeed {
	sub := positions(c, n) * float64(c.Colors)
	need := MemoryNeed{Host: 10 * sub} // output and known bytes, the float32 input and read-back
	if naive {
		need.Device = 4 * (2*paramCount(c) + positions(c, n)*featuresPerPosition(c))
		return need
	}
	pix := positions(c, n)
	caches := pix * float64(c.Colors+c.Blocks*c.Hidden) // as cachedSamplerBytes, in float64
	vecs := float64(n) * float64(8*c.Hidden+2*c.OutDim+Levels*c.Colors)
	if c.ArchName() == ArchGated {
		// gatedStepper: the image, v after v_in and each layer (p), v_feat per layer (2p), h per
		// layer (p); eleven per-position vectors of at most 2p, the logits.
		caches = pix * float64(c.Colors+(4*c.Blocks+1)*c.Hidden)
		vecs = float64(n) * float64(22*c.Hidden+Levels*c.Colors)
	}
	need.Device = 4 * (2*paramCount(c) + caches + vecs)
	return need
}

// CheckMemory refuses need when it does not fit: the device part against the free device
// memory of a backend that reports it (nn.MemoryInfo), and the host part (plus the device
// part, for a backend without device memory: the CPU) against the host's available memory
// (Linux's MemAvailable; elsewhere the host is not checked). what names the run in the error.
func CheckMemory(what string, b nn.Backend, need MemoryNeed) error {
	host := need.Host
	if mi, ok := b.(nn.MemoryInfo); ok {
		free, total, err := mi.MemInfo()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if need.Device > float64(free) {
			return fmt.Errorf("%s needs %s of device memory; %s has %s free of %s",
				what, bytesStr(need.Device), b.Name(), bytesStr(float64(free)), bytesStr(float64(total)))
		}
	} else {
		host += need.Device
	}
	avail, ok := hostAvailable()
	if ok && host > float64(avail) {
		return fmt.Errorf("%s needs %s of memory; this machine has %s available", what, bytesStr(host), bytesStr(float64(avail)))
	}
	return nil
}

// hostAvailable reads MemAvailable from /proc/meminfo (bytes); ok is false where there is none.
func hostAvailable() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	return parseMemAvailable(bufio.NewScanner(f))
}

func parseMemAvailable(sc *bufio.Scanner) (int64, bool) {
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "MemAvailable:" && fields[2] == "kB" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// bytesStr formats a byte count in GiB (or MiB when small).
func bytesStr(b float64) string {
	if b < 1<<30 {
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	}
	return fmt.Sprintf("%.3g GiB", b/(1<<30))
}
