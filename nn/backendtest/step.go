package backendtest

import (
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn"
)

// testStepRecorder checks a backend's device-side step (nn.StepRecorder) against its own
// host-side ops, bit for bit: the loss, the clipping (sum of squares, root, divide in float64),
// Adam and RMSProp with their constants written into the scalars, the skip on non-finite
// values, and a recorded sequence replayed with new constants.
func testStepRecorder(t *testing.T, b nn.Backend, r nn.StepRecorder) {
	s, err := r.NewStepScalars()
	if err != nil {
		t.Fatal(err)
	}
	defer r.ReleaseStepScalars(s)
	rng := rand.New(rand.NewPCG(11, 12))
	t.Run("Loss", func(t *testing.T) { testStepLoss(t, b, r, s, rng) })
	t.Run("Clip", func(t *testing.T) { testStepClip(t, b, r, s, rng) })
	t.Run("Update", func(t *testing.T) { testStepUpdate(t, b, r, s, rng) })
	t.Run("NonFinite", func(t *testing.T) { testStepNonFinite(t, b, r, s, rng) })
	t.Run("Replay", func(t *testing.T) { testStepReplay(t, b, r, s, rng) })
	t.Run("Upload", func(t *testing.T) {
		x := upload(t, b, make([]float32, 6), 2, 3)
		want := to32(randSlice(rng, 6, 1))
		if err := r.Upload(x, want); err != nil {
			t.Fatal(err)
		}
		sameBits(t, "uploaded", download(t, b, x), want)
		if err := r.Upload(x, want[:5]); err == nil {
			t.Errorf("5 values into a tensor of 6: no error")
		}
	})
}

func readStep(t *testing.T, r nn.StepRecorder, s *nn.StepScalars) nn.StepReport {
	t.Helper()
	rep, err := r.ReadStep(s)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// sameBits fails unless got and want are the same float32 values bit for bit.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s[%d] = %g, want %g bit for bit", what, i, got[i], want[i])
		}
	}
}

// stepLossInputs returns logits and an image for SoftmaxXent, with logit 0 set to v.
func stepLossInputs(t *testing.T, b nn.Backend, rng *rand.Rand, v float64) (logits, x *nn.Tensor) {
	l := randSlice(rng, 2*3*4*3*256, 5)
	l[0] = v
	img := make([]float32, 2*3*4*3)
	for i := range img {
		img[i] = float32(rng.IntN(256)) / 255
	}
	return upload(t, b, to32(l), 2, 3, 4, 3*256), upload(t, b, img, 2, 3, 4, 3)
}

func testStepLoss(t *testing.T, b nn.Backend, r nn.StepRecorder, s *nn.StepScalars, rng *rand.Rand) {
	lt, xt := stepLossInputs(t, b, rng, 1)
	scale := float32(1.0 / 72)
	dHost, dDev := poisoned(t, b, lt.Shape...), poisoned(t, b, lt.Shape...)
	nats, err := b.SoftmaxXent(lt, xt, dHost, scale)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SoftmaxXentTo(s, lt, xt, dDev, scale); err != nil {
		t.Fatal(err)
	}
	rep := readStep(t, r, s)
	if math.Float64bits(rep.Nats) != math.Float64bits(nats) || rep.Skipped || rep.SumSquares != 0 {
		t.Errorf("device loss %+v, want nats %v (bit for bit), not skipped, no sum of squares", rep, nats)
	}
	sameBits(t, "dlogits", download(t, b, dDev), download(t, b, dHost))
}

// gradLists returns two copies of the same random gradients (one chunk, several, a ragged end).
func gradLists(t *testing.T, b nn.Backend, rng *rand.Rand, scale float64) (a, c []*nn.Tensor) {
	for _, n := range []int{5, 300, 40000} {
		h := to32(randSlice(rng, n, scale))
		a = append(a, upload(t, b, h, n))
		c = append(c, upload(t, b, h, n))
	}
	return a, c
}

