#!/usr/bin/env bash
# A/B of the per-position path (cached sampling, codec) between two builds, interleaved round
# by round: OLD and NEW are directories holding pixelcnn.test (go test -c ./pixelcnn/) and
# compress (go build ./cmd/compress) of each commit; CK a checkpoint for the codec.
set -euo pipefail
old=${OLD:?} new=${NEW:?} ck=${CK:?} rounds=${ROUNDS:-3} limit=${LIMIT:-200}
for r in $(seq "$rounds"); do
  for side in old new; do
    dir=${!side}
    echo "== round $r $side"
    "$dir/pixelcnn.test" -test.run '^$' -test.bench 'BenchmarkSample/cached/(mnist|gated)/b16$' -test.benchtime 3x | grep Benchmark
    "$dir/compress" bench --checkpoint "$ck" --dataset mnist --limit "$limit" 2>&1 | grep 'codec encode'
  done
done
