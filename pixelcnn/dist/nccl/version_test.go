package nccl

import (
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	for _, c := range []struct {
		code int
		want string
		ok   bool
	}{
		{2708, "2.7.8", false}, // the old encoding, up to 2.8
		{2804, "2.8.4", false},
		{20903, "2.9.3", false}, // the new one, from 2.9
		{21104, "2.11.4", false},
		{21200, "2.12.0", true},
		{21903, "2.19.3", true},
		{22703, "2.27.3", true},
		{30001, "3.0.1", true},
	} {
		if got := FormatVersion(c.code); got != c.want {
			t.Errorf("FormatVersion(%d) = %q, want %q", c.code, got, c.want)
		}
		err := checkVersion("libnccl.so.2", c.code)
		if (err == nil) != c.ok {
			t.Errorf("checkVersion(%d): %v, want ok %v", c.code, err, c.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "libnccl.so.2 is NCCL "+c.want) || !strings.Contains(err.Error(), "2.12.0 or newer") || !strings.Contains(err.Error(), "libnccl2")) {
			t.Errorf("checkVersion(%d): %q does not name the library, its version, the minimum and what to install", c.code, err)
		}
	}
}
