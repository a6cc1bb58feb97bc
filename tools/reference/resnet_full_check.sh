#!/usr/bin/env bash
# Full-size RN50 against open_clip 2.20 (seeded random weights generated here, ~1 GB in DIR, never
# committed): the hub dir, the bare checkpoint named RN50 and an OpenAI-style fp16 archive traced from
# OpenAI's clip/model.py. Needs the reference stack (/work/shared/notes/reference-stack.md).
# Usage: tools/reference/resnet_full_check.sh [DIR]   (env: OPEN_CLIP_SRC, FTFY_SRC, STUBS, OPENAI_MODEL_PY)
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-/tmp/rn-full}
if [[ ! -f "$DIR/RN50/expected_image_embeddings_openai.npy" ]]; then
  PYTHONPATH=${OPEN_CLIP_SRC:-/tmp/oc/src}:${FTFY_SRC:-/tmp/ftfy}:${STUBS:-/tmp/stubs} /usr/bin/python3 \
    tools/reference/resnet_clip.py --conformance ../shared/conformance --full "$DIR" \
    --openai-model "${OPENAI_MODEL_PY:-/tmp/oaiclip/clip/model.py}"
fi
mvn -B -o -q -pl java -am test -Dtest=ResNetFullSizeCheck -Dsurefire.failIfNoSpecifiedTests=false \
  -Dclip4j.resnetFullDir="$DIR"
