package dev.clip4j.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * "Host code never reads device memory": a tensor's data pointer is taken in HostTensors, which
 * dereferences CPU tensors only, and nowhere else, except the files below, each CPU-only for the
 * reason given. A new {@code data_ptr} anywhere else fails this test.
 */
class HostReadsTest {
  private static final Map<String, String> CPU_ONLY = Map.of(
      "internal/HostTensors.java", "the one place",
      "model/PackedTowers.java", "PACKED towers are built only on the CPU (ClipTowers.packedRuns) and take inputs"
          + " checked to be on the towers' device",
      "model/PackedLinear.java", "part of the PACKED towers",
      "model/io/SafetensorsWriter.java", "refuses any tensor that is not a CPU float32 one before reading it");

  @Test
  void dataPointersAreTakenOnlyWhereTheTensorIsKnownToBeOnTheCpu() throws IOException {
    Path root = Path.of(System.getProperty("clip4j.sourceRoot", "src/main/java/dev/clip4j"));
    if (!Files.isDirectory(root)) {
      root = Path.of("java/src/main/java/dev/clip4j");
    }
    assertThat(root).isDirectory();
    List<String> offenders = new ArrayList<>();
    try (Stream<Path> files = Files.walk(root)) {
      for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java"))::iterator) {
        String rel = root.relativize(f).toString().replace('\\', '/');
        if (CPU_ONLY.containsKey(rel)) {
          continue;
        }
        List<String> lines = Files.readAllLines(f);
        for (int i = 0; i < lines.size(); i++) {
          if (lines.get(i).contains("data_ptr")) {
            offenders.add(rel + ":" + (i + 1) + ": " + lines.get(i).trim());
          }
        }
      }
    }
    assertThat(offenders).as("data_ptr outside HostTensors (use HostTensors.pointer/floats/readFloats/devicePointer)")
        .isEmpty();
    for (String f : CPU_ONLY.keySet()) {
      assertThat(root.resolve(f)).as("allow-listed file still exists: " + f).exists();
    }
  }
}
