#!/usr/bin/env bash
# Builds everything and runs all tests: the C/C++ unit tests (ctest) and the JVM tests (mvn verify).
# This is what CI runs (.ci/run). GPU tests are excluded here; on a CUDA host run
#   mvn -B -Pgpu verify -Dgroups=gpu
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$(date +%s)
ci/setup.sh

echo "== native: cmake + ctest"
cmake -S . -B build/ctest -DCMAKE_BUILD_TYPE=Release -DCLIP4J_TESTS=ON
cmake --build build/ctest --parallel 2
ctest --test-dir build/ctest --output-on-failure
if [[ -f build/ctest/native/libclip4j_cuda.so ]]; then
  ci/check-cuda-arch.sh build/ctest/native/libclip4j_cuda.so
fi
# The device check's harness (ci/device_check.py) on the CPU: its reference against clip4j's CPU
# head, argument validation, and a dry run of its CUDA checks. The GPU part runs only with a GPU
# (ci/device-check.sh). Needs a python3 with torch (Debian's python3-torch is enough).
harness_py=""
for py in "${CLIP4J_PYTHON:-}" python3 /usr/bin/python3; do
  if [[ -n "$py" ]] && command -v "$py" >/dev/null && "$py" -c 'import torch' 2>/dev/null; then
    harness_py="$py"
    break
  fi
done
if [[ -n "$harness_py" ]]; then
  "$harness_py" ci/device_check.py --lib build/ctest/native --dry-run
else
  echo "NOT RUN: the device-check harness's CPU side (no python3 with torch; set CLIP4J_PYTHON)"
fi

echo "== JVM: mvn verify"
mvn -B verify

echo "== launcher: a CUDA device asked of the CPU build is refused, with the way to the GPU build"
set +e
out=$(CLIP4J_GPU=0 ./clip4j inspect --model /nonexistent --device cuda:0 2>&1)
code=$?
set -e
if [[ $code -ne 2 ]] || ! grep -q "CLIP4J_GPU=1" <<<"$out"; then
  echo "launcher: expected exit 2 and the CLIP4J_GPU=1 hint, got $code: $out" >&2
  exit 1
fi

echo "== Spark launcher: ./clip4j-spark runs EmbedJob from the Maven class path (usage error = exit 2)"
set +e
out=$(./clip4j-spark embed-images 2>&1)
code=$?
set -e
if [[ $code -ne 2 ]] || ! grep -q "at least one --input" <<<"$out"; then
  echo "clip4j-spark: expected exit 2 and the usage message, got $code: $out" >&2
  exit 1
fi

echo "== first start: the launcher on an empty native cache"
ci/first-start.sh

echo "== Maven consumer: README's snippet in a fresh project"
ci/maven-consumer.sh

echo "== fuzz: a bounded Jazzer pass over the user-file parsers"
ci/fuzz.sh

echo "ci/test.sh: all tests passed in $(( $(date +%s) - start )) s"
