package dev.clip4j.hardening;

import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.Clip4jException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every hostile TorchScript archive of {@link JitVariants}, read in this JVM the way {@link
 * CorruptionHarness} reads it: the expected outcome and a message naming the file; the time of
 * each is printed. (The corruption matrix runs the same files in child JVMs under strace with a
 * 256 MiB heap and a time limit.)
 */
class JitHostileTest {
  @Test
  void everyHostileArchiveEndsAsExpected(@TempDir Path tmp) throws IOException {
    List<String> problems = new ArrayList<>();
    for (Map.Entry<String, JitVariants.Case> e : JitVariants.hostile().entrySet()) {
      Path f = tmp.resolve(e.getKey() + ".pt");
      Files.write(f, e.getValue().bytes());
      String outcome = "ok";
      String message = "";
      long t0 = System.nanoTime();
      try {
        CorruptionHarness.load("jit", f);
      } catch (Clip4jException ex) {
        outcome = ex.getClass().getSimpleName();
        message = ex.getMessage();
      }
      long ms = (System.nanoTime() - t0) / 1_000_000;
      System.out.println("jit hostile " + e.getKey() + ": " + outcome + " (" + ms + " ms) " + message);
      if (!outcome.equals(e.getValue().expect())) {
        problems.add(e.getKey() + ": expected " + e.getValue().expect() + ", got " + outcome + " " + message);
      } else if (!outcome.equals("ok") && !message.contains(f.toString())) {
        problems.add(e.getKey() + ": the message does not name the file: " + message);
      }
    }
    assertThat(problems).isEmpty();
    assertThat(Path.of(System.getProperty("java.io.tmpdir"), "clip4j-evil")).doesNotExist();
  }
}
