#!/usr/bin/env bash
# Per-core rates from thread CPU time (dev.clip4j.bench.CpuTimeBench), for a machine too busy for
# run.sh's wall-clock figures (shared cores): one thread does all the work, and its CPU time is
# what is divided by, so other processes on the cores hardly move the figures (shared caches and
# SMT siblings still do a little). Prints GFLOP/s of LibTorch's BLAS and of clip4j's packed GEMM per
# kernel family, ViT-B-32 img per CPU-second at batch 1/8/32 (fp32 default family, fp32 forced to
# avx2, packed bf16), fp32 / GEMM ceiling and bf16 / fp32, and writes them to
# benchmarks/results/cputime-latest.txt. No DJL and no thread scaling: those are run.sh's.
#   benchmarks/cputime.sh [ROUNDS]   (default 3 rounds; about 1.5 min each on a Zen 4 core)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="$ROOT/benchmarks/work"
OUT="$ROOT/benchmarks/results/cputime-latest.txt"
mkdir -p "$WORK" "$(dirname "$OUT")"
ci/setup.sh
mvn -B -q -DskipTests package
# This worktree's clip4j jars (not whatever another checkout installed into ~/.m2), then the rest,
# without MKL's jars (OpenBLAS is what the default configuration loads).
DEPS="$(tr ':' '\n' < benchmarks/target/classpath.txt | grep -v '/dev/clip4j/' | grep -v '/org/bytedeco/mkl/' | paste -sd: -)"
CP="benchmarks/target/clip4j-benchmarks-0.1.0-SNAPSHOT.jar:java/target/clip4j-0.1.0-SNAPSHOT.jar:presets/target/clip4j-presets-0.1.0-SNAPSHOT.jar:$DEPS"
java -cp "$CP" dev.clip4j.bench.ThroughputBench prepare "$WORK"
java -Xms1g -Xmx1g -Dclip4j.blasThreads=1 -Dclip4j.threads=1 -cp "$CP" dev.clip4j.bench.CpuTimeBench "$WORK" \
  "${1:-3}" | tee "$OUT.tmp"
{ echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (uncommitted changes)')"
  sed -n '/^# Per-core/,$p' "$OUT.tmp"; } > "$OUT"
rm -f "$OUT.tmp"
echo "cputime.sh: wrote $OUT" >&2
