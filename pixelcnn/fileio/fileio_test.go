package fileio

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pixelcnn/pixelcnn/fileio/fileiotest"
)

// node makes the thing a case names at path in dir and returns what Lstat should still say
// about it afterwards.
type node func(t *testing.T, dir, path string)

var (
	mkDir     node = func(t *testing.T, _, p string) { must(t, os.Mkdir(p, 0o755)) }
	mkDevice  node = func(t *testing.T, _, p string) { fileiotest.CharDevice(t, p) }
	mkFIFO    node = func(t *testing.T, _, p string) { fileiotest.FIFO(t, p) }
	mkSocket  node = func(t *testing.T, _, p string) { fileiotest.Socket(t, p) }
	mkRegular node = func(t *testing.T, _, p string) { must(t, os.WriteFile(p, []byte("old"), 0o600)) }
	linkTo         = func(n node) node {
		return func(t *testing.T, dir, p string) {
			target := filepath.Join(dir, "target")
			n(t, dir, target)
			must(t, os.Symlink(target, p))
		}
	}
	mkDangling node = func(t *testing.T, dir, p string) { must(t, os.Symlink(filepath.Join(dir, "gone"), p)) }
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// noTemps fails if a temporary file or directory was left in dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
}

// TestWriteRefusesNonRegular: an output that exists and is not a regular file, or a link
// to one, is refused naming the path and what it is, and is left as it was.
func TestWriteRefusesNonRegular(t *testing.T) {
	for _, tc := range []struct {
		name string
		make node
		want string
	}{
		{"directory", mkDir, "it is a directory"},
		{"character device", mkDevice, "it is a character device"},
		{"FIFO", mkFIFO, "it is a FIFO"},
		{"socket", mkSocket, "it is a socket"},
		{"link to a directory", linkTo(mkDir), "a directory"},
		{"link to a device", linkTo(mkDevice), "a character device"},
		{"link to a FIFO", linkTo(mkFIFO), "a FIFO"},
		{"dangling link", mkDangling, "cannot be followed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out")
			tc.make(t, dir, path)
			before, err := os.Lstat(path)
			must(t, err)
			for _, write := range []struct {
				name string
				f    func() error
			}{
				{"WriteFile", func() error { return WriteFile(path, []byte("new")) }},
				{"Write", func() error {
					return Write(path, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err })
				}},
				{"CheckOutput", func() error { return CheckOutput(path) }},
			} {
				err := fileiotest.Within(t, 10*time.Second, write.name, write.f)
				if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: %v, want an error naming %s and saying %q", write.name, err, path, tc.want)
				}
			}
			after, err := os.Lstat(path)
			must(t, err)
			if after.Mode() != before.Mode() || !os.SameFile(before, after) {
				t.Errorf("%s was replaced: mode %v, was %v", path, after.Mode(), before.Mode())
			}
			noTemps(t, dir)
		})
	}
}

// TestWriteFollowsLinks: a regular file is replaced; a link (or a chain of links, relative or
// absolute, into another directory) to a regular file has its target replaced, the links
// kept; the result is 0644.
func TestWriteFollowsLinks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		links []string // each links to the next; the last to the target
	}{
		{"regular file", nil},
		{"absolute link", []string{"abs"}},
		{"relative link", []string{"rel"}},
		{"chain of links", []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, other := t.TempDir(), t.TempDir()
			target := filepath.Join(other, "target.png")
			must(t, os.WriteFile(target, []byte("old"), 0o600))
			path, next := target, target
			for i := len(tc.links) - 1; i >= 0; i-- {
				path = filepath.Join(dir, tc.links[i])
				dest := next
				if tc.links[i] == "rel" {
					var err error
					dest, err = filepath.Rel(dir, next)
					must(t, err)
				}
				must(t, os.Symlink(dest, path))
				next = path
			}
			must(t, CheckOutput(path))
			must(t, WriteFile(path, []byte("new")))
			b, err := os.ReadFile(target)
			must(t, err)
			if string(b) != "new" {
				t.Errorf("target holds %q, want the new contents", b)
			}
			st, err := os.Stat(target)
			must(t, err)
			if st.Mode().Perm() != 0o644 {
				t.Errorf("target mode %v, want 0644", st.Mode().Perm())
			}
			for _, l := range tc.links {
				st, err := os.Lstat(filepath.Join(dir, l))
				must(t, err)
				if st.Mode()&fs.ModeSymlink == 0 {
					t.Errorf("link %s was replaced by a %v", l, st.Mode())
				}
			}
			noTemps(t, dir)
			noTemps(t, other)
		})
	}
}

