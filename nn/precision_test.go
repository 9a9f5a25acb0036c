package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRoundTF32(t *testing.T) {
	tests := []struct {
		name     string
		in, want uint32 // float32 bit patterns
	}{
		{"one", 0x3f800000, 0x3f800000},
		{"already TF32", 0x3f802000, 0x3f802000},
		{"below half an ulp rounds down", 0x3f800fff, 0x3f800000},
		{"above half an ulp rounds up", 0x3f801001, 0x3f802000},
		{"tie rounds away from zero (even would round down)", 0x3f801000, 0x3f802000},
		{"tie from an odd last bit", 0x3f803000, 0x3f804000},
		{"negative tie rounds away from zero", 0xbf801000, 0xbf802000},
		{"negative below half", 0xbf800fff, 0xbf800000},
		{"carry into the exponent", 0x3fffffff, 0x40000000},
		{"tie carries into the exponent", 0x3ffff000, 0x40000000},
		{"zero", 0x00000000, 0x00000000},
		{"negative zero", 0x80000000, 0x80000000},
		{"smallest subnormal rounds to zero", 0x00000001, 0x00000000},
		{"subnormal tie rounds away", 0x00001000, 0x00002000},
		{"subnormal below half", 0x00000fff, 0x00000000},
		{"negative subnormal tie", 0x80001000, 0x80002000},
		{"largest subnormal carries to the smallest normal", 0x007fffff, 0x00800000},
		{"largest finite TF32 stays", 0x7f7fe000, 0x7f7fe000},
		{"largest finite float32 becomes +Inf", 0x7f7fffff, 0x7f800000},
		{"tie above the largest TF32 becomes +Inf", 0x7f7ff000, 0x7f800000},
		{"negative largest finite becomes -Inf", 0xff7fffff, 0xff800000},
		{"+Inf", 0x7f800000, 0x7f800000},
		{"-Inf", 0xff800000, 0xff800000},
		{"quiet NaN unchanged", 0x7fc00000, 0x7fc00000},
		{"NaN with low payload stays NaN", 0x7f800001, 0x7f800001},
		{"negative NaN with all low bits", 0xffffffff, 0xffffffff},
	}
	for _, tc := range tests {
		got := math.Float32bits(RoundTF32(math.Float32frombits(tc.in)))
		if got != tc.want {
			t.Errorf("%s: RoundTF32(%#08x) = %#08x, want %#08x", tc.name, tc.in, got, tc.want)
		}
	}
}

// refRoundTF32 rounds in float64: to a multiple of the TF32 ulp at v's binade (2^-136 below
// the normal range), halves away from zero (math.Round).
func refRoundTF32(v float32) float32 {
	f := float64(v)
	if f == 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return v
	}
	_, e := math.Frexp(math.Abs(f)) // |f| = m * 2^e, m in [0.5, 1)
	ulp := math.Ldexp(1, max(e-1, -126)-10)
	r := math.Round(f/ulp) * ulp
	if math.Abs(r) > math.MaxFloat32 {
		return float32(math.Inf(int(math.Copysign(1, r))))
	}
	return float32(r)
}

// TestRoundTF32Sweep checks random bit patterns over the whole range against the float64
// rounding, and that the low 13 bits of every non-NaN result are 0.
func TestRoundTF32Sweep(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		bits := r.Uint32()
		v := math.Float32frombits(bits)
		got := RoundTF32(v)
		if math.IsNaN(float64(v)) {
			if math.Float32bits(got) != bits {
				t.Fatalf("NaN %#08x became %#08x", bits, math.Float32bits(got))
			}
			continue
		}
		if low := math.Float32bits(got) & 0x1fff; low != 0 {
			t.Fatalf("RoundTF32(%#08x) = %#08x: low 13 bits %#x", bits, math.Float32bits(got), low)
		}
		if want := refRoundTF32(v); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("RoundTF32(%#08x) = %#08x, float64 rounding gives %#08x", bits, math.Float32bits(got), math.Float32bits(want))
		}
		// The relative error bound the tolerances use, on normal numbers that stay finite.
		if a := math.Abs(float64(v)); a >= 0x1p-126 && !math.IsInf(float64(got), 0) {
			if rel := math.Abs(float64(got)-float64(v)) / a; rel > TF32UnitRoundoff {
				t.Fatalf("RoundTF32(%g) = %g: relative error %g > 2^-11", v, got, rel)
			}
		}
	}
}

