#!/usr/bin/env bash
# Builds everything (native library via CMake, JavaCPP bindings, Java modules) without tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ci/setup.sh
mvn -B -q -DskipTests package
