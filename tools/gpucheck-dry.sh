#!/usr/bin/env bash
# gpucheck-dry.sh — runs tools/gpucheck.sh here, with no GPU, against stand-ins that check each
# step's command line instead of running it; `make test` runs it. A GPU session is rare and
# short (15 minutes, a few tasks in a hundred), so a flag renamed in a command, or a test
# renamed under a -test.run pattern, must show here and not there. The second is the worse:
# `go test -run` with a pattern that matches nothing passes, and a gpucheck step would become
# a check that cannot fail.
#
# The stand-ins (in a temporary BIN and at the front of PATH):
#   bench, train, sample, eval ...  the CPU build of the same command with --help appended: the
#                                   flags are the cuda-tagged build's, and pflag refuses an
#                                   unknown one or a bad value before it reads --help
#   cuda.test                       tools/gpucheck_dry.py gotest: the go test flags, and every
#                                   top-level alternative of -test.run/-test.skip/-test.bench
#                                   must match a Test/Benchmark function in cuda/*_test.go
#   python3 tools/peer/bench.py     tools/gpucheck_dry.py peer: the peer's argparse parser
#   compute-sanitizer               drops its own options and runs the rest
#   nvidia-smi                      says it is a dry run
# The cli step runs with GPUCHECK_DRY=1: its bad-input commands only need to parse here.
# Not covered: the deeper -test.run levels (subtest names are made at run time), and whether a
# step passes.
# The stand-ins are then shown failing on planted mistakes, so this check can fail too.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
py=${GPUCHECK_DRY_PYTHON:-/usr/bin/python3}  # Debian's, with torch (tools/install-deps.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/cpu" "$work/bin" "$work/path" "$work/out"
calls=$work/calls.log
: >"$calls"

go build -o "$work/cpu/" ./cmd/...
grep -ho '^func \(Test\|Benchmark\)[A-Za-z0-9_]*' cuda/*_test.go | sed 's/^func //' >"$work/names"

# stub PATH NAME BODY: an executable stand-in that logs its call, then runs BODY.
stub() {
  printf '#!/usr/bin/env bash\necho "%s $*" >>%q\n%s\n' "$2" "$calls" "$3" >"$1"
  chmod +x "$1"
}
for f in "$work"/cpu/*; do
  name=$(basename "$f")
  stub "$work/bin/$name" "$name" "out=\$($(printf %q "$f") \"\$@\" --help 2>&1) || { echo \"gpucheck dry run: $name \$*: \$(echo \"\$out\" | grep -v -e '^ ' -e '^Usage' | head -n 1)\" >&2; exit 1; }"
done
cp "$work/bin/train" "$work/bin/train-cpu"  # make gpu-bins' untagged trainer
stub "$work/bin/cuda.test" cuda.test "exec $(printf %q "$py") $(printf %q "$root/tools/gpucheck_dry.py") gotest $(printf %q "$work/names") \"\$@\""
stub "$work/path/python3" python3 "if [ \"\${1:-}\" = tools/peer/bench.py ]; then shift; exec $(printf %q "$py") $(printf %q "$root/tools/gpucheck_dry.py") peer \"\$@\"; fi
exec $(printf %q "$py") \"\$@\""
stub "$work/path/compute-sanitizer" compute-sanitizer 'while [ $# -gt 0 ] && [[ $1 == --* ]]; do case $1 in *=*) shift ;; *) shift 2 ;; esac; done
exec "$@"'
stub "$work/path/nvidia-smi" nvidia-smi 'echo "gpucheck dry run: no GPU"'

# Every step, the opt-in mnist20 too; an empty MNIST file so that cli's eval check runs.
mkdir -p "$work/mnist"
: >"$work/mnist/t10k-images-idx3-ubyte.gz"
set +e
PATH="$work/path:$PATH" BIN="$work/bin" OUT="$work/out" GPUCHECK_STEPS=default,mnist20 GPUCHECK_DRY=1 \
  GPUCHECK_DATA_DIR="$work/mnist" bash tools/gpucheck.sh >"$work/gpucheck.log" 2>&1
rc=$?
set -e
fail() {
  echo "gpucheck-dry: $*" >&2
  grep -h 'gpucheck dry run:' "$work"/out/*.log >&2 || true
  exit 1
}
[ $rc -eq 0 ] || { cat "$work/out/summary.txt" >&2 || cat "$work/gpucheck.log" >&2; fail "tools/gpucheck.sh failed (rc $rc) with the stand-ins"; }
if grep -E '^[a-z0-9]+ +(SKIPPED|TIMEOUT|FAIL)' "$work/out/summary.txt" >&2; then
  fail "a step did not run to the end"
fi
# Each step called its stand-in: 4 peer runs, 12 cuda.test runs, 4 profiles, 10 cli checks ...
n=$(wc -l <"$calls")
[ "$n" -ge 35 ] || fail "only $n stand-in calls: steps were left out"

# The stand-ins refuse what they should (each line: a command that must fail).
while IFS= read -r bad; do
  if PATH="$work/path:$PATH" bash -c "$bad" >/dev/null 2>&1; then
    fail "a planted mistake passed: $bad"
  fi
done <<EOF
$work/bin/bench --train-only --no-such-flag
$work/bin/train --epochs abc
$work/bin/cuda.test -test.run 'TestConformance|TestNoSuchTest'
$work/bin/cuda.test -test.run '^$' -test.bench 'TestConformance'
$work/bin/cuda.test -test.count=1 -test.nosuch
compute-sanitizer --tool memcheck --error-exitcode 1 $work/bin/cuda.test -test.run TestNoSuchTest/conv
python3 tools/peer/bench.py --device cuda --no-such-flag
EOF
echo "gpucheck-dry: every gpucheck step's command line checked ($n calls: flags, test names, peer arguments)"
