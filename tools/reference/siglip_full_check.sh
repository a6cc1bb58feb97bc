#!/usr/bin/env bash
# A full-size SigLIP against open_clip (seeded random weights, generated here: ~670 MB for
# ViT-B-16-SigLIP, ~1.5 GB for ViT-B-16-SigLIP2). MODEL=ViT-B-16-SigLIP2 picks another open_clip config.
# Needs the reference stack of shared/notes/reference-stack.md (open_clip v2.32.0 src, timm v0.9.16,
# ftfy, a huggingface_hub stub) on REF_PYTHONPATH. Usage: tools/reference/siglip_full_check.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/siglip-full}
MODEL=${MODEL:-ViT-B-16-SigLIP}
REF_PYTHONPATH=${REF_PYTHONPATH:-/tmp/sg/src:/tmp/sg/timm:/tmp/sg/stubs}
if [ ! -f "$OUT/$MODEL/text.npy" ]; then
  PYTHONPATH=$REF_PYTHONPATH /usr/bin/python3 tools/reference/siglip_reference.py full "$OUT" "$MODEL"
fi
# Token ids come from ids.npy; a tokenizer is still part of a SigLIP directory: the tiny fixture's
# (vocab 64 < 32000, its context length rewritten to 64 by the config, not by the file).
for f in tokenizer.json tokenizer_config.json; do
  cp java/src/test/resources/dev/clip4j/model/siglip/tiny-siglip/$f "$OUT/$MODEL/"
done
CLIP4J_SIGLIP_FULL_DIR="$OUT/$MODEL" mvn -B -o -q -pl java -am test -Dtest=SiglipFullSizeCheck \
  -Dsurefire.failIfNoSpecifiedTests=false
grep -h "max |clip4j" java/target/surefire-reports/*SiglipFullSizeCheck*-output.txt 2>/dev/null || true
