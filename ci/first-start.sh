#!/usr/bin/env bash
# First starts through the launcher, as on a fresh machine: an empty JavaCPP cache directory, and a
# directory of decoy LibTorch/OpenBLAS/OpenMP libraries on LD_LIBRARY_PATH standing for another
# LibTorch on the search path (Debian's python3-torch, a conda environment). Each decoy exits with 86
# if it is ever loaded. Runs `./clip4j engine` and, when the conformance fixtures are present, an
# `embed-images` on a fixture model, each on its own empty cache. (FirstStartTest does the same for
# library JVMs and two JVMs sharing one empty cache.) Called by ci/test.sh after the build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/decoys"
cat > "$WORK/decoy.c" <<'C'
#include <unistd.h>
__attribute__((constructor)) static void decoy(void) {
  static const char m[] = "CLIP4J-DECOY-LOADED\n";
  (void) !write(2, m, sizeof m - 1);
  _exit(86);
}
C
for lib in libtorch_cpu.so libtorch.so libc10.so libgomp.so.1 libopenblas.so.0 libgfortran.so.5 libquadmath.so.0; do
  g++ -x c -shared -fPIC -Wl,-soname,$lib -o "$WORK/decoys/$lib" "$WORK/decoy.c"
done

run() { # name, then the launcher's arguments
  local name=$1; shift
  local start=$(date +%s)
  if ! LD_LIBRARY_PATH="$WORK/decoys" CLIP4J_JAVA_OPTS="-Dorg.bytedeco.javacpp.cachedir=$WORK/cache-$name" \
      ./clip4j "$@" > "$WORK/$name.log" 2>&1; then
    echo "first-start: '$name' FAILED on an empty cache:" >&2
    cat "$WORK/$name.log" >&2
    exit 1
  fi
  if grep -q CLIP4J-DECOY-LOADED "$WORK/$name.log"; then
    echo "first-start: '$name' loaded a library from LD_LIBRARY_PATH instead of the cache" >&2
    exit 1
  fi
  echo "first-start: '$name' ok on an empty cache in $(( $(date +%s) - start )) s ($(du -sm "$WORK/cache-$name" | cut -f1) MB extracted)"
}

run engine engine
CONF="${CLIP4J_CONFORMANCE_DIR:-$ROOT/../shared/conformance}"
if [[ -f "$CONF/manifest.json" ]]; then
  run embed embed-images --model "$CONF/models/tiny-gelu" --out "$WORK/emb.npy" "$CONF/images/chelsea.png"
  test -s "$WORK/emb.npy"
fi
