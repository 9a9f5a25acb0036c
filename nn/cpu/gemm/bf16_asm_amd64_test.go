//go:build amd64 && !purego

package gemm

import (
	"fmt"
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
