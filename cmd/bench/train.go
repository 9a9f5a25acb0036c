package main

// Full training steps (forward, loss, backward, Adam) of whole presets, timed on the CPU
// backend and, in a cuda build, on the GPU.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"pixelcnn/nn"
	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn"
	"pixelcnn/pixelcnn/data"
)

// trainConfig selects the train-step cases and how many steps each backend times.
type trainConfig struct {
	presets             []string
	batches             []int
	steps, warmup       int // GPU
	cpu                 bool
	cpuSteps, cpuWarmup int
	precision           string // --precision; "" is each device's default (nn.ChoosePrecision)
}

// trainRow is one preset at one batch size. The FLOP count is the masked convolutions'
// multiply-adds (times 2) of the forward pass, times 3 for forward + backward (dX and dW each
// cost about a forward); softmax, ReLU, adds and the optimizer are not counted, so the
// achieved rate slightly understates the work done.
type trainRow struct {
	Preset    string  `json:"preset"`
	Shape     string  `json:"shape"` // HxWxC
	Batch     int     `json:"batch"`
	Params    int     `json:"params"`
	StepGFLOP float64 `json:"step_gflop"` // 3 x forward conv FLOPs of one step

	CPUSteps  int     `json:"cpu_steps,omitempty"`
	CPUms     float64 `json:"cpu_ms,omitempty"` // median ms/step
	CPUMinMs  float64 `json:"cpu_min_ms,omitempty"`
	CPUImgs   float64 `json:"cpu_images_per_s,omitempty"`
	CPUGFLOPs float64 `json:"cpu_gflops,omitempty"`
	CPUBPD    float64 `json:"cpu_last_bits_per_dim,omitempty"`
	CPUPrec   string  `json:"cpu_precision,omitempty"`

	GPUSteps  int     `json:"gpu_steps,omitempty"`
	GPUms     float64 `json:"gpu_ms,omitempty"`
	GPUMinMs  float64 `json:"gpu_min_ms,omitempty"`
	GPUImgs   float64 `json:"gpu_images_per_s,omitempty"`
	GPUGFLOPs float64 `json:"gpu_gflops,omitempty"`
	GPUBPD    float64 `json:"gpu_last_bits_per_dim,omitempty"`
	GPUPrec   string  `json:"gpu_precision,omitempty"`
	GPUMode   string  `json:"gpu_step_mode,omitempty"` // pixelcnn.Trainer.StepMode: recorded graph or not

	Speedup float64 `json:"speedup,omitempty"` // cpu_ms / gpu_ms
}

