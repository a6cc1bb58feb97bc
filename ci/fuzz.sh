#!/usr/bin/env bash
# A short, bounded Jazzer pass over every fuzz target of the user-file parsers (see
# java/src/test/java/dev/clip4j/hardening/ParserFuzzTest.java) and of the text cleaning
# (dev.clip4j.tokenize.TextCleaningFuzzTest). Each target runs in its own JVM
# (Jazzer fuzzes one target per JVM) for CLIP4J_FUZZ_SECONDS (default 6), CLIP4J_FUZZ_JOBS
# (default 2) at a time, starting from its committed seeds and past crashers (libFuzzer seed
# CLIP4J_FUZZ_SEED, default 1, so CI runs are repeatable; set another to explore). A finding (any
# exception other than a Clip4jException, an OOM, one input running over 5 s, a crash) fails the
# script and leaves the input as java/target/fuzz/<target>/crash-* (or timeout-*): copy it into
# the target's Inputs directory (under its module's src/test/resources) as a regression input and fix the parser. Prints executions per
# target. Needs the java and cli modules built with their tests compiled (ci/test.sh runs it after mvn verify).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
secs="${CLIP4J_FUZZ_SECONDS:-6}"
jobs="${CLIP4J_FUZZ_JOBS:-2}"
out="$ROOT/java/target/fuzz"
rm -rf "$out" && mkdir -p "$out"
# One class path per Maven module holding fuzz targets (the library, the CLI), resolved in one reactor
# run (so the CLI's names the library's classes), then each module's classes are snapshotted, so a
# rebuild meanwhile cannot pull them from under the fuzzers.
# -am: the CLI's dependencies (the library, the server module) come from this reactor, never from a
# stale or missing copy in ~/.m2. Maven's output is kept and shown if the build fails.
mkdir -p "$ROOT/java/target"
if ! mvn -B -q ${MVN_OFFLINE:-} -pl java,cli -am test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/fuzz-classpath.txt -Dmdep.includeScope=test >"$ROOT/java/target/fuzz-build.log" 2>&1; then
  echo "fuzz: building the fuzz targets failed:" >&2
  tail -40 "$ROOT/java/target/fuzz-build.log" >&2
  exit 1
fi
for module in java cli; do
  mkdir -p "$out/$module"
  cp "$module/target/fuzz-classpath.txt" "$out/$module-classpath.txt"
  cp -r "$module/target/classes" "$out/$module/classes" && cp -r "$module/target/test-classes" "$out/$module/test-classes"
done
targets=(
  "java dev.clip4j.hardening.ParserFuzzTest safetensors"
  "java dev.clip4j.hardening.ParserFuzzTest torchZip"
  "java dev.clip4j.hardening.ParserFuzzTest torchPickle"
  "java dev.clip4j.hardening.ParserFuzzTest jitArchive"
  "java dev.clip4j.hardening.ParserFuzzTest jitPickle"
  "java dev.clip4j.hardening.ParserFuzzTest npy"
  "java dev.clip4j.hardening.ParserFuzzTest modelConfig"
  "java dev.clip4j.hardening.ParserFuzzTest hfConfig"
  "java dev.clip4j.hardening.ParserFuzzTest hfPreprocessorConfig"
  "java dev.clip4j.hardening.ParserFuzzTest shardIndex"
  "java dev.clip4j.hardening.ParserFuzzTest bpeVocab"
  "java dev.clip4j.hardening.ParserFuzzTest vocabAndMerges"
  "java dev.clip4j.hardening.ParserFuzzTest spieceModel"
  "java dev.clip4j.hardening.ParserFuzzTest spieceCharsmap"
  "java dev.clip4j.hardening.ImageFuzzTest image"
  "cli dev.clip4j.cli.TextInputsFuzzTest jsonl"
  "java dev.clip4j.tokenize.TextCleaningFuzzTest fixText"
)

fuzz_one() {
  local module=$1 cls=$2 method=$3
  local seeds="$ROOT/$module/src/test/resources/${cls//.//}Inputs/$method" work="$out/$method" rc=0
  local cp="$out/$module/test-classes:$out/$module/classes:$(cat "$out/$module-classpath.txt")"
  mkdir -p "$work/corpus"
  # -rss_limit_mb=0: the JVM heap (-Xmx) bounds Java allocations (an OOM is a finding); libFuzzer's
  # RSS check would count the JIT and mapped jars. -timeout=5: one input over 5 s is a hang.
  # Hooks only in clip4j's classes: retransforming the JDK's would triple the start-up time.
  JAZZER_FUZZ=1 java -Xmx768m -XX:TieredStopAtLevel=1 -cp "$cp" com.code_intelligence.jazzer.Jazzer \
    --target_class="$cls" --target_method="$method" \
    --instrumentation_includes='dev.clip4j.**' --custom_hook_includes='dev.clip4j.**' \
    -max_total_time="$secs" -seed="${CLIP4J_FUZZ_SEED:-1}" -timeout=5 -rss_limit_mb=0 -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus" "$seeds" >"$work/log" 2>&1 || rc=$?
  echo "${rc:-0}" >"$work/rc"
}

start=$(date +%s)
running=0
for t in "${targets[@]}"; do
  read -r module cls method <<<"$t"
  fuzz_one "$module" "$cls" "$method" &
  running=$((running + 1))
  if (( running >= jobs )); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

failed=0
total=0
for t in "${targets[@]}"; do
  read -r module cls method <<<"$t"
  work="$out/$method"
  rc=$(cat "$work/rc" 2>/dev/null || echo 99)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  total=$(( total + ${runs:-0} ))
  if [[ "$rc" != 0 ]]; then
    failed=1
    echo "ci/fuzz.sh: FINDING in $cls#$method (exit $rc, ${runs:-?} executions); input: $(ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | head -1)" >&2
    grep -m1 -A15 "== Java Exception\|ERROR: libFuzzer\|Exception in thread" "$work/log" >&2 || tail -20 "$work/log" >&2
  else
    echo "ci/fuzz.sh: $cls#$method: ${runs:-0} executions in $secs s, no findings"
  fi
done
echo "ci/fuzz.sh: ${#targets[@]} targets, $total executions, $(( $(date +%s) - start )) s wall"
exit "$failed"
