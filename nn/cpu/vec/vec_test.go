package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"pixelcnn/nn/cpu/isa"
)

// paths runs f once per available implementation: the AVX-512 and AVX2 assembly (where the
// CPU has them) and pure Go.
func paths(t *testing.T, f func(t *testing.T)) {
	old := isa.Active()
	t.Cleanup(func() { isa.Set(old) })
	for _, l := range []isa.Level{isa.AVX512, isa.AVX2, isa.Generic} {
		if isa.Set(l) != nil {
			continue // the CPU lacks it
		}
		t.Run(l.String(), f)
	}
	isa.Set(old)
}

var lengths = func() []int {
	var ns []int
	for n := 0; n <= 70; n++ {
		ns = append(ns, n)
	}
	return append(ns, 255, 256, 1000, 4099)
}()

// specials are the values a kernel must treat as the Go loop does.
var specials = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1, 1e-40, -1e-40, 3.4e38, -3.4e38,
	float32(math.Inf(1)), float32(math.Inf(-1)),
	math.Float32frombits(0x7fc00001), math.Float32frombits(0xffc00123), // quiet NaNs
	math.Float32frombits(0x7f800001), math.Float32frombits(0xff800123), // signalling NaNs
}

// gen returns n+off values (the first off are padding): mostly normal numbers, with
// special values in about one place in eight when withSpecial.
func gen(r *rand.Rand, n, off int, withSpecial bool) []float32 {
	s := make([]float32, n+off)
	for i := range s {
		s[i] = float32(r.NormFloat64())
		if withSpecial && r.IntN(8) == 0 {
			s[i] = specials[r.IntN(len(specials))]
		}
	}
	return s[off:]
}

// oneNaN keeps at most one NaN per index across the slices (the first): with two NaN
// operands x86 returns the first source's NaN, and which operand the Go compiler puts first
// varies with inlining and register allocation, so the Go loop itself has no fixed answer.
func oneNaN(ss ...[]float32) {
	for i := range ss[0] {
		seen := false
		for _, s := range ss {
			if i < len(s) && s[i] != s[i] {
				if seen {
					s[i] = 1
				}
				seen = true
			}
		}
	}
}

func clone(s []float32) []float32 { return append([]float32(nil), s...) }

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %v (%08x), want %v (%08x)", what, i, got[i],
				math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// TestElementwise checks each element-wise kernel against its Go loop bit for bit over
// many lengths, unaligned starts and special values.
func TestElementwise(t *testing.T) {
	type kernel struct {
		name string
		run  func(d, a, b []float32) // d is written (and read, for accumulations)
		ref  func(d, a, b []float32)
		// reluY makes b a ReLU output (non-negative, no -0), as ReLUMask's contract says.
		reluY bool
	}
	kernels := []kernel{
		{name: "Add", run: func(d, a, b []float32) { Add(d, a, b) }, ref: addGo},
		{name: "AddTo", run: func(d, a, _ []float32) { AddTo(d, a) }, ref: func(d, a, _ []float32) { addToGo(d, a) }},
		{name: "BiasAct", run: func(d, a, _ []float32) { BiasAct(d, a, false) }, ref: func(d, a, _ []float32) { biasActGo(d, a, false) }},
		{name: "BiasActReLU", run: func(d, a, _ []float32) { BiasAct(d, a, true) }, ref: func(d, a, _ []float32) { biasActGo(d, a, true) }},
		{name: "ReLU", run: func(d, a, _ []float32) { ReLU(d, a) }, ref: func(d, a, _ []float32) { reluGo(d, a) }},
		{name: "ReLUGradAdd", run: func(d, a, b []float32) { ReLUGradAdd(d, a, b) }, ref: reluGradAddGo},
		{name: "ReLUMask", run: func(d, a, b []float32) { ReLUMask(d, a, b) }, ref: reluMaskGo, reluY: true},
		{name: "ReLUMaskAny", run: func(d, a, b []float32) { ReLUMask(d, a, b) }, ref: reluMaskGo},
		{name: "Scale", run: func(d, _, _ []float32) { Scale(d, 0.37) }, ref: func(d, _, _ []float32) { scaleGo(d, 0.37) }},
		{name: "ScaleNaN", run: func(d, _, _ []float32) { Scale(d, float32(math.NaN())) }, ref: func(d, _, _ []float32) { scaleGo(d, float32(math.NaN())) }},
	}
	for _, k := range kernels {
		t.Run(k.name, func(t *testing.T) {
			paths(t, func(t *testing.T) {
				r := rand.New(rand.NewPCG(1, 2))
				for _, n := range lengths {
					for off := 0; off < 8; off++ {
						for _, sp := range []bool{false, true} {
							d := gen(r, n, off, sp)
							a := gen(r, n, (off+3)%8, sp)
							b := gen(r, n+5, off/2, sp) // longer than d: only len(d) is used
							if k.reluY {
								reluGo(b, b)
							}
							oneNaN(d, a, b)
							want := clone(d)
							k.ref(want, a, b)
							k.run(d, a, b)
							sameBits(t, fmt.Sprintf("n=%d off=%d specials=%v", n, off, sp), d, want)
						}
					}
				}
			})
		})
	}
}

// TestGoMatchesOriginal pins the Go loops to the semantics they replace (max, > 0).
func TestGoMatchesOriginal(t *testing.T) {
	for _, x := range specials {
		var d [1]float32
		reluGo(d[:], []float32{x})
		if w := max(x, 0); math.Float32bits(d[0]) != math.Float32bits(w) {
			t.Errorf("relu(%v) = %v, want %v", x, d[0], w)
		}
		if x > 0 && math.Float32bits(d[0]) != math.Float32bits(x) {
			t.Errorf("relu(%v) = %v", x, d[0])
		}
	}
}

