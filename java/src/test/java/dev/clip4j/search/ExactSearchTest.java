package dev.clip4j.search;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidInputException;
import dev.clip4j.io.EmbeddingIndex;
import dev.clip4j.testing.IndexDirs;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Exact search against a brute-force double-precision ranking written here. */
class ExactSearchTest {
  private static final Map<String, String> FILES = Map.of("m", "0");

  /** Writes shards of the given sizes from {@code all} ([total][d] flat). */
  private static void write(Path dir, float[] all, int d, int... sizes) throws Exception {
    List<float[][]> shards = new ArrayList<>();
    int at = 0;
    for (int s : sizes) {
      shards.add(IndexDirs.rows(all, d, at, s));
      at += s;
    }
    IndexDirs.write(dir, "images", d, shards, FILES, r -> "r" + r);
  }

  private record Ref(long row, double score) {}

  /** Every row's dot product with q in double precision, ranked by score desc, then row asc. */
  private static List<Ref> bruteForce(float[] all, int d, float[] q) {
    List<Ref> out = new ArrayList<>();
    for (int r = 0; r < all.length / d; r++) {
      double s = 0;
      for (int j = 0; j < d; j++) {
        s += (double) all[r * d + j] * q[j];
      }
      out.add(new Ref(r, Double.isNaN(s) ? Double.NEGATIVE_INFINITY : s));
    }
    out.sort(Comparator.comparingDouble((Ref x) -> -x.score()).thenComparingLong(Ref::row));
    return out;
  }

  private static void assertMatches(List<ExactSearch.Hit> got, List<Ref> want, int k, double tol) {
    assertThat(got).hasSize(Math.min(k, want.size()));
    for (int i = 0; i < got.size(); i++) {
      assertThat(got.get(i).row()).as("rank %d", i + 1).isEqualTo(want.get(i).row());
      if (Double.isInfinite(want.get(i).score())) {
        assertThat((double) got.get(i).score()).isEqualTo(want.get(i).score());
      } else {
        assertThat((double) got.get(i).score()).as("score at rank %d", i + 1)
            .isCloseTo(want.get(i).score(), org.assertj.core.data.Offset.offset(tol));
      }
    }
  }

  private static float[] unitRows(int n, int d, Random rnd) {
    float[] f = new float[n * d];
    for (int r = 0; r < n; r++) {
      double ss = 0;
      for (int j = 0; j < d; j++) {
        f[r * d + j] = (float) rnd.nextGaussian();
        ss += f[r * d + j] * (double) f[r * d + j];
      }
      for (int j = 0; j < d; j++) {
        f[r * d + j] = (float) (f[r * d + j] / Math.sqrt(ss));
      }
    }
    return f;
  }

  @Test
  void topKEqualsBruteForceOverShardsChunksAndBlocks(@TempDir Path tmp) throws Exception {
    int d = 24;
    int[] sizes = {37, 0, 100, 5, 64, 1};
    int total = Arrays.stream(sizes).sum();
    Random rnd = new Random(42);
    float[] all = unitRows(total, d, rnd);
    float[][] queries = new float[3][];
    for (int i = 0; i < 3; i++) {
      queries[i] = Arrays.copyOfRange(unitRows(1, d, rnd), 0, d);
    }
    write(tmp, all, d, sizes);
    // 23-row mapped chunks (every shard but the smallest straddles a chunk edge), several block sizes inside them.
    for (long chunkBytes : new long[] {23L * d * 4, EmbeddingIndex.DEFAULT_MAX_CHUNK_BYTES}) {
      try (EmbeddingIndex index = EmbeddingIndex.open(tmp, chunkBytes)) {
        for (int block : new int[] {1, 10, 64, ExactSearch.DEFAULT_BLOCK_ROWS}) {
          ExactSearch search = new ExactSearch(index, "cpu", block);
          for (int k : new int[] {1, 7, 50, total, total + 5}) {
            List<List<ExactSearch.Hit>> hits = search.search(queries, k); // Q = 3: one GEMM per block
            assertThat(hits).hasSize(3);
            for (int i = 0; i < 3; i++) {
              assertMatches(hits.get(i), bruteForce(all, d, queries[i]), k, 1e-6);
            }
            List<List<ExactSearch.Hit>> single = search.search(new float[][] {queries[2]}, k); // Q = 1: GEMV
            assertMatches(single.get(0), bruteForce(all, d, queries[2]), k, 1e-6);
          }
        }
      }
    }
  }