func TestParsePrecision(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Precision
		wantErr bool
	}{
		{"tf32", TF32, false},
		{"fp32", FP32, false},
		{"bf16", BF16, false},
		{"TF32", "", true},
		{"BF16", "", true},
		{"fp16", "", true},
		{"", "", true},
		{" fp32", "", true},
	} {
		got, err := ParsePrecision(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ParsePrecision(%q) = %q, want an error", tc.in, got)
				continue
			}
			for _, p := range Precisions {
				if !strings.Contains(err.Error(), string(p)) {
					t.Errorf("ParsePrecision(%q): error %q does not list %s", tc.in, err, p)
				}
			}
			if !strings.Contains(err.Error(), "\""+tc.in+"\"") {
				t.Errorf("ParsePrecision(%q): error %q does not name the value", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePrecision(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// fakeBackend is a Backend (only Name is callable) with an optional precision setting.
type fakeBackend struct {
	Backend
	p      Precision
	noTF32 bool // a GPU before sm_80
}

func (f *fakeBackend) Name() string { return "fake" }

type settable struct{ *fakeBackend }

func (s settable) Precision() Precision { return s.p }
func (s settable) SetPrecision(p Precision) error {
	if p == TF32 && s.noTF32 {
		return errNoTF32
	}
	s.p = p
	return nil
}

var errNoTF32 = errorString("fake GPU sm_75: no TF32")

type errorString string

func (e errorString) Error() string { return string(e) }

type fp32Default struct{ settable }

func (fp32Default) DefaultPrecision() Precision { return FP32 }

func TestChoosePrecision(t *testing.T) {
	tests := []struct {
		name       string
		b          Backend
		flag       string
		want       Precision
		wantErr    string
		wantNotice bool
	}{
		{"fp32-only backend, default", &fakeBackend{}, "", FP32, "", false},
		{"fp32-only backend, fp32", &fakeBackend{}, "fp32", FP32, "", false},
		{"fp32-only backend, tf32", &fakeBackend{}, "tf32", "", "computes in fp32 only", false},
		{"setter defaults to tf32", settable{&fakeBackend{}}, "", TF32, "", false},
		{"setter, fp32 asked", settable{&fakeBackend{}}, "fp32", FP32, "", false},
		{"old GPU, default falls back", settable{&fakeBackend{noTF32: true}}, "", FP32, "", true},
		{"old GPU, tf32 asked", settable{&fakeBackend{noTF32: true}}, "tf32", "", "sm_75", false},
		{"declared default fp32", fp32Default{settable{&fakeBackend{}}}, "", FP32, "", false},
		{"declared default, tf32 asked", fp32Default{settable{&fakeBackend{}}}, "tf32", TF32, "", false},
		{"fp32-only backend, bf16", &fakeBackend{}, "bf16", "", "computes in fp32 only", false},
		{"unknown value", settable{&fakeBackend{}}, "fp16", "", "bf16", false},
	}
	for _, tc := range tests {
		p, notice, err := ChoosePrecision(tc.b, tc.flag)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || p != tc.want || (notice != "") != tc.wantNotice {
			t.Errorf("%s: %q, notice %q, %v; want %q (notice %v)", tc.name, p, notice, err, tc.want, tc.wantNotice)
		}
		if err == nil && BackendPrecision(tc.b) != p {
			t.Errorf("%s: backend left at %s, ChoosePrecision said %s", tc.name, BackendPrecision(tc.b), p)
		}
		if tc.wantNotice && !strings.Contains(notice, "sm_75") {
			t.Errorf("%s: notice %q does not say why", tc.name, notice)
		}
	}
}

func TestRoundBF16(t *testing.T) {
	tests := []struct {
		name     string
		in, want uint32 // float32 bit patterns
	}{
		{"one", 0x3f800000, 0x3f800000},
		{"already bf16", 0x3f810000, 0x3f810000},
		{"below half an ulp rounds down", 0x3f807fff, 0x3f800000},
		{"above half an ulp rounds up", 0x3f808001, 0x3f810000},
		{"tie to even rounds down (last kept bit 0)", 0x3f808000, 0x3f800000},
		{"tie to even rounds up (last kept bit 1)", 0x3f818000, 0x3f820000},
		{"negative tie to even down", 0xbf808000, 0xbf800000},
		{"negative tie to even up", 0xbf818000, 0xbf820000},
		{"negative above half", 0xbf808001, 0xbf810000},
		{"carry into the exponent", 0x3fffffff, 0x40000000},
		{"tie carries into the exponent (odd mantissa 0x7f)", 0x3fff8000, 0x40000000},
		{"below the tie stays in the binade", 0x3fff7fff, 0x3fff0000},
		{"zero", 0x00000000, 0x00000000},
		{"negative zero", 0x80000000, 0x80000000},
		{"smallest subnormal rounds to zero", 0x00000001, 0x00000000},
		{"subnormal tie to even rounds down", 0x00008000, 0x00000000},
		{"subnormal tie to even rounds up", 0x00018000, 0x00020000},
		{"subnormal above half", 0x00008001, 0x00010000},
		{"negative subnormal tie up", 0x80018000, 0x80020000},
		{"largest subnormal carries to the smallest normal", 0x007fffff, 0x00800000},
		{"smallest normal stays", 0x00800000, 0x00800000},
		{"largest finite bf16 stays", 0x7f7f0000, 0x7f7f0000},
		{"largest finite float32 becomes +Inf", 0x7f7fffff, 0x7f800000},
		{"tie above the largest bf16 becomes +Inf (odd last bit)", 0x7f7f8000, 0x7f800000},
		{"below that tie stays finite", 0x7f7f7fff, 0x7f7f0000},
		{"negative largest finite becomes -Inf", 0xff7fffff, 0xff800000},
		{"+Inf", 0x7f800000, 0x7f800000},
		{"-Inf", 0xff800000, 0xff800000},
		{"quiet NaN unchanged", 0x7fc00000, 0x7fc00000},
		{"NaN with only low payload stays NaN (quieted)", 0x7f800001, 0x7fc00000},
		{"NaN with high payload keeps it", 0x7fa12345, 0x7fe10000},
		{"negative NaN with all low bits", 0xffffffff, 0xffff0000},
		{"negative signalling NaN", 0xff800100, 0xffc00000},
	}
	for _, tc := range tests {
		got := math.Float32bits(RoundBF16(math.Float32frombits(tc.in)))
		if got != tc.want {
			t.Errorf("%s: RoundBF16(%#08x) = %#08x, want %#08x", tc.name, tc.in, got, tc.want)
		}
	}
}

// refRoundBF16 rounds in float64: to a multiple of the bf16 ulp at v's binade (2^-133 below
// the normal range), halves to even (math.RoundToEven).
func refRoundBF16(v float32) float32 {
	f := float64(v)
	if f == 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return v
	}
	_, e := math.Frexp(math.Abs(f)) // |f| = m * 2^e, m in [0.5, 1)
	ulp := math.Ldexp(1, max(e-1, -126)-7)
	r := math.RoundToEven(f/ulp) * ulp
	if math.Abs(r) > math.MaxFloat32 {
		return float32(math.Inf(int(math.Copysign(1, r))))
	}
	return float32(r)
}

// TestRoundBF16Sweep checks random bit patterns over the whole range against the float64
// rounding, that the low 16 bits of every result are 0, that NaN stays NaN, and the relative
// error bound on normal numbers.
func TestRoundBF16Sweep(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200000; i++ {
		bits := r.Uint32()
		if i%4 == 0 { // ties: the low 16 bits exactly half an ulp
			bits = bits&^0xffff | 0x8000
		}
		v := math.Float32frombits(bits)
		got := RoundBF16(v)
		gb := math.Float32bits(got)
		if low := gb & 0xffff; low != 0 {
			t.Fatalf("RoundBF16(%#08x) = %#08x: low 16 bits %#x", bits, gb, low)
		}
		if math.IsNaN(float64(v)) {
			if !math.IsNaN(float64(got)) || gb>>31 != bits>>31 {
				t.Fatalf("NaN %#08x became %#08x", bits, gb)
			}
			continue
		}
		if want := refRoundBF16(v); gb != math.Float32bits(want) {
			t.Fatalf("RoundBF16(%#08x) = %#08x, float64 rounding gives %#08x", bits, gb, math.Float32bits(want))
		}
		if a := math.Abs(float64(v)); a >= 0x1p-126 && !math.IsInf(float64(got), 0) {
			if rel := math.Abs(float64(got)-float64(v)) / a; rel > BF16UnitRoundoff {
				t.Fatalf("RoundBF16(%g) = %g: relative error %g > 2^-8", v, got, rel)
			}
		}
	}
}
