#!/usr/bin/env bash
# clip4j's one prepared device check: the CUDA kernels on a real GPU, without a JDK.
#
# For a machine with an NVIDIA GPU, nvcc (CUDA 13), CMake >= 3.25, g++, python3 with torch (any 2.x,
# or 1.13) and, where the runtime allows, compute-sanitizer. About 3-6 minutes. It:
#   1. builds libclip4j.so + libclip4j_cuda.so with CMake (CLIP4J_REQUIRE_CUDA=ON, sm_80 + sm_90),
#      runs ctest (the cuda_loader test reports availability 1 on a GPU host) and checks the cubins;
#   2. runs ci/device_check.py: the C entry points through ctypes against torch references (float64
#      from the dtype-rounded inputs): every input dtype x output dtype (f32/f16/bf16), both weight
#      layouts, bias on/off, every activation, normalisation on/off, no projection, d_out 1/33/8192
#      and the 8193 refusal, n = 70001 > 65535 with rows bitwise equal to a batch of one, a
#      non-default stream, poisoned outputs with guard rows, repeated calls bitwise equal, CUDA fp32
#      vs clip4j's CPU head, a CUDA error left pending before the launch reported as such;
#   3. runs the small case under compute-sanitizer memcheck and racecheck;
#   4. prints a summary; exit status 0 only when everything passed.
# Without a GPU it stops at once, non-zero, saying CUDA is not available.
#
#   ci/device-check.sh             everything (needs a GPU)
#   ci/device-check.sh --cpu-only  what needs no GPU: the build, ctest, the cubin check, and the
#                                  harness's CPU side (its reference against clip4j's CPU head,
#                                  argument validation, the availability reason) plus a dry run of
#                                  its CUDA checks with a torch stand-in for the kernel (tests the
#                                  harness, not the kernel). Exit 0 = those passed; the GPU part has
#                                  NOT run. ci/test.sh runs the same dry run.
#
# A session with the lent GPU machine runs, from the repository root:
#   run(command="ci/device-check.sh 2>&1 | tail -80", timeout_s=540)
# (The machine has no JDK and no Maven: nothing here needs them. Output goes to stdout; the build
# tree is build/device-check.) Environment: CLIP4J_PYTHON (a python3 with torch; default: the first
# of python3, /usr/bin/python3 that imports torch), CLIP4J_CUDA_ARCHITECTURES (default "80;90").
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE="${1:-full}"
case "$MODE" in full|--cpu-only) ;; *) echo "usage: ci/device-check.sh [--cpu-only]" >&2; exit 2 ;; esac
start=$(date +%s)
declare -a SUMMARY=()
FAILED=0
step() { # name, status
  if [[ "$2" == 0 ]]; then SUMMARY+=("PASS $1"); else SUMMARY+=("FAIL $1 (exit $2)"); FAILED=1; fi
}
finish() {
  echo
  echo "== device-check summary ($(( $(date +%s) - start )) s, mode $MODE)"
  printf '  %s\n' "${SUMMARY[@]}"
  if [[ "$MODE" == "--cpu-only" ]]; then echo "  NOTE: the GPU checks did not run (--cpu-only)"; fi
  if (( FAILED )); then echo "device-check: FAILED"; exit 1; fi
  echo "device-check: all passed"
  exit 0
}

# ---- 0. tools and the GPU
PY="${CLIP4J_PYTHON:-}"
if [[ -z "$PY" ]]; then
  for c in python3 /usr/bin/python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import torch' 2>/dev/null; then PY="$c"; break; fi
  done
fi
if [[ -z "$PY" ]]; then echo "device-check: no python3 with torch found (set CLIP4J_PYTHON)" >&2; exit 2; fi
if [[ "$MODE" == full ]]; then
  why=$("$PY" - <<'EOF' 2>&1
import torch
if not torch.cuda.is_available():
    print("torch %s (CUDA build: %s) sees no CUDA device" % (torch.__version__, torch.version.cuda))
EOF
)
  if [[ -n "$why" ]] || ! command -v nvidia-smi >/dev/null; then
    echo "device-check: CUDA is not available: ${why:-nvidia-smi not found}" >&2
    echo "device-check: (ci/device-check.sh --cpu-only runs the parts that need no GPU)" >&2
    exit 3
  fi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi
NVCC="$(command -v nvcc || true)"
for d in /usr/local/cuda/bin /usr/local/cuda-13.0/bin /usr/local/cuda-13/bin; do
  [[ -z "$NVCC" && -x "$d/nvcc" ]] && NVCC="$d/nvcc"
done
if [[ -z "$NVCC" ]]; then echo "device-check: nvcc not found: the CUDA kernels cannot be built" >&2; exit 2; fi
CUDA_HOME="$(cd "$(dirname "$NVCC")/.." && pwd)"
export PATH="$CUDA_HOME/bin:$PATH"
# libclip4j_cuda.so needs the libcudart of the toolkit it was built with.
export LD_LIBRARY_PATH="$CUDA_HOME/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "device-check: $("$NVCC" --version | tail -1); python $("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)')"

# ---- 1. build, ctest, cubins
BUILD="$ROOT/build/device-check"
mkdir -p "$BUILD"
JOBS="$(nproc 2>/dev/null || echo 2)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCLIP4J_TESTS=ON -DCLIP4J_REQUIRE_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$NVCC" -DCLIP4J_CUDA_ARCHITECTURES="${CLIP4J_CUDA_ARCHITECTURES:-80;90}" >"$BUILD/cmake.log" 2>&1 \
  && cmake --build "$BUILD" --parallel "$JOBS" >>"$BUILD/cmake.log" 2>&1
st=$?
step "build libclip4j.so + libclip4j_cuda.so (CMake, CUDA required)" $st
if (( st )); then tail -40 "$BUILD/cmake.log"; finish; fi
LIB="$BUILD/native"
ctest --test-dir "$BUILD" --output-on-failure 2>&1 | tail -15
step "ctest (head, resample, gemm, cuda_loader, header_is_c)" "${PIPESTATUS[0]}"
"$BUILD/native/clip4j_cuda_loader_test" | head -1
ci/check-cuda-arch.sh "$LIB/libclip4j_cuda.so"
step "cubins sm_80 + sm_90, exports" $?

# ---- 2. the harness
if [[ "$MODE" == --cpu-only ]]; then
  "$PY" ci/device_check.py --lib "$LIB" --dry-run
  step "harness, CPU side (reference vs clip4j's CPU head, validation, availability reason, dry run)" $?
  finish
fi
timeout 300 "$PY" ci/device_check.py --lib "$LIB"
step "harness: CUDA head vs torch references, all cases" $?

# ---- 3. compute-sanitizer on the small case
SAN="$(command -v compute-sanitizer || true)"
[[ -z "$SAN" && -x "$CUDA_HOME/bin/compute-sanitizer" ]] && SAN="$CUDA_HOME/bin/compute-sanitizer"
if [[ -z "$SAN" ]]; then
  SUMMARY+=("FAIL compute-sanitizer not found (install it, or accept this check as not run)")
  FAILED=1
else
  for tool in memcheck racecheck; do
    limit=180; [[ "$tool" == racecheck ]] && limit=120
    timeout "$limit" "$SAN" --tool "$tool" --error-exitcode 9 --print-limit 20 \
      "$PY" ci/device_check.py --lib "$LIB" --small 2>&1 | tail -25
    step "compute-sanitizer $tool, small case" "${PIPESTATUS[0]}"
  done
fi
finish
