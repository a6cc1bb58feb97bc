#!/usr/bin/env bash
# clip4j vs DJL vs the hardware, measured in one run on this machine (not a test; ~6-9 minutes on
# 2 cores). Writes benchmarks/results/latest.json and latest.md.
#   benchmarks/run.sh            (first run generates a random-weight ViT-B-32 under benchmarks/work)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="$ROOT/benchmarks/work"
RESULTS="$ROOT/benchmarks/results"
mkdir -p "$WORK" "$RESULTS"
ci/setup.sh
mvn -B -q -Pdjl -DskipTests package
CP="benchmarks/target/clip4j-benchmarks-0.1.0-SNAPSHOT.jar:$(cat benchmarks/target/classpath.txt)"
java -cp "$CP" dev.clip4j.bench.ThroughputBench prepare "$WORK"
# DJL in its own JVM (its own LibTorch), same threads as clip4j, offline.
THREADS=$(nproc)
DJL_CP="benchmarks-djl/target/clip4j-benchmarks-djl-0.1.0-SNAPSHOT.jar:$(cat benchmarks-djl/target/classpath.txt)"
java -Doffline=true -Dai.djl.pytorch.num_threads="$THREADS" -Dai.djl.pytorch.num_interop_threads=1 \
  -cp "$DJL_CP" dev.clip4j.bench.djl.DjlBench "$WORK/vit-b-32-visual.pt" "$WORK/djl.json" 10 1 8 32 || true
java -cp "$CP" dev.clip4j.bench.ThroughputBench run "$WORK" "$RESULTS" "$WORK/djl.json"
