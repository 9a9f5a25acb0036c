// Package cli is the command-line behaviour every command shares, so that they behave as one
// program: -h and --help print the usage on stdout and exit 0 (help that was asked for is
// output, not an error); a stray positional argument, or a flag that the chosen mode never
// reads, is an error naming it, never silently ignored.
package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
)

// Help is what Parse returns for -h or --help: the command's usage, for the caller to print
// on stdout before exiting 0.
type Help struct{ Usage string }

func (Help) Error() string { return "help requested" }

// Parse parses args into fs (a pflag.ContinueOnError set), which takes no positional
// arguments. -h or --help return Help: synopsis, then fs's flags.
func Parse(fs *pflag.FlagSet, synopsis string, args []string) error {
	if err := ParseArgs(fs, synopsis, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags take the form --name value)", fs.Args())
	}
	return nil
}

// ParseArgs is Parse for a command that takes positional arguments (fs.Args()).
func ParseArgs(fs *pflag.FlagSet, synopsis string, args []string) error {
	fs.Usage = func() {} // the usage goes to stdout, through Help, not to fs's output
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		return Help{Usage: synopsis + "\n\nflags:\n" + fs.FlagUsages()}
	}
	return err
}

// Unused returns an error for the first of the named flags (without "--") that was given on
// the command line: "--NAME " + why, e.g. why = "is only read with --dataset".
func Unused(fs *pflag.FlagSet, why string, names ...string) error {
	for _, n := range names {
		if fs.Changed(n) {
			return fmt.Errorf("--%s %s", n, why)
		}
	}
	return nil
}

// PNGOut checks an output path given with flag: every image the commands write is a PNG, so
// the name must end in .png (any case); another extension would give a file whose name lies
// about its format.
func PNGOut(flag, path string) error {
	base := filepath.Base(path)
	if path == "" || strings.HasSuffix(path, "/") || strings.EqualFold(base, ".png") {
		return fmt.Errorf("%s %q: give a file name ending in .png", flag, path)
	}
	if !strings.EqualFold(filepath.Ext(base), ".png") {
		return fmt.Errorf("%s %s: the image is written as PNG; give a name ending in .png", flag, path)
	}
	return nil
}
