#!/usr/bin/env bash
# A full-size transformers SiglipModel (google/siglip-base-patch16-224's geometry, hub-style config.json,
# seeded random weights generated here, ~800 MB) against transformers 4.57.6 on Debian's torch 1.13
# (tools/reference/hf_siglip_reference.py unpacks the wheels it needs). Usage:
#   tools/reference/hf_siglip_full_check.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/hf-siglip-full}
DIR="$OUT/siglip-base-patch16-224"
if [ ! -f "$DIR/text.npy" ]; then
  /usr/bin/python3 tools/reference/hf_siglip_reference.py full "$OUT"
fi
# Token ids come from ids.npy; the directory still needs a tokenizer: the tiny fixture's tokenizer.json
# (vocab 64 < 32000; rows are padded to the config's max_position_embeddings, 64).
for f in tokenizer.json tokenizer_config.json; do
  cp java/src/test/resources/dev/clip4j/model/siglip/tiny-siglip/$f "$DIR/"
done
CLIP4J_HF_SIGLIP_FULL_DIR="$DIR" mvn -B -o -q -pl java -am test -Dtest=HfSiglipFullSizeCheck \
  -Dsurefire.failIfNoSpecifiedTests=false
grep -h "max |clip4j\|loaded in" java/target/surefire-reports/*HfSiglipFullSizeCheck*-output.txt 2>/dev/null || true
