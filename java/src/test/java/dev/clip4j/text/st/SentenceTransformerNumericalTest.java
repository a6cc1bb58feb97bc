package dev.clip4j.text.st;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.clip4j.NumericalException;
import dev.clip4j.testing.Tensors;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The output check of normalizing sentence-transformers pipelines: a copy of the multilingual
 * fixture with a Normalize module and one word-embedding row set to a huge finite value (which the
 * load-time weight checks let through) gives a NaN row for texts with that token only.
 */
class SentenceTransformerNumericalTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void aNonFiniteRowOfANormalizingPipelineIsNamed(@TempDir Path tmp) throws Exception {
    Path dir = SentenceTransformerPipelineTest.copy(tmp);
    ArrayNode modules = (ArrayNode) JSON.readTree(dir.resolve("modules.json").toFile());
    modules.addObject().put("idx", 3).put("name", "3").put("path", "3_Normalize").put("type", "sentence_transformers.models.Normalize");
    SentenceTransformerPipelineTest.writeJson(dir.resolve("modules.json"), modules);
    Files.createDirectories(dir.resolve("3_Normalize"));
    String bad = "Ein Foto von einem Hund";
    String good = "A photo of a cat.";
    long[] badIds = StTokenizerAccess.encode(dir, bad);
    long[] goodIds = StTokenizerAccess.encode(dir, good);
    long[] probeIds = StTokenizerAccess.encode(dir, "clip4j"); // what the loader's dummy forward embeds
    long token = Arrays.stream(badIds).filter(id -> Arrays.stream(goodIds).noneMatch(g -> g == id)
        && Arrays.stream(probeIds).noneMatch(g -> g == id)).findFirst().orElseThrow();
    Path st = dir.resolve("model.safetensors");
    byte[] b = Files.readAllBytes(st);
    int len = (int) ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    JsonNode entry = JSON.readTree(new String(b, 8, len, StandardCharsets.UTF_8)).get("embeddings.word_embeddings.weight");
    int width = entry.get("shape").get(1).asInt();
    int at = 8 + len + entry.get("data_offsets").get(0).asInt() + (int) token * width * 4;
    ByteBuffer w = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < width; i++) {
      w.putFloat(at + 4 * i, Float.MAX_VALUE / 2);
    }
    Files.delete(st);
    Files.write(st, b);
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(dir)) {
      assertThat(p.normalizes()).isTrue();
      assertThatThrownBy(() -> p.embed(List.of(good, bad, good))).isInstanceOfSatisfying(NumericalException.class, e -> {
        assertThat(e.rows()).containsExactly(1);
        assertThat(e.getMessage()).contains("text embeddings").contains("1 of 3");
      });
      try (Tensor ok = p.embed(List.of(good))) {
        float[] v = Tensors.toFloats(ok);
        double n = 0;
        for (float x : v) {
          n += (double) x * x;
        }
        assertThat(Math.sqrt(n)).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
      }
    }
  }
}
