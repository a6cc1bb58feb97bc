#!/usr/bin/env bash
# clip4j on a GPU host (not a test): image-tower throughput of ViT-B-32 and ViT-L-14 (random weights
# of the real shapes) at batch 1/32/256 in fp32/fp16/bf16, model-only (pixels already on the device)
# in the throughput and batch-invariant modes, as images/s and as a fraction of the GPU's dense fp16
# peak (nominal, and an fp16 GEMM measured in the same run); and end to end from JPEG files through
# ClipEmbedder (decode/preprocess threads = the host's cores), with the side that bounds the run.
# Writes benchmarks/results/gpu-latest.json. Needs: a CUDA GPU, JDK 17, Maven, nvcc, the CUDA 13.1
# runtime libraries and cuDNN 9.19 (README, section GPU). About 5-10 minutes.
#   benchmarks/gpu.sh                  everything
#   BENCH_SMOKE=1 benchmarks/gpu.sh    the harness on the CPU build with a small model (figures meaningless)
# Targets it checks against (README): ViT-B-32 fp16 at batch >= 256 model-only >= 40% of the dense
# fp16 peak (8.82 GFLOP per image: about 45,000 img/s on an H100/H200); end to end, the GPU must
# never wait on the host (bounded_by "device").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="$ROOT/benchmarks/work/gpu"
OUT="$ROOT/benchmarks/results/gpu-latest.json"
PROFILE=(-Pgpu)
JOPTS=()
if [[ "${BENCH_SMOKE:-0}" == 1 ]]; then
  WORK="$ROOT/benchmarks/work/gpu-smoke"
  OUT="$WORK/gpu-smoke.json"
  PROFILE=()
  JOPTS=(-Dbench.smoke=true)
  GPU="none (smoke)"
else
  if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu.sh: CUDA is not available (nvidia-smi finds no GPU); BENCH_SMOKE=1 checks the harness on the CPU" >&2
    exit 3
  fi
  GPU="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
fi
mkdir -p "$WORK"
ci/setup.sh
mvn -B -q "${PROFILE[@]}" -DskipTests package
CP="$ROOT/benchmarks/target/clip4j-benchmarks-0.1.0-SNAPSHOT.jar:$(cat "$ROOT/benchmarks/target/classpath.txt")"
java -Xmx16g "${JOPTS[@]}" -Dbench.work="$WORK" -Dbench.gpu="$GPU" -Dbench.out="$OUT" ${BENCH_JAVA_OPTS:-} \
  -cp "$CP" dev.clip4j.bench.GpuBench
