package dev.clip4j.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidInputException;
import dev.clip4j.testing.Conformance;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NpyTest {

  @Test
  void readsEveryConformanceArray() throws Exception {
    Path dir = Conformance.dir();
    Npy.Array emb = Npy.read(dir.resolve("models/tiny-gelu/expected_image_embeddings.npy"));
    assertThat(emb.dtype()).isEqualTo(Npy.DType.FLOAT32);
    assertThat(emb.shape()).containsExactly(12, 64);
    float[] v = emb.floats();
    for (int r = 0; r < 12; r++) {
      double ss = 0;
      for (int j = 0; j < 64; j++) {
        ss += v[r * 64 + j] * (double) v[r * 64 + j];
      }
      assertThat(Math.sqrt(ss)).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
    }
    assertThat(Npy.read(dir.resolve("preprocess/chelsea.png.npy")).shape()).containsExactly(3, 224, 224);
    try (Stream<Path> all = Files.walk(dir)) {
      assertThat(all.filter(p -> p.toString().endsWith(".npy")).map(Npy::read).count()).isGreaterThan(20);
    }
  }

  @Test
  void writeReadRoundTripMatchesNumpysLayout(@TempDir Path tmp) {
    float[] f = {1.5f, -2f, 3.25f, 0f, 1e-30f, Float.MAX_VALUE};
    Path p = tmp.resolve("f.npy");
    Npy.writeFloat32(p, f, 2, 3);
    Npy.Array a = Npy.read(p);
    assertThat(a.shape()).containsExactly(2, 3);
    assertThat(a.floats()).containsExactly(f);
    long[] l = {49406, 320, 49407, 0};
    Npy.writeInt64(tmp.resolve("l.npy"), l, 4);
    Npy.Array b = Npy.read(tmp.resolve("l.npy"));
    assertThat(b.shape()).containsExactly(4);
    assertThat(b.longs()).containsExactly(l);
    // NumPy's own header layout: total header a multiple of 64, "(4,)" for 1-D.
    byte[] h = Npy.header(Npy.DType.INT64, new long[] {4});
    assertThat(h.length % 64).isZero();
    assertThat(new String(h, StandardCharsets.ISO_8859_1)).contains("'shape': (4,), }");
    Npy.writeFloat32(tmp.resolve("e.npy"), new float[0], 0, 64);
    assertThat(Npy.read(tmp.resolve("e.npy")).shape()).containsExactly(0, 64);
  }

  @Test
  void hostileFilesAreTypedErrors(@TempDir Path tmp) throws Exception {
    Path good = tmp.resolve("g.npy");
    Npy.writeFloat32(good, new float[] {1, 2, 3, 4}, 2, 2);
    byte[] g = Files.readAllBytes(good);
    Random rng = new Random(3);
    byte[] random = new byte[256];
    rng.nextBytes(random);
    String[] headers = {
      "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }",
      "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'extra': 1, }",
      "{'descr': '<f4', 'descr': '<f4', 'shape': (2, 2), }",
      "{'descr': 'O', 'fortran_order': False, 'shape': (2, 2), }",
      "__import__('os').system('x')",
    };
    int i = 0;
    for (String h : headers) {
      Path f = tmp.resolve("h" + i++ + ".npy");
      byte[] text = (h + "\n").getBytes(StandardCharsets.ISO_8859_1);
      byte[] file = new byte[10 + text.length + 16];
      System.arraycopy(g, 0, file, 0, 8);
      file[8] = (byte) text.length;
      file[9] = (byte) (text.length >> 8);
      System.arraycopy(text, 0, file, 10, text.length);
      Files.write(f, file);
      assertThatThrownBy(() -> Npy.read(f)).as(h).isInstanceOf(InvalidInputException.class).hasMessageContaining(f.toString());
    }
    byte[][] damaged = {new byte[0], random, Arrays.copyOf(g, 9), Arrays.copyOf(g, g.length - 1), Arrays.copyOf(g, g.length + 4)};
    byte[] hugeHeader = g.clone();
    hugeHeader[8] = (byte) 0xff;
    hugeHeader[9] = (byte) 0xff;
    for (byte[] d : new byte[][] {damaged[0], damaged[1], damaged[2], damaged[3], damaged[4], hugeHeader}) {
      Path f = tmp.resolve("d" + i++ + ".npy");
      Files.write(f, d);
      assertThatThrownBy(() -> Npy.read(f)).isInstanceOf(InvalidInputException.class).hasMessageContaining(f.toString());
    }
  }
}
