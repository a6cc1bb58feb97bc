#!/usr/bin/env bash
# Runs JMH benchmarks of clip4j: benchmarks/jmh.sh [JMH args, e.g. a benchmark name regex]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mvn -B -q -DskipTests package
CP="benchmarks/target/clip4j-benchmarks-0.1.0-SNAPSHOT.jar:$(cat benchmarks/target/classpath.txt)"
exec java -cp "$CP" org.openjdk.jmh.Main "$@"
