package dev.clip4j.model.hf;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.model.io.TensorData;
import dev.clip4j.testing.Conformance;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Test inputs: the conformance fixtures' models (read in place) and the files of
 * tools/reference/hf_clip_reference.py under src/test/resources/dev/clip4j/model/hf.
 */
final class HfFixtures {
  static final ObjectMapper JSON = new ObjectMapper();

  private HfFixtures() {}

  /** The conformance model directory {@code models/NAME} (skips the test when absent). */
  static Path model(String name) {
    return Conformance.dir().resolve("models").resolve(name);
  }

  /** A file or directory of the generator's output. */
  static Path resource(String relative) {
    URL u = HfFixtures.class.getResource("/dev/clip4j/model/hf/" + relative);
    if (u == null) {
      throw new IllegalStateException("test resource missing: " + relative);
    }
    try {
      return Path.of(u.toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  static JsonNode json(Path file) {
    try {
      return JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** The bytes of a tensor's data. */
  static byte[] bytes(TensorData t) {
    ByteBuffer b = t.data();
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }

  /**
   * Asserts two state dicts hold the same names, and per name the same dtype, shape and bytes;
   * returns the number of bytes compared.
   */
  static long assertBitIdentical(Map<String, TensorData> actual, Map<String, TensorData> expected) {
    assertThat(actual.keySet()).containsExactlyInAnyOrderElementsOf(expected.keySet());
    long compared = 0;
    for (Map.Entry<String, TensorData> e : expected.entrySet()) {
      TensorData a = actual.get(e.getKey());
      TensorData x = e.getValue();
      assertThat(a.dtype()).as(e.getKey()).isEqualTo(x.dtype());
      assertThat(a.shape()).as(e.getKey()).isEqualTo(x.shape());
      assertThat(Arrays.equals(bytes(a), bytes(x))).as(e.getKey() + ": bytes").isTrue();
      compared += x.byteSize();
    }
    return compared;
  }

  private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");

  /** A little-endian float32 .npy file's values (test-only reader). */
  static float[] npyFloats(Path file) {
    try {
      byte[] all = Files.readAllBytes(file);
      ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
      int headerLen = b.getShort(8) & 0xffff;
      String header = new String(all, 10, headerLen, StandardCharsets.ISO_8859_1);
      assertThat(header).contains("'descr': '<f4'").contains("'fortran_order': False");
      Matcher m = SHAPE.matcher(header);
      assertThat(m.find()).isTrue();
      long n = 1;
      for (String d : m.group(1).split(",")) {
        if (!d.isBlank()) {
          n *= Long.parseLong(d.trim());
        }
      }
      float[] out = new float[(int) n];
      b.position(10 + headerLen);
      b.asFloatBuffer().get(out);
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