func testStepClip(t *testing.T, b nn.Backend, r nn.StepRecorder, s *nn.StepScalars, rng *rand.Rand) {
	for _, tc := range []struct {
		name   string
		clip   float64
		scaled bool
	}{{"below the norm", 0.5, true}, {"above the norm", 1e9, false}, {"just below the norm: the factor rounds to 1", 0, false}} {
		t.Run(tc.name, func(t *testing.T) {
			host, dev := gradLists(t, b, rng, 0.01)
			before := download(t, b, host[2])
			ss, err := b.SumSquares(host)
			if err != nil {
				t.Fatal(err)
			}
			clip := tc.clip
			if clip == 0 {
				clip = math.Nextafter(math.Sqrt(ss), 0) // norm > clip, float32(clip/norm) == 1
			}
			if norm := math.Sqrt(ss); norm > clip {
				if err := b.Scale(host, float32(clip/norm)); err != nil {
					t.Fatal(err)
				}
			}
			lt, xt := stepLossInputs(t, b, rng, 1)
			if err := r.SoftmaxXentTo(s, lt, xt, nil, 1); err != nil { // starts the step
				t.Fatal(err)
			}
			if err := r.ClipTo(s, dev, clip); err != nil {
				t.Fatal(err)
			}
			rep := readStep(t, r, s)
			if math.Float64bits(rep.SumSquares) != math.Float64bits(ss) || rep.Skipped {
				t.Errorf("sum of squares %v skipped %v, want %v (bit for bit), not skipped", rep.SumSquares, rep.Skipped, ss)
			}
			for i := range host {
				sameBits(t, "clipped gradient", download(t, b, dev[i]), download(t, b, host[i]))
			}
			if changed := download(t, b, dev[2])[7] != before[7]; changed != tc.scaled {
				t.Errorf("gradients scaled: %v, want %v", changed, tc.scaled)
			}
		})
	}
	if err := r.ClipTo(s, nil, -1); err == nil {
		t.Errorf("clip -1: no error")
	}
}

// optimState returns parameters, gradients and two state slots, each twice (same values);
// the second slot is non-negative (a mean square).
func optimState(t *testing.T, b nn.Backend, rng *rand.Rand) (a, c [4][]*nn.Tensor) {
	for k, scale := range []float64{1, 1, 0.1, 0.1} {
		a[k], c[k] = gradLists(t, b, rng, scale)
		if k == 3 {
			for i := range a[k] {
				h := download(t, b, a[k][i])
				for j := range h {
					h[j] = float32(math.Abs(float64(h[j])))
				}
				a[k][i], c[k][i] = upload(t, b, h, len(h)), upload(t, b, h, len(h))
			}
		}
	}
	return a, c
}

func sameLists(t *testing.T, b nn.Backend, what string, got, want [4][]*nn.Tensor) {
	t.Helper()
	for k := range got {
		for i := range got[k] {
			sameBits(t, what, download(t, b, got[k][i]), download(t, b, want[k][i]))
		}
	}
}

// startStep begins a step with a finite loss (clearing any skip) and writes lr and eps.
func startStep(t *testing.T, b nn.Backend, r nn.StepRecorder, s *nn.StepScalars, rng *rand.Rand, lr, eps float32) {
	t.Helper()
	lt, xt := stepLossInputs(t, b, rng, 1)
	if err := r.SoftmaxXentTo(s, lt, xt, nil, 1); err != nil {
		t.Fatal(err)
	}
	if err := r.SetStepConstants(s, lr, eps); err != nil {
		t.Fatal(err)
	}
}

func testStepUpdate(t *testing.T, b nn.Backend, r nn.StepRecorder, s *nn.StepScalars, rng *rand.Rand) {
	t.Run("Adam", func(t *testing.T) {
		host, dev := optimState(t, b, rng)
		h := nn.AdamStep{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 3}
		if err := b.AdamStep(host[0], host[1], host[2], host[3], h); err != nil {
			t.Fatal(err)
		}
		lr, eps := h.Folded()
		startStep(t, b, r, s, rng, lr, eps)
		if err := r.AdamStepFrom(s, dev[0], dev[1], dev[2], dev[3], h.Beta1, h.Beta2); err != nil {
			t.Fatal(err)
		}
		sameLists(t, b, "adam", dev, host)
	})
	t.Run("RMSProp", func(t *testing.T) {
		host, dev := optimState(t, b, rng)
		h := nn.RMSPropStep{LR: 1e-3, Decay: 0.95, Eps: 1e-6}
		if err := b.RMSPropStep(host[0], host[1], host[3], h); err != nil {
			t.Fatal(err)
		}
		startStep(t, b, r, s, rng, h.LR, h.Eps)
		if err := r.RMSPropStepFrom(s, dev[0], dev[1], dev[3], h.Decay); err != nil {
			t.Fatal(err)
		}
		sameLists(t, b, "rmsprop", dev, host)
	})
}

