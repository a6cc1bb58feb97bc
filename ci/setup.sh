#!/usr/bin/env bash
# Checks (and on Debian installs) the build tools clip4j needs: JDK 17+, Maven, CMake >= 3.25, g++.
# nvcc is optional: without it the CUDA kernels are skipped (the build says so).
set -euo pipefail
missing=()
command -v java >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v objcopy >/dev/null || missing+=(binutils)
if (( ${#missing[@]} )); then
  if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    echo "ci/setup.sh: installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "ci/setup.sh: missing tools: ${missing[*]} (install them and retry)" >&2
    exit 1
  fi
fi
if command -v nvcc >/dev/null; then
  echo "ci/setup.sh: nvcc found ($(nvcc --version | tail -1)): CUDA kernels will be built" >&2
else
  echo "ci/setup.sh: nvcc not found: CUDA kernels will be SKIPPED" >&2
fi
