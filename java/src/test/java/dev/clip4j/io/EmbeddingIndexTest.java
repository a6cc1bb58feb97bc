package dev.clip4j.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidInputException;
import dev.clip4j.testing.IndexDirs;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddingIndexTest {
  private static final int D = 6;
  private static final int[] SIZES = {5, 0, 13, 1, 150, 9};
  private static final Map<String, String> FILES = Map.of("open_clip_config.json", "ab12", "open_clip_model.safetensors", "cd34");

  private static float[] data(int rows, long seed) {
    Random r = new Random(seed);
    float[] f = new float[rows * D];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) r.nextGaussian();
    }
    return f;
  }

  private static int total() {
    int t = 0;
    for (int s : SIZES) {
      t += s;
    }
    return t;
  }

  /** The test index: shards of SIZES rows, row r named "img/r.png". */
  private static float[] write(Path dir) throws Exception {
    float[] all = data(total(), 7);
    List<float[][]> shards = new ArrayList<>();
    int at = 0;
    for (int s : SIZES) {
      shards.add(IndexDirs.rows(all, D, at, s));
      at += s;
    }
    IndexDirs.write(dir, "images", D, shards, FILES, r -> "img/" + r + ".png");
    return all;
  }

  @Test
  void readsEveryRowAndIdAcrossShardsAndChunks(@TempDir Path tmp) throws Exception {
    float[] all = write(tmp);
    long chunkBytes = 4L * D * 4 + 3; // 4 rows per mapped chunk: shards of 5, 13, 150, 9 rows straddle chunks
    try (EmbeddingIndex index = EmbeddingIndex.open(tmp, chunkBytes)) {
      assertThat(index.kind()).isEqualTo(EmbeddingIndex.Kind.IMAGES);
      assertThat(index.dim()).isEqualTo(D);
      assertThat(index.rows()).isEqualTo(total());
      assertThat(index.complete()).isTrue();
      assertThat(index.modelFileHashes()).isEqualTo(FILES);
      assertThat(index.model()).containsEntry("format", "open_clip");
      assertThat(index.textModel()).isNull();
      assertThat(index.shards()).extracting(EmbeddingIndex.Shard::rows).containsExactly(5L, 0L, 13L, 1L, 150L, 9L);
      assertThat(index.shards()).extracting(EmbeddingIndex.Shard::firstRow).containsExactly(0L, 5L, 5L, 18L, 19L, 169L);

      long next = 0;
      for (EmbeddingIndex.Chunk c : index.chunks()) {
        assertThat(c.firstRow()).isEqualTo(next);
        assertThat(c.rows()).isBetween(1, 4);
        assertThat(c.data().isDirect()).isTrue();
        assertThat(c.data().isReadOnly()).isTrue();
        float[] got = new float[c.rows() * D];
        c.data().get(got);
        for (int i = 0; i < got.length; i++) {
          assertThat(got[i]).isEqualTo(all[(int) (c.firstRow() * D) + i]);
        }
        next += c.rows();
      }
      assertThat(next).isEqualTo(total());
      assertThat(index.chunks()).hasSize(2 + 4 + 1 + 38 + 3);

      for (int r = 0; r < total(); r++) {
        float[] row = index.row(r);
        for (int j = 0; j < D; j++) {
          assertThat(row[j]).isEqualTo(all[r * D + j]);
        }
        EmbeddingIndex.Entry e = index.entry(r);
        assertThat(e.row()).isEqualTo(r);
        assertThat(e.path()).isEqualTo("img/" + r + ".png");
        assertThat(e.name()).isEqualTo(e.path());
        assertThat(e.id()).isNull();
        assertThat(e.index()).isEqualTo(r);
        assertThat(e.sha256()).isEqualTo(String.format("%064x", r));
      }
      // Rows of the 150-row shard around the id index's stride of 64.
      assertThat(index.entry(19 + 64).shardRow()).isEqualTo(64);
      assertThat(index.entry(19 + 64).shard()).isEqualTo(4);
      assertThat(index.entry(168).shardRow()).isEqualTo(149);
      assertThatThrownBy(() -> index.row(total())).isInstanceOf(IndexOutOfBoundsException.class);
      assertThatThrownBy(() -> index.entry(-1)).isInstanceOf(IndexOutOfBoundsException.class);
    }
  }

  @Test
  void defaultChunkingMapsEachShardOnceAndTextsHaveIds(@TempDir Path tmp) throws Exception {
    float[] all = data(7, 3);
    IndexDirs.write(tmp, "texts", D, List.of(IndexDirs.rows(all, D, 0, 3), IndexDirs.rows(all, D, 3, 4)), FILES, r -> "line-" + r);
    try (EmbeddingIndex index = EmbeddingIndex.open(tmp)) {
      assertThat(index.kind()).isEqualTo(EmbeddingIndex.Kind.TEXTS);
      assertThat(index.chunks()).extracting(EmbeddingIndex.Chunk::rows).containsExactly(3, 4);
      assertThat(index.entry(4).id()).isEqualTo("line-4");
      assertThat(index.entry(4).path()).isNull();
      assertThat(index.row(6)[D - 1]).isEqualTo(all[7 * D - 1]);
    }
  }

  @Test
  void zeroShardsIsAnEmptyIndex(@TempDir Path tmp) throws Exception {
    IndexDirs.write(tmp, "images", D, List.of(), FILES, r -> "x");
    try (EmbeddingIndex index = EmbeddingIndex.open(tmp)) {
      assertThat(index.rows()).isZero();
      assertThat(index.chunks()).isEmpty();
      assertThat(index.shards()).isEmpty();
    }
  }

  @Test
  void closedIndexRefusesCalls(@TempDir Path tmp) throws Exception {
    write(tmp);
    EmbeddingIndex index = EmbeddingIndex.open(tmp);
    EmbeddingIndex.Chunk kept = index.chunks().get(0);
    index.close();
    index.close();
    assertThatThrownBy(() -> index.row(0)).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(index::chunks).isInstanceOf(IllegalStateException.class);
    assertThat(kept.data().get(0)).isEqualTo(data(total(), 7)[0]); // a held chunk stays valid
  }

  @Test
  void ignoresUnlistedFiles(@TempDir Path tmp) throws Exception {
    write(tmp);
    Files.writeString(tmp.resolve("embeddings-00099.npy"), "partial garbage of an unfinished shard");
    Files.writeString(tmp.resolve("ids-00099.jsonl"), "{");
    try (EmbeddingIndex index = EmbeddingIndex.open(tmp)) {
      assertThat(index.rows()).isEqualTo(total());
    }
  }

  private static void assertBad(Path dir, String file, String... words) {
    assertThatThrownBy(() -> EmbeddingIndex.open(dir).close())
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining(file)
        .satisfies(e -> {
          for (String w : words) {
            assertThat(e.getMessage()).contains(w);
          }
        });
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> shard(Map<String, Object> manifest, int i) {
    return ((List<Map<String, Object>>) manifest.get("shards")).get(i);
  }

  private static Map<String, Object> fresh(Path dir) throws Exception {
    float[] all = data(20, 11);
    return IndexDirs.write(dir, "images", D, List.of(IndexDirs.rows(all, D, 0, 8), IndexDirs.rows(all, D, 8, 12)), FILES,
        r -> "p" + r);
  }

  @Test
  void manifestProblemsAreTypedErrorsNamingTheManifest(@TempDir Path tmp) throws Exception {
    assertBad(tmp.resolve("nothing"), "manifest.json", "missing");

    Path d = tmp.resolve("a");
    Map<String, Object> m = fresh(d);
    Files.writeString(d.resolve("manifest.json"), "{\"format\": ");
    assertBad(d, "manifest.json", "not valid JSON");

    m.put("format", "something-else");
    IndexDirs.writeManifest(d, m);
    assertBad(d, "manifest.json", "something-else");

    m = fresh(d);
    m.put("format_version", 2);
    IndexDirs.writeManifest(d, m);
    assertBad(d, "manifest.json", "format_version 2");

    m = fresh(d);
    m.put("dtype", "float16");
    IndexDirs.writeManifest(d, m);
    assertBad(d, "manifest.json", "float16");

    m = fresh(d);
    m.put("kind", "audio");
    IndexDirs.writeManifest(d, m);
    assertBad(d, "manifest.json", "audio");

    m = fresh(d);
    m.put("rows", 21);
    IndexDirs.writeManifest(d, m);
    assertBad(d, "manifest.json", "21", "20");

    m = fresh(d);
    shard(m, 1).put("embeddings", "../outside.npy");
    IndexDirs.writeManifest(d, m);
    assertBad(d, "manifest.json", "plain file name");

    m = fresh(d);
    shard(m, 1).put("index", 0);
    IndexDirs.writeManifest(d, m);
    assertBad(d, "manifest.json", "increasing");
  }

  @Test
  void shardProblemsAreTypedErrorsNamingTheShardFile(@TempDir Path tmp) throws Exception {
    Path d = tmp.resolve("missing");
    fresh(d);
    Files.delete(d.resolve("embeddings-00001.npy"));
    assertBad(d, "embeddings-00001.npy", "missing");

    d = tmp.resolve("missing-ids");
    fresh(d);
    Files.delete(d.resolve("ids-00000.jsonl"));
    assertBad(d, "ids-00000.jsonl", "missing");

    d = tmp.resolve("truncated");
    fresh(d);
    try (FileChannel ch = FileChannel.open(d.resolve("embeddings-00001.npy"), StandardOpenOption.WRITE)) {
      ch.truncate(ch.size() - 10);
    }
    assertBad(d, "embeddings-00001.npy", "data section");

    d = tmp.resolve("wrong-dim");
    Map<String, Object> m = fresh(d);
    Npy.writeFloat32(d.resolve("embeddings-00000.npy"), new float[8 * 5], 8, 5);
    assertBad(d, "embeddings-00000.npy", "[8, 5]", "[8, 6]");

    d = tmp.resolve("wrong-rows");
    m = fresh(d);
    shard(m, 0).put("rows", 7);
    m.put("rows", 19);
    IndexDirs.writeManifest(d, m);
    assertBad(d, "embeddings-00000.npy", "[8, 6]", "[7, 6]");

    d = tmp.resolve("wrong-dtype");
    fresh(d);
    Npy.write(d.resolve("embeddings-00000.npy"), Npy.DType.FLOAT64, new long[] {8, 6},
        java.nio.ByteBuffer.allocate(8 * 6 * 8));
    assertBad(d, "embeddings-00000.npy", "float32");

    d = tmp.resolve("not-npy");
    fresh(d);
    Files.writeString(d.resolve("embeddings-00001.npy"), "hello");
    assertBad(d, "embeddings-00001.npy");

    d = tmp.resolve("ids-short");
    fresh(d);
    List<String> lines = Files.readAllLines(d.resolve("ids-00001.jsonl"));
    Files.write(d.resolve("ids-00001.jsonl"), lines.subList(0, 11), StandardCharsets.UTF_8);
    assertBad(d, "ids-00001.jsonl", "11 lines", "12 rows");

    d = tmp.resolve("ids-long");
    fresh(d);
    Files.writeString(d.resolve("ids-00000.jsonl"), "{\"row\": 8, \"path\": \"extra\"}\n", StandardOpenOption.APPEND);
    assertBad(d, "ids-00000.jsonl", "9 lines", "8 rows");
  }

  @Test
  void badIdsLineIsATypedErrorOnLookup(@TempDir Path tmp) throws Exception {
    Path d = tmp.resolve("x");
    fresh(d);
    List<String> lines = new ArrayList<>(Files.readAllLines(d.resolve("ids-00001.jsonl")));
    lines.set(2, "{\"row\": 5, \"path\": \"wrong\"}");
    lines.set(3, "not json");
    Files.write(d.resolve("ids-00001.jsonl"), lines, StandardCharsets.UTF_8);
    try (EmbeddingIndex index = EmbeddingIndex.open(d)) {
      assertThat(index.entry(9).path()).isEqualTo("p9");
      assertThatThrownBy(() -> index.entry(10)).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("ids-00001.jsonl").hasMessageContaining("line 3").hasMessageContaining("expected 2");
      assertThatThrownBy(() -> index.entry(11)).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("ids-00001.jsonl").hasMessageContaining("line 4");
      assertThat(index.entry(12).path()).isEqualTo("p12");
    }
  }
}
