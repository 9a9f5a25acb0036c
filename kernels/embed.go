//go:build cuda

package kernels

// go:embed cannot reach outside its package, so the PTX is embedded here and the cuda
// package loads it. A cuda build without `make ptx` fails here: "pattern ptx/*.ptx: no
// matching files found".

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed ptx/*.ptx
var ptxFiles embed.FS

// Modules returns the embedded PTX modules by name (the .cu file's base name, e.g.
// "maskedconv"), in name order.
func Modules() (map[string]string, []string, error) {
	entries, err := fs.ReadDir(ptxFiles, "ptx")
	if err != nil {
		return nil, nil, err
	}
	mods := map[string]string{}
	var names []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".ptx") {
			continue
		}
		data, err := ptxFiles.ReadFile(path.Join("ptx", e.Name()))
		if err != nil {
			return nil, nil, err
		}
		name := strings.TrimSuffix(e.Name(), ".ptx")
		mods[name] = string(data)
		names = append(names, name)
	}
	sort.Strings(names)
	return mods, names, nil
}
