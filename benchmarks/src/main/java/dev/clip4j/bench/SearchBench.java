package dev.clip4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.Engine;
import dev.clip4j.io.EmbeddingIndex;
import dev.clip4j.io.Npy;
import dev.clip4j.search.ExactSearch;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Exact search throughput, measured in one run: {@link ExactSearch} (LibTorch matmul over the
 * memory-mapped shards) vs a plain Java loop over the same mapped rows, for Q = 1 and Q = 32
 * queries per call. Not a test.
 *
 * <pre>
 *   java -cp ... dev.clip4j.bench.SearchBench WORK_DIR [ROWS=200000] [DIM=512] [SHARD=50000]
 * </pre>
 */
public final class SearchBench {
  private SearchBench() {}

  public static void main(String[] args) throws Exception {
    Path work = Path.of(args[0]);
    int rows = args.length > 1 ? Integer.parseInt(args[1]) : 200_000;
    int dim = args.length > 2 ? Integer.parseInt(args[2]) : 512;
    int shard = args.length > 3 ? Integer.parseInt(args[3]) : 50_000;
    Path dir = work.resolve("search-index-" + rows + "x" + dim);
    if (!Files.exists(dir.resolve("manifest.json"))) {
      write(dir, rows, dim, shard);
    }
    Engine.ensureInitialized();
    EmbeddingIndex.open(dir).close(); // first open pays class loading
    long t0 = System.nanoTime();
    try (EmbeddingIndex index = EmbeddingIndex.open(dir)) {
      double openMs = (System.nanoTime() - t0) / 1e6;
      System.out.printf("index %d x %d in %d shards (%.0f MB), open %.1f ms%n", index.rows(), index.dim(),
          index.shards().size(), index.rows() * index.dim() * 4 / 1e6, openMs);
      Random rnd = new Random(1);
      for (int q : new int[] {1, 32}) {
        float[][] queries = new float[q][];
        for (int i = 0; i < q; i++) {
          queries[i] = unit(rnd, dim);
        }
        ExactSearch search = new ExactSearch(index);
        search.search(queries, 10); // warm-up (page cache, LibTorch first call)
        double lib = median(5, () -> search.search(queries, 10));
        double loop = median(q == 1 ? 5 : 2, () -> javaLoop(index, queries, 10));
        double gb = index.rows() * (double) index.dim() * 4 / 1e9;
        System.out.printf("Q=%-3d ExactSearch %8.1f ms (%6.1f M rows/s, %5.2f GB/s of rows)  Java loop %8.1f ms  ratio %.1fx%n",
            q, lib, index.rows() / lib / 1e3, gb / (lib / 1e3), loop, loop / lib);
      }
    }
  }

  private static double median(int runs, Runnable r) {
    double[] t = new double[runs];
    for (int i = 0; i < runs; i++) {
      long s = System.nanoTime();
      r.run();
      t[i] = (System.nanoTime() - s) / 1e6;
    }
    Arrays.sort(t);
    return t[runs / 2];
  }

  /** The baseline: every row's dot product in a Java loop over the mapped floats, top-k by a partial sort. */
  private static void javaLoop(EmbeddingIndex index, float[][] queries, int k) {
    int d = index.dim();
    for (float[] q : queries) {
      float[] best = new float[k];
      Arrays.fill(best, Float.NEGATIVE_INFINITY);
      float[] row = new float[d];
      for (EmbeddingIndex.Chunk c : index.chunks()) {
        FloatBuffer f = c.data();
        for (int r = 0; r < c.rows(); r++) {
          f.get(r * d, row, 0, d);
          float s = 0;
          for (int j = 0; j < d; j++) {
            s += row[j] * q[j];
          }
          if (s > best[k - 1]) {
            int i = k - 1;
            while (i > 0 && best[i - 1] < s) {
              best[i] = best[i - 1];
              i--;
            }
            best[i] = s;
          }
        }
      }
    }
  }

  private static float[] unit(Random rnd, int d) {
    float[] v = new float[d];
    double ss = 0;
    for (int j = 0; j < d; j++) {
      v[j] = (float) rnd.nextGaussian();
      ss += v[j] * (double) v[j];
    }
    for (int j = 0; j < d; j++) {
      v[j] /= (float) Math.sqrt(ss);
    }
    return v;
  }

  private static void write(Path dir, int rows, int dim, int shardSize) throws Exception {
    Files.createDirectories(dir);
    ObjectMapper json = new ObjectMapper();
    Random rnd = new Random(7);
    List<Map<String, Object>> shards = new ArrayList<>();
    for (int s = 0, start = 0; start < rows; s++, start += shardSize) {
      int n = Math.min(shardSize, rows - start);
      float[] data = new float[n * dim];
      StringBuilder ids = new StringBuilder();
      for (int r = 0; r < n; r++) {
        System.arraycopy(unit(rnd, dim), 0, data, r * dim, dim);
        ids.append("{\"row\":").append(r).append(",\"index\":").append(start + r)
            .append(",\"path\":\"img/").append(start + r).append(".jpg\",\"sha256\":\"").append("0".repeat(64)).append("\"}\n");
      }
      String emb = String.format("embeddings-%05d.npy", s);
      String idf = String.format("ids-%05d.jsonl", s);
      Npy.writeFloat32(dir.resolve(emb), data, n, dim);
      Files.writeString(dir.resolve(idf), ids, StandardCharsets.UTF_8);
      shards.add(Map.of("index", s, "embeddings", emb, "ids", idf, "rows", n));
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("format", "clip4j-embeddings");
    m.put("format_version", 1);
    m.put("kind", "images");
    m.put("dim", dim);
    m.put("dtype", "float32");
    m.put("normalized", true);
    m.put("model", Map.of("files", Map.of()));
    m.put("shard_size", shardSize);
    m.put("shards", shards);
    m.put("rows", rows);
    m.put("errors", 0);
    m.put("complete", true);
    Files.writeString(dir.resolve("manifest.json"), json.writeValueAsString(m), StandardCharsets.UTF_8);
  }
}