func TestColumnSums(t *testing.T) {
	paths(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		colsList := append([]int(nil), lengths...)
		for _, rows := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 64} {
			for _, cols := range colsList {
				if rows*cols > 70000 {
					continue
				}
				for off := 0; off < 8; off += 3 {
					sp := off == 6
					m := gen(r, rows*cols, off, sp)
					sums := gen(r, cols, 7-off, sp)
					// At most one NaN per column (see oneNaN), and no infinities beside it
					// (+Inf + -Inf makes a second NaN).
					for o := range cols {
						seen := sums[o] != sums[o]
						for i := 0; i < rows; i++ {
							if v := m[i*cols+o]; v != v {
								if seen {
									m[i*cols+o] = 1
								}
								seen = true
							}
						}
						if !seen {
							continue
						}
						if math.IsInf(float64(sums[o]), 0) {
							sums[o] = 1
						}
						for i := 0; i < rows; i++ {
							if math.IsInf(float64(m[i*cols+o]), 0) {
								m[i*cols+o] = 1
							}
						}
					}
					want := clone(sums)
					if rows > 0 && cols > 0 {
						columnSumsGo(want, m, rows, cols, cols)
					}
					ColumnSums(sums, m, rows, cols)
					sameBits(t, fmt.Sprintf("rows=%d cols=%d off=%d", rows, cols, off), sums, want)
				}
			}
		}
	})
}

// expInputs are logits l and a shift m covering the exp's whole domain: l - m from below
// the -87.3 cut-off to small positive values, plus specials.
func expInputs(r *rand.Rand, n, off int) ([]float32, float32) {
	l := make([]float32, n+off)
	for i := range l {
		switch r.IntN(10) {
		case 0:
			l[i] = specials[r.IntN(len(specials))]
		case 1:
			l[i] = -87.3 + float32(r.NormFloat64())*0.01
		case 2:
			l[i] = float32(r.NormFloat64()) * 100
		default:
			l[i] = float32(r.NormFloat64()) * 5
		}
	}
	return l[off:], float32(r.NormFloat64())
}

func TestExpNegSum(t *testing.T) {
	paths(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, n := range lengths {
			for off := 0; off < 8; off++ {
				l, m := expInputs(r, n, off)
				want := make([]float32, n)
				var wz float64
				for k, v := range l {
					want[k] = ExpNeg(v - m)
					wz += float64(want[k])
				}
				d := gen(r, n, (off+1)%8, false)
				z := ExpNegSum(d, l, m)
				sameBits(t, fmt.Sprintf("n=%d off=%d", n, off), d, want)
				// Several NaN terms leave a NaN sum whose payload depends on operand order.
				if math.Float64bits(z) != math.Float64bits(wz) && !(z != z && wz != wz) {
					t.Fatalf("n=%d off=%d: sum %v, want %v", n, off, z, wz)
				}
			}
		}
		// Every float32 in a dense sweep of [-90, 1].
		var l [4096]float32
		d := make([]float32, len(l))
		for base := -90.0; base < 1; base += 1 {
			for i := range l {
				l[i] = float32(base + float64(i)/len64(l))
			}
			ExpNegSum(d, l[:], 0)
			for i, v := range l {
				if w := ExpNeg(v); math.Float32bits(d[i]) != math.Float32bits(w) {
					t.Fatalf("ExpNeg(%v) = %v, want %v", v, d[i], w)
				}
			}
		}
	})
}

func TestMax(t *testing.T) {
	paths(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, n := range lengths[1:] {
			for off := 0; off < 8; off++ {
				for trial := 0; trial < 4; trial++ {
					var l []float32
					switch trial {
					case 0:
						l = gen(r, n, off, false)
					case 1:
						l = gen(r, n, off, true)
					case 2: // all non-positive with zeros of both signs: the max is a zero
						l = gen(r, n, off, false)
						for i := range l {
							l[i] = -float32(math.Abs(float64(l[i])))
							if r.IntN(4) == 0 {
								l[i] = float32(math.Copysign(0, float64(r.IntN(2)*2-1)))
							}
						}
					case 3: // one NaN
						l = gen(r, n, off, false)
						l[r.IntN(n)] = specials[10+r.IntN(4)]
					}
					want := maxGo(l[0], l[1:])
					if got := Max(l); math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("n=%d off=%d trial=%d: Max = %v (%08x), want %v (%08x)", n, off, trial,
							got, math.Float32bits(got), want, math.Float32bits(want))
					}
				}
			}
		}
	})
}

func len64(a [4096]float32) float64 { return float64(len(a)) }

func TestExpNegAccuracy(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 200000; i++ {
		x := -87.0 * float64(i) / 200000
		got, want := float64(ExpNeg(float32(x))), math.Exp(float64(float32(x)))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	if worst > 3e-7 {
		t.Errorf("ExpNeg: worst relative error %g", worst)
	}
	for _, x := range []float32{-88, -100, float32(math.Inf(-1))} {
		if v := ExpNeg(x); v != 0 {
			t.Errorf("ExpNeg(%v) = %v, want 0", x, v)
		}
	}
	if ExpNeg(0) != 1 {
		t.Errorf("ExpNeg(0) = %v", ExpNeg(0))
	}
}
