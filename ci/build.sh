#!/usr/bin/env bash
# Builds everything (native library via CMake, JavaCPP bindings, Java modules) without tests.
# Extra arguments go to Maven: ci/build.sh -Pgpu builds the GPU flavour (LibTorch's CUDA build; the
# CUDA kernels must then build, so nvcc is required).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ci/setup.sh
mvn -B -q -DskipTests package "$@"
