#!/usr/bin/env bash
# Asserts the CUDA companion library holds kernels for every required architecture (sm_80, sm_90)
# and exports its entry points. cuobjdump is not always installed, so the fatbin section is read
# with objcopy: each embedded cubin records its compile options, including "-arch sm_XX".
set -euo pipefail
lib="${1:?usage: check-cuda-arch.sh path/to/libclip4j_cuda.so}"
for sym in clip4j_cuda_impl_abi clip4j_cuda_impl_device_count clip4j_cuda_impl_head_forward; do
  grep -q " $sym$" <<<"$(nm -D --defined-only "$lib")" || { echo "missing export $sym in $lib" >&2; exit 1; }
done
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
objcopy -O binary --only-section=.nv_fatbin "$lib" "$tmp"
options=$(strings -a "$tmp")
for arch in sm_80 sm_90; do
  if ! grep -q -- "-arch $arch " <<<"$options"; then
    echo "check-cuda-arch: $lib has no $arch code" >&2
    exit 1
  fi
done
echo "check-cuda-arch: $lib has sm_80 and sm_90 kernels ($(stat -c %s "$tmp") bytes of fatbin)"
