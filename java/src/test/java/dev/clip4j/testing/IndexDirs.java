package dev.clip4j.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.io.Npy;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongFunction;

/**
 * Writes embeddings directories in the clip4j format (manifest.json, embeddings-NNNNN.npy,
 * ids-NNNNN.jsonl) independently of the reader, for tests.
 */
public final class IndexDirs {
  private static final ObjectMapper JSON = new ObjectMapper();

  private IndexDirs() {}

  /**
   * Writes {@code shards} (each [n][dim]) as an index of {@code kind} ("images" or "texts"); row
   * r's (global) name is {@code name.apply(r)}; returns the manifest as a mutable map (already
   * written) so a test can alter and rewrite it with {@link #writeManifest}.
   */
  public static Map<String, Object> write(Path dir, String kind, int dim, List<float[][]> shards,
      Map<String, String> modelFiles, LongFunction<String> name) throws IOException {
    Files.createDirectories(dir);
    List<Map<String, Object>> list = new ArrayList<>();
    long global = 0;
    for (int s = 0; s < shards.size(); s++) {
      float[][] rows = shards.get(s);
      float[] flat = new float[rows.length * dim];
      StringBuilder ids = new StringBuilder();
      for (int r = 0; r < rows.length; r++) {
        System.arraycopy(rows[r], 0, flat, r * dim, dim);
        Map<String, Object> id = new LinkedHashMap<>();
        id.put("row", r);
        id.put("index", global);
        id.put(kind.equals("images") ? "path" : "id", name.apply(global));
        id.put("sha256", String.format("%064x", global));
        ids.append(JSON.writeValueAsString(id)).append('\n');
        global++;
      }
      String emb = String.format("embeddings-%05d.npy", s);
      String idf = String.format("ids-%05d.jsonl", s);
      Npy.writeFloat32(dir.resolve(emb), flat, rows.length, dim);
      Files.writeString(dir.resolve(idf), ids.toString(), StandardCharsets.UTF_8);
      Map<String, Object> shard = new LinkedHashMap<>();
      shard.put("index", s);
      shard.put("embeddings", emb);
      shard.put("ids", idf);
      shard.put("rows", rows.length);
      list.add(shard);
    }
    Map<String, Object> model = new LinkedHashMap<>();
    model.put("format", "open_clip");
    model.put("embed_dim", dim);
    model.put("files", modelFiles);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("format", "clip4j-embeddings");
    m.put("format_version", 1);
    m.put("kind", kind);
    m.put("dim", dim);
    m.put("dtype", "float32");
    m.put("normalized", true);
    m.put("model", model);
    m.put("shard_size", 1000);
    m.put("shards", list);
    m.put("rows", global);
    m.put("errors", 0);
    m.put("complete", true);
    writeManifest(dir, m);
    return m;
  }

  /** (Re)writes manifest.json. */
  public static void writeManifest(Path dir, Map<String, Object> manifest) throws IOException {
    Files.writeString(dir.resolve("manifest.json"), JSON.writeValueAsString(manifest), StandardCharsets.UTF_8);
  }

  /** {@code n} rows of {@code dim} from {@code flat} starting at row {@code from}. */
  public static float[][] rows(float[] flat, int dim, int from, int n) {
    float[][] out = new float[n][dim];
    for (int i = 0; i < n; i++) {
      System.arraycopy(flat, (from + i) * dim, out[i], 0, dim);
    }
    return out;
  }
}