  @Test
  void tiesRankByLowerRowAlsoAtTheTopKBoundary(@TempDir Path tmp) throws Exception {
    // Entries are multiples of 1/4, so every dot product is exact in fp32 in any summation order:
    // equal rows give bit-identical scores, and there are many of them.
    int d = 8;
    Random rnd = new Random(5);
    float[][] distinct = new float[5][d];
    for (float[] v : distinct) {
      for (int j = 0; j < d; j++) {
        v[j] = (rnd.nextInt(9) - 4) / 4f;
      }
    }
    int total = 211;
    float[] all = new float[total * d];
    for (int r = 0; r < total; r++) {
      System.arraycopy(distinct[rnd.nextInt(distinct.length)], 0, all, r * d, d);
    }
    float[] q = new float[d];
    for (int j = 0; j < d; j++) {
      q[j] = (rnd.nextInt(9) - 4) / 4f;
    }
    write(tmp, all, d, 70, 0, 41, 100);
    List<Ref> want = bruteForce(all, d, q);
    assertThat(want.get(11).score()).as("the 12th score is tied with the 13th").isEqualTo(want.get(12).score());
    try (EmbeddingIndex index = EmbeddingIndex.open(tmp, 16L * d * 4)) {
      for (int block : new int[] {3, 16, 1000}) {
        for (int k : new int[] {1, 5, 12, 60, total}) {
          ExactSearch search = new ExactSearch(index, "cpu", block);
          assertMatches(search.search(new float[][] {q, q}, k).get(1), want, k, 0);
          assertMatches(search.search(new float[][] {q}, k).get(0), want, k, 0);
        }
      }
    }
  }

  @Test
  void corruptNanRowsRankLast(@TempDir Path tmp) throws Exception {
    int d = 4;
    float[] all = unitRows(10, d, new Random(9));
    all[3 * d + 1] = Float.NaN;
    write(tmp, all, d, 10);
    float[] q = Arrays.copyOfRange(unitRows(1, d, new Random(10)), 0, d);
    try (EmbeddingIndex index = EmbeddingIndex.open(tmp)) {
      List<ExactSearch.Hit> got = new ExactSearch(index).search(new float[][] {q}, 10).get(0);
      assertMatches(got, bruteForce(all, d, q), 10, 1e-6);
      assertThat(got.get(9).row()).isEqualTo(3);
      assertThat(got.get(9).score()).isEqualTo(Float.NEGATIVE_INFINITY);
    }
  }

  @Test
  void emptyIndexAndBadQueries(@TempDir Path tmp) throws Exception {
    Path empty = tmp.resolve("empty");
    IndexDirs.write(empty, "images", 4, List.of(), FILES, r -> "x");
    try (EmbeddingIndex index = EmbeddingIndex.open(empty)) {
      List<List<ExactSearch.Hit>> hits = new ExactSearch(index).search(new float[][] {{1, 0, 0, 0}, {0, 1, 0, 0}}, 5);
      assertThat(hits).hasSize(2).allSatisfy(h -> assertThat(h).isEmpty());
    }
    Path one = tmp.resolve("one");
    write(one, new float[] {1, 0, 0, 0}, 4, 1);
    try (EmbeddingIndex index = EmbeddingIndex.open(one)) {
      ExactSearch s = new ExactSearch(index);
      assertThatThrownBy(() -> s.search(new float[][] {{1, 0, 0}}, 1)).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("3 dims").hasMessageContaining("4");
      assertThatThrownBy(() -> s.search(new float[][] {{1, 0, Float.NaN, 0}}, 1)).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("non-finite");
      assertThatThrownBy(() -> s.search(new float[][] {{1, 0, 0, 0}}, 0)).isInstanceOf(IllegalArgumentException.class);
      assertThat(s.search(new float[][] {{0.5f, 0, 0, 0}}, 3).get(0)).containsExactly(new ExactSearch.Hit(0, 0.5f));
    }
  }

  @Test
  void unalignedShardDataIsScoredFromACopy(@TempDir Path tmp) throws Exception {
    // A valid .npy whose header length puts the floats at an offset that is not a multiple of 4
    // (NumPy pads to 64; a hand-made writer may not): scored correctly, never read misaligned.
    int d = 5;
    int n = 9;
    float[] all = unitRows(n, d, new Random(3));
    write(tmp, all, d, n);
    String header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + n + ", " + d + "), } \n";
    assertThat((10 + header.length()) % 4).isNotZero();
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(10 + header.length() + all.length * 4)
        .order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) header.length());
    b.put(header.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
    for (float f : all) {
      b.putFloat(f);
    }
    java.nio.file.Files.write(tmp.resolve("embeddings-00000.npy"), b.array());
    float[] q = Arrays.copyOfRange(unitRows(1, d, new Random(4)), 0, d);
    try (EmbeddingIndex index = EmbeddingIndex.open(tmp)) {
      assertThat(index.row(8)).containsExactly(Arrays.copyOfRange(all, 8 * d, 9 * d));
      assertMatches(new ExactSearch(index).search(new float[][] {q}, 4).get(0), bruteForce(all, d, q), 4, 1e-6);
      assertMatches(new ExactSearch(index).search(new float[][] {q, q}, 9).get(1), bruteForce(all, d, q), 9, 1e-6);
    }
  }
}
