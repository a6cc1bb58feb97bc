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

echo "== JVM: mvn verify"
mvn -B verify

echo "== first start: the launcher on an empty native cache"
ci/first-start.sh

echo "== fuzz: a bounded Jazzer pass over the user-file parsers"
ci/fuzz.sh

echo "ci/test.sh: all tests passed in $(( $(date +%s) - start )) s"
