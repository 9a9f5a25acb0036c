package main

import (
	"strings"
	"testing"
)

// TestTrainPrecision: the CPU train step runs at fp32 by default and at the emulated tf32 when
// asked, and each row records it; an unknown precision is an error listing the choices.
func TestTrainPrecision(t *testing.T) {
	for _, tc := range []struct{ flag, want string }{{"", "fp32"}, {"tf32", "tf32"}, {"fp32", "fp32"}} {
		rows, err := runTrain(trainConfig{presets: []string{"tiny"}, batches: []int{2}, cpu: true, cpuSteps: 1, precision: tc.flag}, nil)
		if err != nil {
			t.Fatalf("--precision %q: %v", tc.flag, err)
		}
		if len(rows) != 1 || rows[0].CPUPrec != tc.want || !(rows[0].CPUms > 0) {
			t.Errorf("--precision %q: rows %+v, want one at %s", tc.flag, rows, tc.want)
		}
	}
	_, err := runTrain(trainConfig{presets: []string{"tiny"}, batches: []int{2}, cpu: true, cpuSteps: 1, precision: "fp16"}, nil)
	if err == nil || !strings.Contains(err.Error(), "choose one of [tf32 fp32 bf16]") {
		t.Errorf("--precision fp16: %v, want an error listing the choices", err)
	}
}