// presetShape is the image size a preset is benchmarked at: the dataset it is meant for.
func presetShape(name string) (h, w, c int) {
	switch name {
	case "cifar10", "seed":
		return 32, 32, 3
	}
	return 28, 28, 1
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("bad batch size %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// randomSplit is n random 8-bit images of h*w*c subpixels.
func randomSplit(n, sub int, seed uint64) data.Split {
	r := rand.New(rand.NewPCG(seed, 17))
	pix := make([]uint8, n*sub)
	for i := range pix {
		pix[i] = uint8(r.IntN(256))
	}
	return data.Split{N: n, Pixels: pix}
}

// forwardFLOPs sums MaskedFLOPs over every layer of m for a batch of n images.
func forwardFLOPs(m *pixelcnn.Model, n int) float64 {
	var f float64
	for _, l := range m.Layers {
		f += l.Spec.MaskedFLOPs(n, m.Config.Height, m.Config.Width)
	}
	return f
}

// batchOptions are the default training options at batch size batch.
func batchOptions(batch int) pixelcnn.TrainOptions {
	opt := pixelcnn.DefaultTrainOptions()
	opt.Batch = batch
	return opt
}

// trainTiming is what timeTrain measured: the median and fastest ms/step, the last step's
// bits/dim, the model's size and forward FLOPs, and how the trainer ran its steps.
type trainTiming struct {
	med, fastest, bpd float64
	params            int
	fwd               float64
	mode              string
}

// timeTrain builds the preset on b and a trainer with opt, runs warmup untimed steps then
// steps timed ones.
func timeTrain(b nn.Backend, c pixelcnn.Config, opt pixelcnn.TrainOptions, warmup, steps int, timer func(func() error) (float64, error)) (trainTiming, error) {
	var tt trainTiming
	m, err := pixelcnn.NewModel(b, c, 1)
	if err != nil {
		return tt, err
	}
	defer m.Release()
	_, vars := m.Params()
	for _, v := range vars {
		tt.params += v.Value.Len()
	}
	tt.fwd = forwardFLOPs(m, opt.Batch)
	tr, err := pixelcnn.NewTrainer(m, randomSplit(2*opt.Batch, c.Subpixels(), 5), opt)
	if err != nil {
		return tt, err
	}
	defer tr.Release()
	step := func() error {
		var err error
		tt.bpd, err = tr.TrainStep()
		return err
	}
	for i := 0; i < warmup; i++ {
		if err := step(); err != nil {
			return tt, err
		}
	}
	times := make([]float64, steps)
	for i := range times {
		if times[i], err = timer(step); err != nil {
			return tt, err
		}
	}
	sort.Float64s(times)
	tt.med, tt.fastest, tt.mode = times[len(times)/2], times[0], tr.StepMode()
	return tt, nil
}

// runTrain times every selected preset and batch size. On the GPU, TrainStep ends with a host
// read of the loss and the timer waits for a stop event recorded after the optimizer, so a
// step's time covers all of its work (and the host gaps between its launches).
func runTrain(tc trainConfig, gpu *gpuDevice) ([]trainRow, error) {
	var rows []trainRow
	var gpuPrec nn.Precision
	if gpu != nil {
		p, notice, err := nn.ChoosePrecision(gpu.backend, tc.precision)
		if err != nil {
			return nil, err
		}
		if notice != "" {
			fmt.Fprintln(os.Stderr, "bench:", notice)
		}
		gpuPrec = p
	}
	for _, preset := range tc.presets {
		h, w, col := presetShape(preset)
		c, err := pixelcnn.PresetConfig(preset, col, h, w)
		if err != nil {
			return nil, err
		}
		for _, batch := range tc.batches {
			r := trainRow{Preset: preset, Shape: fmt.Sprintf("%dx%dx%d", h, w, col), Batch: batch}
			var fwd float64
			if tc.cpu {
				cb := cpu.New()
				prec, _, err := nn.ChoosePrecision(cb, tc.precision)
				if err != nil {
					return nil, err
				}
				r.CPUPrec = string(prec)
				fmt.Fprintf(os.Stderr, "bench: train %s b%d on cpu at %s (%d+%d steps)...\n", preset, batch, prec, tc.cpuWarmup, tc.cpuSteps)
				tt, err := timeTrain(cb, c, batchOptions(batch), tc.cpuWarmup, tc.cpuSteps, wallTime)
				if err != nil {
					return nil, fmt.Errorf("train %s b%d on cpu: %w", preset, batch, err)
				}
				r.Params, fwd = tt.params, tt.fwd
				r.CPUSteps, r.CPUms, r.CPUMinMs, r.CPUBPD = tc.cpuSteps, tt.med, tt.fastest, tt.bpd
			}
			if gpu != nil {
				r.GPUPrec = string(gpuPrec)
				fmt.Fprintf(os.Stderr, "bench: train %s b%d on gpu at %s (%d+%d steps)...\n", preset, batch, gpuPrec, tc.warmup, tc.steps)
				tt, err := timeTrain(gpu.backend, c, batchOptions(batch), tc.warmup, tc.steps, gpu.time)
				if err != nil {
					return nil, fmt.Errorf("train %s b%d on gpu: %w", preset, batch, err)
				}
				r.Params, fwd = tt.params, tt.fwd
				r.GPUSteps, r.GPUms, r.GPUMinMs, r.GPUBPD, r.GPUMode = tc.steps, tt.med, tt.fastest, tt.bpd, tt.mode
			}
			r.StepGFLOP = 3 * fwd / 1e9
			if r.CPUms > 0 {
				r.CPUImgs = float64(batch) / (r.CPUms / 1e3)
				r.CPUGFLOPs = r.StepGFLOP / (r.CPUms / 1e3)
			}
			if r.GPUms > 0 {
				r.GPUImgs = float64(batch) / (r.GPUms / 1e3)
				r.GPUGFLOPs = r.StepGFLOP / (r.GPUms / 1e3)
			}
			if r.CPUms > 0 && r.GPUms > 0 {
				r.Speedup = r.CPUms / r.GPUms
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func printTrainTable(rows []trainRow, cpuOn, gpuOn bool) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "train step\tshape\tbatch\tparams\tGFLOP/step\t"
	if cpuOn {
		head += "cpu prec\tcpu ms\tcpu img/s\tcpu GFLOP/s\t"
	}
	if gpuOn {
		head += "gpu prec\tgpu ms\tgpu img/s\tgpu GFLOP/s\tgpu step\t"
	}
	if cpuOn && gpuOn {
		head += "speedup\t"
	}
	fmt.Fprintln(w, head)
	for _, r := range rows {
		line := fmt.Sprintf("%s\t%s\t%d\t%d\t%.2f\t", r.Preset, r.Shape, r.Batch, r.Params, r.StepGFLOP)
		if cpuOn {
			line += fmt.Sprintf("%s\t%.1f\t%.1f\t%.1f\t", r.CPUPrec, r.CPUms, r.CPUImgs, r.CPUGFLOPs)
		}
		if gpuOn {
			line += fmt.Sprintf("%s\t%.3f\t%.0f\t%.0f\t%s\t", r.GPUPrec, r.GPUms, r.GPUImgs, r.GPUGFLOPs, r.GPUMode)
		}
		if cpuOn && gpuOn {
			line += fmt.Sprintf("%.1fx\t", r.Speedup)
		}
		fmt.Fprintln(w, line)
	}
	w.Flush()
}

// wallTime is the CPU timer: milliseconds of host wall clock around fn.
func wallTime(fn func() error) (float64, error) {
	t0 := time.Now()
	err := fn()
	return float64(time.Since(t0).Nanoseconds()) / 1e6, err
}