// TestWriteFailureKeepsOldFile: a fill that fails (a full disk, an encoder error) leaves the
// existing file untouched and no temporary file; the error names the path and wraps the cause.
func TestWriteFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	must(t, os.WriteFile(path, []byte("old"), 0o644))
	full := errors.New("no space left on device (simulated)")
	err := Write(path, func(w io.Writer) error {
		w.Write(make([]byte, 1<<20)) // more than the buffer: part of it reaches the file
		return full
	})
	if !errors.Is(err, full) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Write = %v, want the fill's error naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("the existing file holds %q after a failed write", b)
	}
	noTemps(t, dir)
	missing := filepath.Join(dir, "no", "such", "dir", "out")
	if err := WriteFile(missing, nil); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("WriteFile into a missing directory = %v, want an error naming %s", err, missing)
	}
}

// TestCheckOutputRefusesInputs: an output that is an input, directly, through a link or a
// hard link, is refused naming both; other files, new names and "" inputs are fine.
func TestCheckOutputRefusesInputs(t *testing.T) {
	dir := t.TempDir()
	in, other := filepath.Join(dir, "in.png"), filepath.Join(dir, "other.png")
	must(t, os.WriteFile(in, []byte("input"), 0o644))
	must(t, os.WriteFile(other, []byte("other"), 0o644))
	link, hard := filepath.Join(dir, "link.png"), filepath.Join(dir, "hard.png")
	must(t, os.Symlink(in, link))
	must(t, os.Link(in, hard))
	for _, tc := range []struct {
		out    string
		inputs []string
		same   bool
	}{
		{in, []string{other, in}, true},
		{link, []string{in}, true},
		{in, []string{link}, true},
		{hard, []string{in}, true},
		{other, []string{in}, false},
		{filepath.Join(dir, "new.png"), []string{in}, false},
		{other, []string{"", filepath.Join(dir, "missing")}, false},
	} {
		err := CheckOutput(tc.out, tc.inputs...)
		if !tc.same {
			if err != nil {
				t.Errorf("CheckOutput(%s, %v) = %v, want nil", tc.out, tc.inputs, err)
			}
			continue
		}
		if !errors.Is(err, ErrSameFile) || !strings.Contains(err.Error(), tc.out) {
			t.Errorf("CheckOutput(%s, %v) = %v, want ErrSameFile naming it", tc.out, tc.inputs, err)
		}
	}
	if b, _ := os.ReadFile(in); string(b) != "input" {
		t.Error("the input was changed")
	}
	if err := CheckOutput(""); err == nil {
		t.Error(`CheckOutput("") accepted`)
	}
}

// TestWriteDir: a new name or an empty directory is created with fill's files; a link to
// an empty directory is followed (the link stays, its target gets the files); a directory
// that is not empty, a file, a device, a link to a file and a dangling link are refused and
// left as they were; a failed fill leaves nothing.
func TestWriteDir(t *testing.T) {
	fill := func(tmp string) error { return WriteFile(filepath.Join(tmp, "000000.png"), []byte("png")) }
	full := func(t *testing.T, dir, p string) {
		must(t, os.Mkdir(p, 0o755))
		must(t, os.WriteFile(filepath.Join(p, "keep"), []byte("x"), 0o644))
	}
	for _, tc := range []struct {
		name   string
		make   node
		target string // where the files must land, relative to the test dir ("" = refused)
		want   string // in the refusal
	}{
		{"new", func(*testing.T, string, string) {}, "out", ""},
		{"empty directory", mkDir, "out", ""},
		{"link to an empty directory", linkTo(mkDir), "target", ""},
		{"directory not empty", full, "", "not empty"},
		{"link to a full directory", linkTo(full), "", "not empty"},
		{"regular file", mkRegular, "", "a regular file, not a directory"},
		{"device", mkDevice, "", "a character device, not a directory"},
		{"link to a file", linkTo(mkRegular), "", "a symbolic link to"},
		{"dangling link", mkDangling, "", "cannot be followed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out")
			tc.make(t, dir, path)
			before, _ := os.Lstat(path)
			if tc.target == "" {
				for _, err := range []error{CheckOutputDir(path), WriteDir(path, fill)} {
					if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
						t.Errorf("%v, want an error naming %s and saying %q", err, path, tc.want)
					}
				}
				after, err := os.Lstat(path)
				must(t, err)
				if after.Mode() != before.Mode() || !os.SameFile(before, after) {
					t.Errorf("%s was replaced: mode %v, was %v", path, after.Mode(), before.Mode())
				}
				noTemps(t, dir)
				return
			}
			must(t, CheckOutputDir(path))
			must(t, WriteDir(path, fill))
			if b, err := os.ReadFile(filepath.Join(dir, tc.target, "000000.png")); err != nil || string(b) != "png" {
				t.Errorf("%s/000000.png: %q, %v", tc.target, b, err)
			}
			if before != nil {
				after, err := os.Lstat(path)
				must(t, err)
				if after.Mode().Type() != before.Mode().Type() {
					t.Errorf("%s was a %v, now a %v", path, before.Mode().Type(), after.Mode().Type())
				}
			}
			st, _ := os.Stat(filepath.Join(dir, tc.target))
			if st.Mode().Perm() != 0o755 {
				t.Errorf("directory mode %v, want 0755", st.Mode().Perm())
			}
			noTemps(t, dir)
		})
	}
	t.Run("failed fill", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "out")
		boom := errors.New("boom")
		if err := WriteDir(path, func(string) error { return boom }); !errors.Is(err, boom) {
			t.Errorf("WriteDir = %v, want fill's error", err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%d entries left after a failed WriteDir", len(ents))
		}
	})
}

