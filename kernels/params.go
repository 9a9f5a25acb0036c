package kernels

import (
	"regexp"
	"strings"
)

// entryRE matches the start of a kernel's declaration in PTX: `.entry NAME(`.
var entryRE = regexp.MustCompile(`\.entry\s+([A-Za-z_$][A-Za-z0-9_$]*)\s*\(`)

// Entries returns every kernel (.entry) declared in ptx with its number of parameters. The
// cuda package checks each launch's argument count against it: gorgonia.org/cu's Launch
// passes whatever it is given, and a kernel handed one argument too few reads garbage for the
// rest instead of failing.
func Entries(ptx string) map[string]int {
	out := map[string]int{}
	for _, loc := range entryRE.FindAllStringSubmatchIndex(ptx, -1) {
		name := ptx[loc[2]:loc[3]]
		params := ptx[loc[1]:]
		if end := strings.IndexByte(params, ')'); end >= 0 {
			params = params[:end]
		}
		out[name] = strings.Count(params, ".param")
	}
	return out
}
