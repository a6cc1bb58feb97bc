#!/usr/bin/env bash
# ClipTokenizer.encode throughput (texts per CPU-second of one thread, a caption mix: see
# TokenizerBench) of this checkout against the tokenizer of another git revision, measured in one
# run: the two alternate, ROUNDS times each, in fresh JVMs. Prints each measurement, the medians
# and their ratio.
#   benchmarks/tokenizer.sh [REV (default main)] [SECONDS per measurement (default 5)] [ROUNDS (default 3)]
# Needs the conformance vocabulary (../shared/conformance or CLIP4J_CONFORMANCE_DIR).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REV="${1:-main}"
SECONDS_EACH="${2:-5}"
ROUNDS="${3:-3}"
CONF="${CLIP4J_CONFORMANCE_DIR:-$ROOT/../shared/conformance}"
VOCAB="$CONF/models/tiny-gelu/bpe_simple_vocab_16e6.txt.gz"
[[ -f "$VOCAB" ]] || { echo "tokenizer.sh: no vocabulary at $VOCAB" >&2; exit 2; }
mvn -B -q -DskipTests package
DEPS="$(cat benchmarks/target/classpath.txt)"
NEW="benchmarks/target/classes:java/target/classes:$DEPS"
# The other revision's tokenize package, compiled against this checkout's other classes; first on
# the class path, its classes shadow this checkout's.
WORK="$ROOT/benchmarks/work/tokenizer-$(git rev-parse --short "$REV")"
rm -rf "$WORK" && mkdir -p "$WORK/src" "$WORK/classes/dev/clip4j/tokenize"
git archive "$REV" java/src/main/java/dev/clip4j/tokenize java/src/main/resources/dev/clip4j/tokenize | tar -x -C "$WORK/src"
javac -nowarn -d "$WORK/classes" -cp "java/target/classes:$DEPS" "$WORK"/src/java/src/main/java/dev/clip4j/tokenize/*.java
cp "$WORK"/src/java/src/main/resources/dev/clip4j/tokenize/* "$WORK/classes/dev/clip4j/tokenize/"
OLD="$WORK/classes:$NEW"
results="$WORK/results.txt"
: >"$results"
for ((r = 1; r <= ROUNDS; r++)); do
  java -cp "$OLD" dev.clip4j.bench.TokenizerBench "$VOCAB" "before($REV)" "$SECONDS_EACH" | tee -a "$results"
  java -cp "$NEW" dev.clip4j.bench.TokenizerBench "$VOCAB" "after" "$SECONDS_EACH" | tee -a "$results"
done
python3 - "$results" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
before = statistics.median(float(r[1]) for r in rows if r[0].startswith("before"))
after = statistics.median(float(r[1]) for r in rows if r[0] == "after")
print(f"median texts per CPU-second: before {before:.0f}, after {after:.0f}, after/before {after / before:.2f}")
EOF