// testStepNonFinite: a non-finite loss or gradient sets the skip flag, and a skipped step
// changes no gradient, parameter or optimizer state; the next finite loss clears the flag.
func testStepNonFinite(t *testing.T, b nn.Backend, r nn.StepRecorder, s *nn.StepScalars, rng *rand.Rand) {
	for _, tc := range []struct {
		name      string
		logit     float64
		gradValue float64
	}{{"NaN loss", math.NaN(), 0.5}, {"Inf loss", math.Inf(1), 0.5}, {"Inf gradient", 1, math.Inf(1)}, {"NaN gradient", 1, math.NaN()}} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := optimState(t, b, rng)
			g := download(t, b, st[1][1])
			g[3] = float32(tc.gradValue)
			st[1][1] = upload(t, b, g, len(g))
			want := [4][]*nn.Tensor{}
			for k := range st {
				for _, x := range st[k] {
					want[k] = append(want[k], upload(t, b, download(t, b, x), x.Len()))
				}
			}
			lt, xt := stepLossInputs(t, b, rng, tc.logit)
			if err := r.SoftmaxXentTo(s, lt, xt, nil, 1); err != nil {
				t.Fatal(err)
			}
			if err := r.SetStepConstants(s, 1e-3, 1e-8); err != nil {
				t.Fatal(err)
			}
			if err := r.ClipTo(s, st[1], 1e-6); err != nil { // would scale every finite gradient
				t.Fatal(err)
			}
			if err := r.AdamStepFrom(s, st[0], st[1], st[2], st[3], 0.9, 0.999); err != nil {
				t.Fatal(err)
			}
			if rep := readStep(t, r, s); !rep.Skipped {
				t.Errorf("step %+v not skipped", rep)
			}
			sameLists(t, b, "skipped step", st, want)
			startStep(t, b, r, s, rng, 1e-3, 1e-8)
			if rep := readStep(t, r, s); rep.Skipped {
				t.Errorf("a finite loss after a skipped step: still skipped")
			}
		})
	}
}

// testStepReplay records a clipped Adam step and replays it with new constants each time; a
// second set of the same tensors runs the same ops directly. Both must agree bit for bit, so
// the recording reads the constants at each replay, not when it was recorded.
func testStepReplay(t *testing.T, b nn.Backend, r nn.StepRecorder, s *nn.StepScalars, rng *rand.Rand) {
	rec, direct := optimState(t, b, rng)
	lt, xt := stepLossInputs(t, b, rng, 1)
	dl := upload(t, b, make([]float32, lt.Len()), lt.Shape...)
	queue := func(st [4][]*nn.Tensor) func() error {
		return func() error {
			if err := r.SoftmaxXentTo(s, lt, xt, dl, 1); err != nil {
				return err
			}
			if err := r.ClipTo(s, st[1], 3); err != nil {
				return err
			}
			return r.AdamStepFrom(s, st[0], st[1], st[2], st[3], 0.9, 0.999)
		}
	}
	run := func(step int, fn func() error) {
		t.Helper()
		lr, eps := nn.AdamStep{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: step}.Folded()
		if err := r.SetStepConstants(s, lr, eps); err != nil {
			t.Fatal(err)
		}
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		if err := r.Synchronize(); err != nil {
			t.Fatal(err)
		}
	}
	// One plain run of each first: a recording backend needs every buffer and table to exist.
	run(1, queue(rec))
	run(1, queue(direct))
	replay, err := r.Record(queue(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer replay.Release()
	if g, ok := replay.(interface{ Graph() bool }); ok && g.Graph() {
		t.Logf("%s recorded the step as a graph", b.Name())
	}
	for step := 2; step <= 4; step++ {
		run(step, replay.Replay)
		run(step, queue(direct))
	}
	sameLists(t, b, "replayed step", rec, direct)
}

// testZeroAll: every element of every tensor (NaN before) is 0 afterwards, across chunk
// boundaries and ragged ends; an empty list is fine.
func testZeroAll(t *testing.T, b nn.Backend, z nn.MultiZeroer) {
	var ts []*nn.Tensor
	for _, n := range []int{1, 5, 300, 40000} {
		ts = append(ts, poisoned(t, b, n))
	}
	if err := z.ZeroAll(ts); err != nil {
		t.Fatal(err)
	}
	for i, x := range ts {
		for k, v := range download(t, b, x) {
			if math.Float32bits(v) != 0 {
				t.Fatalf("tensor %d element %d = %v after ZeroAll", i, k, v)
			}
		}
	}
	if err := z.ZeroAll(nil); err != nil {
		t.Errorf("ZeroAll(nil): %v", err)
	}
}
