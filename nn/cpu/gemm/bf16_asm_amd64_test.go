//go:build amd64 && !purego

package gemm

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// disassemble is objdump -d of this test binary over [start, start+n).
func disassemble(t *testing.T, objdump string, start, n uint64) string {
	t.Helper()
	out, err := exec.Command(objdump, "-d", fmt.Sprintf("--start-address=%#x", start),
		fmt.Sprintf("--stop-address=%#x", start+n), os.Args[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump: %v\n%s", err, out)
	}
	return string(out)
}

// TestBF16KernelDisassembly: GNU objdump decodes every VDPBF16PS that gen_bf16.py wrote as
// bytes into this test binary's kernels as the instruction its comment names (same operands,
// same order), and finds nothing it cannot decode. It checks the generator's EVEX encoder
// without running the kernels, so it runs on CPUs without AVX512_BF16 too.
func TestBF16KernelDisassembly(t *testing.T) {
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("no objdump (GNU binutils) on PATH")
	}
	src, err := os.ReadFile("gemm_bf16_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	comment := regexp.MustCompile(`// VDPBF16PS Z(\d+), Z(\d+), Z(\d+)$`)
	text := regexp.MustCompile(`^TEXT ·(\w+)\(SB\)`)
	want := map[string][]string{}
	var fn string
	for _, line := range strings.Split(string(src), "\n") {
		if m := text.FindStringSubmatch(line); m != nil {
			fn = m[1]
		}
		if m := comment.FindStringSubmatch(line); m != nil {
			want[fn] = append(want[fn], fmt.Sprintf("%%zmm%s,%%zmm%s,%%zmm%s", m[1], m[2], m[3]))
		}
	}
	kernels := map[string]any{"bkern14x32": bkern14x32, "bkern8x32": bkern8x32}
	insn := regexp.MustCompile(`\tvdpbf16ps (\S+)`)
	for _, name := range []string{"bkern14x32", "bkern8x32"} {
		mr := map[string]int{"bkern14x32": 14, "bkern8x32": 8}[name]
		if n := len(want[name]); n != 5*2*mr { // 4 unrolled k pairs and the tail's one
			t.Fatalf("%s: %d VDPBF16PS in gemm_bf16_amd64.s, want %d", name, n, 5*2*mr)
		}
		// go test links without a symbol table: find the kernel through the address of the
		// Go-callable wrapper, which calls it.
		wrapper := uint64(reflect.ValueOf(kernels[name]).Pointer())
		out := disassemble(t, objdump, wrapper, 256)
		m := regexp.MustCompile(`\tcall\s+(?:0x)?([0-9a-f]+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("%s: no call in its wrapper at %#x:\n%s", name, wrapper, out)
		}
		entry, err := strconv.ParseUint(m[1], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = disassemble(t, objdump, entry, 1<<16)
		var got []string
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "\tret") { // the k loops end before the first store's RET
				break
			}
			if strings.Contains(line, "(bad)") {
				t.Errorf("%s: objdump cannot decode: %s", name, line)
			}
			if m := insn.FindStringSubmatch(line); m != nil {
				got = append(got, m[1])
			}
		}
		if len(got) != len(want[name]) {
			t.Fatalf("%s: objdump decodes %d VDPBF16PS, the source has %d\n%s", name, len(got), len(want[name]), out)
		}
		for i := range got {
			if got[i] != want[name][i] {
				t.Errorf("%s: VDPBF16PS %d decodes as %s, its comment says %s", name, i, got[i], want[name][i])
			}
		}
	}
}

// fma32 is float32(x*y + z) rounded once (math/big is exact here: 24-bit operands).
func fma32(x, y, z float32) float32 {
	p := new(big.Float).SetPrec(200).Mul(big.NewFloat(float64(x)).SetPrec(200), big.NewFloat(float64(y)).SetPrec(200))
	p.Add(p, big.NewFloat(float64(z)).SetPrec(200))
	f, _ := p.Float32()
	return f
}

// TestBF16KernelsDirect runs bkern14x32 and bkern8x32 themselves on packed panels, for k pair
// counts around the 4-way unrolling (0 to 9) and every store path (beta 0, 1 and general,
// alpha 1 and not), into a C with a padded row stride, against a scalar emulation: each lane
// the VDPBF16PS chain of dpStep (2p+1 then 2p), then alpha*acc (beta 0), acc*alpha + C fused
// (beta 1) or beta*C + alpha*acc fused (other beta), bit for bit; padding untouched.
func TestBF16KernelsDirect(t *testing.T) {
	needBF16(t)
	r := rand.New(rand.NewPCG(21, 22))
	kernels := []struct {
		mr   int
		kern bkernel
	}{{14, bkern14x32}, {8, bkern8x32}}
	half := func(d uint32, hi bool) float32 {
		if hi {
			return math.Float32frombits(d &^ 0xffff)
		}
		return math.Float32frombits(d << 16)
	}
	for _, kc := range kernels {
		for kp := 0; kp <= 9; kp++ {
			for _, ab := range [][2]float32{{1, 0}, {1, 1}, {0.75, 0}, {-1.5, 1}, {0.5, -2}, {1, 0.3}} {
				mr, ldc := kc.mr, 32+3
				a, b := make([]uint32, max(1, kp*mr)), make([]uint32, max(1, kp*32))
				for i := range a {
					a[i] = bf16Bits(float32(r.NormFloat64())) | bf16Bits(float32(r.NormFloat64()))<<16
				}
				for i := range b {
					b[i] = bf16Bits(float32(r.NormFloat64())) | bf16Bits(float32(r.NormFloat64()))<<16
				}
				c := bf16Operands(r, mr*ldc)
				if ab[1] == 0 { // C is not read
					for i := 0; i < mr; i++ {
						for j := 0; j < 32; j++ {
							c[i*ldc+j] = float32(math.NaN())
						}
					}
				}
				want := append([]float32(nil), c...)
				for i := 0; i < mr; i++ {
					for j := 0; j < 32; j++ {
						var acc float32
						for p := 0; p < kp; p++ {
							ad, bd := a[p*mr+i], b[p*32+j]
							acc = dpStep(acc, half(bd, true), half(ad, true))
							acc = dpStep(acc, half(bd, false), half(ad, false))
						}
						cv := &want[i*ldc+j]
						switch ab[1] {
						case 0:
							*cv = ab[0] * acc
						case 1:
							*cv = fma32(acc, ab[0], *cv)
						default:
							*cv = fma32(*cv, ab[1], ab[0]*acc)
						}
					}
				}
				kc.kern(kp, &a[0], &b[0], &c[0], ldc*4, ab[0], ab[1])
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
						t.Fatalf("bkern%dx32 kp=%d alpha=%v beta=%v: C[%d][%d] = %g (%#08x), emulation %g (%#08x)",
							mr, kp, ab[0], ab[1], i/ldc, i%ldc, c[i], math.Float32bits(c[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}
