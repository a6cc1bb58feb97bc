#!/usr/bin/env bash
# clip4j vs DJL vs the hardware, measured in one run on this machine (not a test; aims at < 10
# minutes on 2 cores). Writes benchmarks/results/latest.json and latest.md.
#   benchmarks/run.sh            first run generates a random-weight ViT-B-32 under benchmarks/work
#   BENCH_MKL=0 benchmarks/run.sh   skip the MKL rows (otherwise org.bytedeco:mkl, 156 MB, is resolved)
#   BENCH_SMOKE=1 benchmarks/run.sh check the harness in about a minute (small model; figures meaningless)
#   benchmarks/run.sh server     only the server: texts/s over HTTP (16 clients) vs in process, p50/p99
#                                -> benchmarks/results/server.json + server.md
#   benchmarks/run.sh siglip-text  only SigLIP2's text tower: packed (GELU-tanh epilogue) vs per-sample
#                                LibTorch, texts/s and their ratio -> benchmarks/results/siglip-text.txt
#   benchmarks/run.sh soak       only the soak: native memory over BENCH_SOAK_TOTAL (default 200000)
#                                embeddings of images and texts with the small random model (about 35 min
#                                on 2 busy cores) -> benchmarks/results/soak.json + soak.md
# Every JVM runs the same model; each row of the configuration table says its BLAS library,
# OPENBLAS_CORETYPE, thread layout (intra-op x BLAS threads) and GEMM mode (packed: clip4j's native
# kernels, the default; per-sample / folded: LibTorch GEMMs in the TorchScript-source towers).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="$ROOT/benchmarks/work"
RESULTS="$ROOT/benchmarks/results"
JOPTS=()
DJL_SECONDS=4
if [[ "${BENCH_SMOKE:-0}" == 1 ]]; then
  # Smoke mode: a small random model and short phases, to check the harness end to end (about a
  # minute); its figures mean nothing and go to benchmarks/work/smoke/results, never results/.
  WORK="$ROOT/benchmarks/work/smoke"
  RESULTS="$WORK/results"
  JOPTS=(-Dbench.spec=small -Dbench.scale=0.1 -Dbench.seconds=0.2 -Dbench.steadyTotal=2000)
  DJL_SECONDS=1
fi
mkdir -p "$WORK" "$RESULTS"
if [[ "${1:-}" == siglip ]]; then
  # SigLIP ViT-B-16's image tower beside ViT-B-32's, one JVM, same run (random weights).
  mvn -B -q -DskipTests package -pl benchmarks -am
  DEPS="$(tr ':' '\n' < benchmarks/target/classpath.txt | grep -v '/dev/clip4j/' | grep -v '/org/bytedeco/mkl/' | paste -sd: -)"
  CP="benchmarks/target/clip4j-benchmarks-0.1.0-SNAPSHOT.jar:java/target/clip4j-0.1.0-SNAPSHOT.jar:presets/target/clip4j-presets-0.1.0-SNAPSHOT.jar:$DEPS"
  java -cp "$CP" dev.clip4j.bench.SiglipBench "$WORK" "${BENCH_SIGLIP_BATCH:-8}" "${BENCH_SIGLIP_SECONDS:-20}" \
    | tee "$RESULTS/siglip.txt"
  exit 0
fi
if [[ "${1:-}" == siglip-text ]]; then
  # SigLIP2's text tower on the packed kernels (GELU-tanh epilogue) against per-sample LibTorch, one JVM.
  mvn -B -q -DskipTests package -pl benchmarks -am
  DEPS="$(tr ':' '\n' < benchmarks/target/classpath.txt | grep -v '/dev/clip4j/' | grep -v '/org/bytedeco/mkl/' | paste -sd: -)"
  CP="benchmarks/target/clip4j-benchmarks-0.1.0-SNAPSHOT.jar:java/target/clip4j-0.1.0-SNAPSHOT.jar:presets/target/clip4j-presets-0.1.0-SNAPSHOT.jar:$DEPS"
  java -cp "$CP" dev.clip4j.bench.SiglipTextBench "${BENCH_SIGLIP_BATCH:-8}" "${BENCH_SIGLIP_SECONDS:-20}" \
    | tee "$RESULTS/siglip-text.txt"
  exit 0
fi
if [[ "${1:-}" == soak ]]; then
  # Not a test: RSS over a long run, sampled every tenth; the figure is the growth over the second
  # half. The Java heap is fixed and pre-touched so RSS changes are native memory.
  ci/setup.sh
  mvn -B -q -DskipTests package
  DEPS="$(tr ':' '\n' < benchmarks/target/classpath.txt | grep -v '/dev/clip4j/' | grep -v '/org/bytedeco/mkl/' | paste -sd: -)"
  CP="benchmarks/target/clip4j-benchmarks-0.1.0-SNAPSHOT.jar:java/target/clip4j-0.1.0-SNAPSHOT.jar:presets/target/clip4j-presets-0.1.0-SNAPSHOT.jar:$DEPS"
  TOTAL="${BENCH_SOAK_TOTAL:-200000}"
  [[ "${BENCH_SMOKE:-0}" == 1 ]] && TOTAL=2000
  java -Xms512m -Xmx512m -XX:+AlwaysPreTouch -cp "$CP" dev.clip4j.bench.SoakBench "$WORK" "$RESULTS/soak.json" \
    "$TOTAL" "$(( TOTAL / 20 ))"
  exit 0
