package dev.clip4j.cli;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.clip4j.Clip4jException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Jazzer fuzz target for {@code --texts-jsonl} files ({@link TextInputs}): every input yields its
 * texts or a {@link Clip4jException}. Seeds/crashers: {@code
 * src/test/resources/dev/clip4j/cli/TextInputsFuzzTestInputs/jsonl/}; see ParserFuzzTest.
 */
class TextInputsFuzzTest {
  private static final Path FILE;

  static {
    try {
      FILE = Files.createTempFile("clip4j-fuzz", ".jsonl");
      FILE.toFile().deleteOnExit();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @FuzzTest(maxDuration = "10s")
  void jsonl(byte[] data) throws IOException {
    Files.write(FILE, data);
    TextInputs in = new TextInputs();
    in.jsonl = FILE;
    try {
      in.read();
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }
}
