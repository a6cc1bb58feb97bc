#!/usr/bin/env bash
# A short, bounded Jazzer pass over every fuzz target of the user-file parsers (see
# java/src/test/java/dev/clip4j/hardening/ParserFuzzTest.java). Each target runs in its own JVM
# (Jazzer fuzzes one target per JVM) for CLIP4J_FUZZ_SECONDS (default 6), CLIP4J_FUZZ_JOBS
# (default 2) at a time, starting from its committed seeds and past crashers (libFuzzer seed
# CLIP4J_FUZZ_SEED, default 1, so CI runs are repeatable; set another to explore). A finding (any
# exception other than a Clip4jException, an OOM, one input running over 5 s, a crash) fails the
# script and leaves the input as java/target/fuzz/<target>/crash-* (or timeout-*): copy it into
# the target's Inputs directory as a regression input and fix the parser. Prints executions per
# target. Needs the Java module built with its tests compiled (ci/test.sh runs it after mvn verify).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/java"
secs="${CLIP4J_FUZZ_SECONDS:-6}"
jobs="${CLIP4J_FUZZ_JOBS:-2}"
out=target/fuzz
rm -rf "$out" && mkdir -p "$out"
mvn -B -q ${MVN_OFFLINE:-} dependency:build-classpath -Dmdep.outputFile="$out/classpath.txt" -Dmdep.includeScope=test >/dev/null
# A snapshot of the classes, so a rebuild meanwhile cannot pull them from under the fuzzers.
cp -r target/classes "$out/classes" && cp -r target/test-classes "$out/test-classes"
cp="$out/test-classes:$out/classes:$(cat "$out/classpath.txt")"
res=src/test/resources
targets=(
  "dev.clip4j.hardening.ParserFuzzTest safetensors"
  "dev.clip4j.hardening.ParserFuzzTest torchZip"
  "dev.clip4j.hardening.ParserFuzzTest torchPickle"
  "dev.clip4j.hardening.ParserFuzzTest jitArchive"
  "dev.clip4j.hardening.ParserFuzzTest jitPickle"
  "dev.clip4j.hardening.ParserFuzzTest npy"
  "dev.clip4j.hardening.ParserFuzzTest modelConfig"
  "dev.clip4j.hardening.ParserFuzzTest bpeVocab"
  "dev.clip4j.hardening.ParserFuzzTest vocabAndMerges"
  "dev.clip4j.hardening.ImageFuzzTest image"
  "dev.clip4j.cli.TextInputsFuzzTest jsonl"
)

fuzz_one() {
  local cls=$1 method=$2
  local seeds="$res/${cls//.//}Inputs/$method" work="$out/$method" rc=0
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
  read -r cls method <<<"$t"
  fuzz_one "$cls" "$method" &
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
  read -r cls method <<<"$t"
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