fi
if [[ "${1:-}" == server ]]; then
  # Not a test: texts/s through clip4j serve's HTTP API (16 keep-alive clients) vs the in-process
  # bulk path, one JVM, one run, the same model and batching; p50/p99 per request; CPU time per
  # text (server) and per request (load generator), and the server's mean batch, for busy machines.
  # BENCH_SERVER_SPEC=small for the small random model (HTTP overhead weighs most there);
  # BENCH_SERVER_CLIENT=jdk to drive it with java.net.http instead of Jetty's asynchronous client.
  ci/setup.sh
  mvn -B -q -o -pl benchmarks -am -DskipTests package || mvn -B -q -pl benchmarks -am -DskipTests package
  DEPS="$(tr ':' '\n' < benchmarks/target/classpath.txt | grep -v '/dev/clip4j/' | grep -v '/org/bytedeco/mkl/' | paste -sd: -)"
  CP="benchmarks/target/clip4j-benchmarks-0.1.0-SNAPSHOT.jar:java/target/clip4j-0.1.0-SNAPSHOT.jar:server/target/clip4j-server-0.1.0-SNAPSHOT.jar:presets/target/clip4j-presets-0.1.0-SNAPSHOT.jar:$DEPS"
  SPEC="${BENCH_SERVER_SPEC:-vit-b-32}"
  N="${BENCH_SERVER_TEXTS:-2000}"
  [[ "${BENCH_SMOKE:-0}" == 1 ]] && SPEC=small && N=300
  NAME=server
  [[ "$SPEC" != vit-b-32 ]] && NAME="server-$SPEC"
  # The access log stays on (it is part of what a request costs); it goes to a file, not the terminal.
  java -Dbench.client="${BENCH_SERVER_CLIENT:-jetty}" -cp "$CP" dev.clip4j.bench.ServerBench "$WORK" \
    "$RESULTS/$NAME.json" "$SPEC" "$N" 2> "$WORK/$NAME.log"
  exit 0
fi
if [[ "${1:-}" == load-memory ]]; then
  # Peak RSS while loading ViT-B-32 (random weights, 605 MB) from the open_clip layout and from its
  # HF conversion, one JVM per measurement; the first call writes both models under $WORK.
  ci/setup.sh
  mvn -B -q -DskipTests package
  DEPS="$(tr ':' '\n' < benchmarks/target/classpath.txt | grep -v '/dev/clip4j/' | grep -v '/org/bytedeco/mkl/' | paste -sd: -)"
  CP="benchmarks/target/clip4j-benchmarks-0.1.0-SNAPSHOT.jar:java/target/clip4j-0.1.0-SNAPSHOT.jar:presets/target/clip4j-presets-0.1.0-SNAPSHOT.jar:$DEPS"
  java -cp "$CP" dev.clip4j.bench.LoadMemoryBench "$WORK/load-memory" vit-b-32 open_clip >/dev/null
  { echo "# Load memory ($(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
    for layout in open_clip hf; do
      java -cp "$CP" dev.clip4j.bench.LoadMemoryBench "$WORK/load-memory" vit-b-32 "$layout" | grep '^load-memory'
    done; } | tee "$RESULTS/load-memory.md"
  exit 0
fi
T0=$SECONDS
step() { echo "run.sh: $1 done at $((SECONDS - T0)) s" >&2; }
rm -f "$WORK"/layouts-*.json "$WORK"/djl*.json
ci/setup.sh
BENCH_MKL="${BENCH_MKL:-1}"
PROFILES="-Pdjl"
if [[ "$BENCH_MKL" == 1 ]]; then
  # Offline when ~/.m2 has MKL already; online once otherwise; without it the MKL rows say so.
  if mvn -B -q -o -Pdjl,mkl -DskipTests package >/dev/null 2>&1 || mvn -B -q -Pdjl,mkl -DskipTests package; then
    PROFILES="-Pdjl,mkl"
  else
    echo "run.sh: org.bytedeco:mkl could not be resolved; MKL rows skipped" >&2
    BENCH_MKL=0
    mvn -B -q -Pdjl -DskipTests package
  fi
else
  mvn -B -q -Pdjl -DskipTests package
fi
# This worktree's clip4j jars (not whatever another checkout installed into ~/.m2), then the rest.
DEPS="$(tr ':' '\n' < benchmarks/target/classpath.txt | grep -v '/dev/clip4j/' | paste -sd: -)"
CP_ALL="benchmarks/target/clip4j-benchmarks-0.1.0-SNAPSHOT.jar:java/target/clip4j-0.1.0-SNAPSHOT.jar:presets/target/clip4j-presets-0.1.0-SNAPSHOT.jar:$DEPS"
# The default JVMs never see MKL's jars (OpenBLAS is then what bytedeco's preset loads).
CP="$(tr ':' '\n' <<< "$CP_ALL" | grep -v '/org/bytedeco/mkl/' | paste -sd: -)"
java "${JOPTS[@]}" -cp "$CP" dev.clip4j.bench.ThroughputBench prepare "$WORK"
step "build and model"

