#!/usr/bin/env bash
# A fresh Maven project that uses clip4j exactly as README "Use from Maven" says: the snippet between
# the maven-snippet markers in README.md, -Djavacpp.platform=linux-x86_64, nothing else. Installs this
# build's artifacts into the local repository, builds the consumer (ci/maven-consumer/src) against
# them, checks its dependency tree holds no picocli, no SLF4J binding and no Micrometer (optional),
# and runs it: it writes a small model and embeds an image and a text. Called by ci/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mvn -B -q ${MVN_OFFLINE:-} -pl java -am -DskipTests install
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
SNIPPET="$(sed -n '/<!-- maven-snippet:start -->/,/<!-- maven-snippet:end -->/p' README.md | sed '/^<!--/d;/^```/d')"
[[ -n "$SNIPPET" ]] || { echo "maven-consumer: no snippet between the markers in README.md" >&2; exit 1; }
mkdir -p "$WORK/app/.mvn"
cp -r ci/maven-consumer/src "$WORK/app/src"
echo "-Djavacpp.platform=linux-x86_64" > "$WORK/app/.mvn/maven.config"
cat > "$WORK/app/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>example</groupId>
  <artifactId>consumer</artifactId>
  <version>1</version>
  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies>
$SNIPPET
  </dependencies>
  <build>
    <plugins>
      <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-compiler-plugin</artifactId><version>3.14.1</version></plugin>
      <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-resources-plugin</artifactId><version>3.3.1</version></plugin>
      <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-surefire-plugin</artifactId><version>3.5.4</version></plugin>
      <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-jar-plugin</artifactId><version>3.4.2</version></plugin>
      <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version></plugin>
    </plugins>
  </build>
</project>
POM
cd "$WORK/app"
mvn -B -q ${MVN_OFFLINE:-} package dependency:build-classpath -Dmdep.outputFile=cp.txt -Dmdep.includeScope=runtime
for banned in picocli slf4j-jdk14 slf4j-simple logback micrometer; do
  if tr ':' '\n' < cp.txt | grep -q "/$banned"; then
    echo "maven-consumer: the library pulls $banned onto a user's class path:" >&2
    tr ':' '\n' < cp.txt | grep "/$banned" >&2
    exit 1
  fi
done
if unzip -l "$(tr ':' '\n' < cp.txt | grep '/dev/clip4j/clip4j/')" | grep -q 'dev/clip4j/cli/'; then
  echo "maven-consumer: the library jar holds CLI classes" >&2
  exit 1
fi
java -Dorg.bytedeco.javacpp.cachedir="${CLIP4J_CONSUMER_CACHE:-$HOME/.javacpp/cache}" -cp "target/consumer-1.jar:$(cat cp.txt)" \
  example.Consumer "$WORK" | tee "$WORK/out.txt"
grep -q "CONSUMER OK" "$WORK/out.txt"
echo "maven-consumer: README's snippet builds and runs in a fresh project ($(tr ':' '\n' < cp.txt | wc -l) jars, no CLI, no binding)"
