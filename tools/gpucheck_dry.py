#!/usr/bin/python3
"""Stand-ins for tools/gpucheck-dry.sh: each checks one command line of tools/gpucheck.sh
instead of running it, and exits non-zero naming what is wrong.

  gpucheck_dry.py gotest NAMES -test.run PATTERN ...   a Go test binary's command line
  gpucheck_dry.py peer ARGS...                          tools/peer/bench.py's command line

gotest: NAMES lists the binary's Test and Benchmark functions, one a line. Every flag must be
one that gpucheck may use, and the first level of each -test.run / -test.skip / -test.bench
pattern (Go splits a pattern at '/' into one regexp per subtest level) is split at its
top-level '|': each alternative must match a function of the right kind. A pattern that
matches nothing makes `go test` pass having run nothing (it only says "no tests to run"), so
a renamed test would turn a gpucheck step into a check that cannot fail. The deeper levels
name subtests made at run time and are not checked here.
"""

import os
import re
import sys

# The go test flags gpucheck passes, and whether each takes a value.
TEST_FLAGS = {
    "v": False, "short": False,
    "count": True, "timeout": True, "run": True, "skip": True, "bench": True, "benchtime": True,
}


def split_top(pattern, sep):
    """pattern split at sep outside brackets and parentheses (as go test splits at '/')."""
    parts, depth, cur, in_class = [], 0, "", False
    for ch in pattern:
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    return parts


def check_pattern(flag, pattern, names):
    """Errors for the alternatives of pattern's first level that match no function."""
    if pattern in ("", "^$"):
        return []  # deliberately nothing (e.g. -test.run '^$' before -test.bench)
    prefix = "Benchmark" if flag == "bench" else "Test"
    funcs = [n for n in names if n.startswith(prefix)]
    errs = []
    for alt in split_top(split_top(pattern, "/")[0], "|"):
        try:
            rx = re.compile(alt)
        except re.error as e:
            errs.append("-test.%s %r: alternative %r is no regexp: %s" % (flag, pattern, alt, e))
            continue
        if not any(rx.search(n) for n in funcs):
            errs.append("-test.%s %r: %r matches no %s function" % (flag, pattern, alt, prefix))
    return errs


def gotest(names_file, args):
    names = [l.strip() for l in open(names_file) if l.strip()]
    errs, i = [], 0
    while i < len(args):
        a = args[i]
        m = re.fullmatch(r"-{1,2}test\.([a-z]+)(?:=(.*))?", a)
        if not m or m.group(1) not in TEST_FLAGS:
            errs.append("unexpected argument %r" % a)
            i += 1
            continue
        flag, value = m.group(1), m.group(2)
        if TEST_FLAGS[flag] and value is None:
            if i + 1 >= len(args):
                errs.append("-test.%s needs a value" % flag)
                break
            value = args[i + 1]
            i += 1
        if flag in ("run", "skip", "bench"):
            errs += check_pattern(flag, value, names)
        i += 1
    return errs


def peer(args):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer"))
    import bench  # noqa: E402  (imports torch)

    bench.parse_args(args)  # argparse exits 2 with a usage line on a bad argument
    return []


def main(argv):
    if len(argv) >= 2 and argv[0] == "gotest":
        errs = gotest(argv[1], argv[2:])
    elif argv and argv[0] == "peer":
        errs = peer(argv[1:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for e in errs:
        print("gpucheck dry run: " + e, file=sys.stderr)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
