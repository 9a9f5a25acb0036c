package isa

import (
	"strings"
	"testing"
)

func TestFromEnv(t *testing.T) {
	cases := []struct {
		env     string
		want    Level
		wantErr string // substring; "" means no error
	}{
		{"", Detected, ""},
		{"generic", Generic, ""},
		{"GENERIC", Generic, ""},
		{"avx3", Detected, "unknown instruction set (choices: generic, avx2, avx512, amx)"},
		{"sse", Detected, "unknown"},
	}
	// A level above this CPU's is refused, naming the CPU; one at or below it is used.
	for l := Generic; l <= AMX; l++ {
		c := struct {
			env     string
			want    Level
			wantErr string
		}{l.String(), l, ""}
		if l > Detected {
			c.want, c.wantErr = Detected, "this CPU ("
		}
		cases = append(cases, c)
	}
	for _, c := range cases {
		got, err := fromEnv(c.env)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s=%q: unexpected error %v", EnvVar, c.env, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s=%q: error %v, want one containing %q", EnvVar, c.env, err, c.wantErr)
		case got != c.want:
			t.Errorf("%s=%q: level %v, want %v", EnvVar, c.env, got, c.want)
		}
	}
}

func TestSet(t *testing.T) {
	old := Active()
	t.Cleanup(func() { Set(old) })
	for _, l := range Available() {
		if err := Set(l); err != nil || Active() != l {
			t.Errorf("Set(%v): err %v, active %v", l, err, Active())
		}
		if want := min(l, AVX512); FP32Kernels() != want {
			t.Errorf("at %v FP32Kernels() = %v, want %v", l, FP32Kernels(), want)
		}
	}
	if Detected < AMX {
		if err := Set(Detected + 1); err == nil || !strings.Contains(err.Error(), "lacks it") {
			t.Errorf("Set(%v) above the CPU's %v: err %v", Detected+1, Detected, err)
		}
	}
}

// TestBF16: bf16 is refused naming the CPU and AVX512_BF16 when the CPU lacks it, naming
// PIXELCNN_CPU_ISA below avx512, and allowed at avx512 and amx on a CPU with it.
func TestBF16(t *testing.T) {
	for l := Generic; l <= AMX; l++ {
		for _, has := range []bool{false, true} {
			err := bf16At(l, has)
			switch {
			case !has:
				if err == nil || !strings.Contains(err.Error(), "AVX512_BF16") || !strings.Contains(err.Error(), "this CPU (") {
					t.Errorf("%v without AVX512_BF16: %v, want an error naming the CPU and the feature", l, err)
				}
			case l < AVX512:
				if err == nil || !strings.Contains(err.Error(), EnvVar+"="+l.String()) || !strings.Contains(err.Error(), "AVX512_BF16") {
					t.Errorf("%v with AVX512_BF16: %v, want an error naming %s", l, err, EnvVar)
				}
			default:
				if err != nil {
					t.Errorf("%v with AVX512_BF16: %v", l, err)
				}
			}
		}
	}
	old := Active()
	t.Cleanup(func() { Set(old) })
	Set(Generic)
	if BF16() == nil {
		t.Errorf("BF16() at generic: nil")
	}
	Set(Detected)
	if (BF16() == nil) != (HasBF16 && Detected >= AVX512) {
		t.Errorf("BF16() at %v: %v (HasBF16 %v)", Detected, BF16(), HasBF16)
	}
}