// TestOpenAppend: a new or regular file (or a link to one) is opened for appending; a FIFO
// (without hanging), a device and a directory are refused naming the path.
func TestOpenAppend(t *testing.T) {
	for _, tc := range []struct {
		name string
		make node
		ok   bool
	}{
		{"new", func(*testing.T, string, string) {}, true},
		{"regular", mkRegular, true},
		{"link to regular", linkTo(mkRegular), true},
		{"FIFO", mkFIFO, false},
		{"device", mkDevice, false},
		{"directory", mkDir, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "metrics.jsonl")
			tc.make(t, dir, path)
			var f *os.File
			err := fileiotest.Within(t, 10*time.Second, "OpenAppend", func() (err error) {
				f, err = OpenAppend(path)
				return err
			})
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), path) {
					t.Fatalf("OpenAppend = %v, want an error naming %s", err, path)
				}
				return
			}
			must(t, err)
			_, err = f.Write([]byte("line\n"))
			must(t, err)
			must(t, f.Close())
		})
	}
}

// TestReadFile: a regular file (or a link to one) up to the limit is read; one over it, a
// directory, a device, a FIFO (without hanging), a socket and a missing file are errors
// naming the path (and, over the limit, the limit).
func TestReadFile(t *testing.T) {
	const limit = 16
	for _, tc := range []struct {
		name string
		make node
		want string // "" = reads
	}{
		{"regular", func(t *testing.T, _, p string) { must(t, os.WriteFile(p, make([]byte, limit), 0o644)) }, ""},
		{"link to regular", linkTo(mkRegular), ""},
		{"over the limit", func(t *testing.T, _, p string) { must(t, os.WriteFile(p, make([]byte, limit+1), 0o644)) }, "over the 16-byte limit"},
		{"sparse file over the limit", func(t *testing.T, _, p string) { must(t, os.WriteFile(p, nil, 0o644)); must(t, os.Truncate(p, 1<<40)) }, "over the 16-byte limit"},
		{"directory", mkDir, "it is a directory"},
		{"device", mkDevice, "it is a character device"},
		{"FIFO", mkFIFO, "it is a FIFO"},
		{"link to a FIFO", linkTo(mkFIFO), "it is a FIFO"},
		{"socket", mkSocket, ""},
		{"missing", func(*testing.T, string, string) {}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "in")
			tc.make(t, dir, path)
			var b []byte
			err := fileiotest.Within(t, 10*time.Second, "ReadFile", func() (err error) {
				b, err = ReadFile(path, limit)
				return err
			})
			if tc.name == "socket" { // open(2) itself refuses a socket (ENXIO)
				if err == nil || !strings.Contains(err.Error(), path) {
					t.Fatalf("ReadFile = %v, want an error naming %s", err, path)
				}
				return
			}
			if tc.want == "" {
				must(t, err)
				if want, _ := os.ReadFile(path); string(b) != string(want) {
					t.Errorf("read %q, want %q", b, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadFile = %v, want an error naming %s and saying %q", err, path, tc.want)
			}
			if tc.name == "missing" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a missing file's error %v is not fs.ErrNotExist", err)
			}
		})
	}
}

// TestOpenCatchesGrowth: a file that grows past the limit after it was opened fails the read
// at the limit, instead of being read to its end.
func TestOpenCatchesGrowth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grows")
	must(t, os.WriteFile(path, make([]byte, 10), 0o644))
	f, err := Open(path, 20)
	must(t, err)
	defer f.Close()
	if f.Size() != 10 {
		t.Errorf("Size %d, want 10", f.Size())
	}
	g, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	g.Write(make([]byte, 1000))
	g.Close()
	b, err := io.ReadAll(f)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), path) {
		t.Fatalf("ReadAll = %v, want ErrTooLarge naming %s", err, path)
	}
	if len(b) != 20 {
		t.Errorf("read %d bytes before the error, want the 20 the limit allows", len(b))
	}
}