MACHINE_CORETYPE="${OPENBLAS_CORETYPE-}"
# The other OPENBLAS_CORETYPE setting: unset when the machine sets one, else Haswell (AVX2 kernels).
if [[ -n "$MACHINE_CORETYPE" ]]; then OTHER_CORETYPE=""; else OTHER_CORETYPE="Haswell"; fi
with_coretype() { # with_coretype VALUE cmd...: runs cmd with OPENBLAS_CORETYPE=VALUE, or unset if empty
  local v="$1"; shift
  if [[ -n "$v" ]]; then OPENBLAS_CORETYPE="$v" "$@"; else env -u OPENBLAS_CORETYPE "$@"; fi
}
LAYOUTS="dev.clip4j.bench.ThroughputBench layouts $WORK"
N=$(nproc)
# 1. OpenBLAS, the machine's OPENBLAS_CORETYPE: the default layout (packed = the default, packed
#    forced to the AVX2 family, LibTorch per-sample = the previous default, folded, packed bf16), one
#    BLAS thread with all-core intra-op (the previous default), and both pools at all cores.
with_coretype "$MACHINE_CORETYPE" java "${JOPTS[@]}" -Dbench.rounds=2 -cp "$CP" $LAYOUTS "$WORK/layouts-openblas.json" \
  "openblas, OPENBLAS_CORETYPE=${MACHINE_CORETYPE:-unset}" "default:packed+packed-avx2+per-sample+folded+bf16,${N}x1:per-sample,${N}x${N}:per-sample"
step "configurations, machine OPENBLAS_CORETYPE"
# 2. The other OPENBLAS_CORETYPE, default layout (a separate JVM: OpenBLAS reads it at load).
with_coretype "$OTHER_CORETYPE" java "${JOPTS[@]}" -Dbench.rounds=1 -cp "$CP" $LAYOUTS \
  "$WORK/layouts-openblas-coretype.json" "openblas, OPENBLAS_CORETYPE=${OTHER_CORETYPE:-unset}" "default:per-sample+folded"
step "configurations, other OPENBLAS_CORETYPE"
# (Both pools at all cores with OMP_WAIT_POLICY=PASSIVE was measured once, 2026-12: no better than
#  the default layout, e.g. 7.1/8.1/7.1 img/s vs 7.5/8.5/7.7 per-sample; dropped to keep the run short.)
# 3. MKL with its GNU threading layer (one OpenMP pool): its default layout, and 1 intra-op thread.
if [[ "$BENCH_MKL" == 1 ]]; then
  java "${JOPTS[@]}" -Dclip4j.blas=mkl -Dbench.rounds=1 -cp "$CP_ALL" $LAYOUTS "$WORK/layouts-mkl.json" \
    "mkl (GNU threading layer)" "default:per-sample+folded,1x${N}:per-sample" || echo "run.sh: the MKL rows failed" >&2
fi
step "configurations, MKL"
# 4. DJL in its own JVM (its own LibTorch 2.7.1 + MKL), same threads, offline, on the exact files
#    clip4j's rows ran: per-sample (the default) and folded (the throughput mode).
DJL_CP="benchmarks-djl/target/clip4j-benchmarks-djl-0.1.0-SNAPSHOT.jar:$(cat benchmarks-djl/target/classpath.txt)"
for f in "" "-folded"; do
  java -Doffline=true -Ddjl.rounds=2 -Dai.djl.pytorch.num_threads="$N" -Dai.djl.pytorch.num_interop_threads=1 \
    -cp "$DJL_CP" dev.clip4j.bench.djl.DjlBench "$WORK/vit-b-32-visual$f.pt" "$WORK/djl$f.json" "$DJL_SECONDS" 1 8 32 || true
done
step "DJL"
# 5. clip4j's default configuration: GEMM ceiling, images, texts, 16 callers, steady-state RSS; merges it all.
#    The Java heap is fixed and pre-touched, so the steady-state RSS figure measures native memory only.
with_coretype "$MACHINE_CORETYPE" java "${JOPTS[@]}" -Xms1g -Xmx1g -XX:+AlwaysPreTouch -cp "$CP" dev.clip4j.bench.ThroughputBench run "$WORK" "$RESULTS" \
  "$WORK/djl.json" "$WORK/djl-folded.json" "$WORK/layouts-openblas.json" "$WORK/layouts-openblas-coretype.json" \
  "$WORK/layouts-mkl.json"
step "clip4j default run (images, texts, callers, steady state)"
# 6. End to end: the CLI's embed-images over generated JPEGs vs open_clip in Python, thread scaling.
benchmarks/e2e.sh "$RESULTS" || echo "run.sh: the end-to-end row failed" >&2
step "end to end (embed-images vs open_clip in Python)"
