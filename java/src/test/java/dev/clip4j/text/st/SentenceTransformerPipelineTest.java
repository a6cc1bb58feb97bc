package dev.clip4j.text.st;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.io.Npy;
import dev.clip4j.testing.Conformance;
import dev.clip4j.testing.Tensors;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SentenceTransformerPipelineTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  static Path fixture() {
    return Conformance.dir().resolve("multilingual");
  }

  /** The texts of the multilingual fixture, in the order of its expected_* files. */
  static List<String> texts() throws Exception {
    List<String> out = new ArrayList<>();
    for (String line : Files.readAllLines(fixture().resolve("expected_token_ids.jsonl"), StandardCharsets.UTF_8)) {
      if (!line.isBlank()) {
        out.add(JSON.readTree(line).get("text").asText());
      }
    }
    return out;
  }

  /** A linked copy of the fixture directory whose files can be replaced one by one. */
  static Path linkedCopy(Path tmp) throws Exception {
    Path src = fixture();
    Path dst = tmp.resolve("ml");
    try (Stream<Path> all = Files.walk(src)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        Path target = dst.resolve(src.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.createSymbolicLink(target, p);
        }
      }
    }
    return dst;
  }

  @Test
  void tokenIdsMatchTheReference() throws Exception {
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(fixture())) {
      int n = 0;
      for (String line : Files.readAllLines(fixture().resolve("expected_token_ids.jsonl"), StandardCharsets.UTF_8)) {
        if (line.isBlank()) {
          continue;
        }
        JsonNode j = JSON.readTree(line);
        long[] want = new long[j.get("ids").size()];
        for (int i = 0; i < want.length; i++) {
          want[i] = j.get("ids").get(i).asLong();
        }
        assertThat(p.tokenizer().ids(j.get("text").asText())).as(j.get("text").asText()).containsExactly(want);
        n++;
      }
      assertThat(n).isEqualTo(13);
    }
  }

  @Test
  void embeddingsMatchFromBothWeightFormatsBatchedAndOneByOne(@TempDir Path tmp) throws Exception {
    List<String> texts = texts();
    float[] want = Npy.read(fixture().resolve("expected_text_embeddings_unnormalized.npy")).floats();
    float[] wantNorm = Npy.read(fixture().resolve("expected_text_embeddings.npy")).floats();
    // The .bin variant: a linked copy without the safetensors files.
    Path bin = linkedCopy(tmp);
    Files.delete(bin.resolve("model.safetensors"));
    Files.delete(bin.resolve("2_Dense/model.safetensors"));
    for (Path dir : List.of(fixture(), bin)) {
      try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(dir)) {
        assertThat(p.outputDim()).isEqualTo(64);
        assertThat(p.moduleDescriptions()).hasSize(3);
        float[] got = Tensors.toFloats(p.embed(texts));
        assertThat(Tensors.maxAbsDiff(got, want)).as(dir.toString()).isLessThanOrEqualTo(1e-5);
        for (int i = 0; i < texts.size(); i++) {
          float[] one = Tensors.toFloats(p.embed(List.of(texts.get(i))));
          float[] row = java.util.Arrays.copyOfRange(want, i * 64, (i + 1) * 64);
          assertThat(Tensors.maxAbsDiff(one, row)).as("text %d", i).isLessThanOrEqualTo(1e-5);
          double ss = 0;
          for (float v : one) {
            ss += v * (double) v;
          }
          float[] normed = new float[64];
          for (int j = 0; j < 64; j++) {
            normed[j] = (float) (one[j] / Math.sqrt(ss));
          }
          assertThat(Tensors.maxAbsDiff(normed, java.util.Arrays.copyOfRange(wantNorm, i * 64, (i + 1) * 64)))
              .isLessThanOrEqualTo(1e-5);
        }
      }
    }
  }

  @Test
  void droppingTheDenseModuleChangesTheWidthVisibly(@TempDir Path tmp) throws Exception {
    Path dir = linkedCopy(tmp);
    ArrayNode modules = (ArrayNode) JSON.readTree(fixture().resolve("modules.json").toFile());
    modules.remove(2);
    Files.delete(dir.resolve("modules.json"));
    JSON.writeValue(dir.resolve("modules.json").toFile(), modules);
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(dir)) {
      assertThat(p.outputDim()).isEqualTo(48);
      assertThat(p.embed(List.of("a photo of a cat")).size(1)).isEqualTo(48);
    }
  }

  @Test
  void denseBiasWithoutTensorUnknownModulesAndBadKeysAreRefused(@TempDir Path tmp) throws Exception {
    Path dir = linkedCopy(tmp);
    ObjectNode dense = (ObjectNode) JSON.readTree(fixture().resolve("2_Dense/config.json").toFile());
    dense.put("bias", true);
    Files.delete(dir.resolve("2_Dense/config.json"));
    JSON.writeValue(dir.resolve("2_Dense/config.json").toFile(), dense);
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("linear.bias");

    Path dir2 = linkedCopy(tmp.resolve("b"));
    ArrayNode modules = (ArrayNode) JSON.readTree(fixture().resolve("modules.json").toFile());
    ((ObjectNode) modules.get(2)).put("type", "sentence_transformers.models.LSTM");
    Files.delete(dir2.resolve("modules.json"));
    JSON.writeValue(dir2.resolve("modules.json").toFile(), modules);
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir2)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("sentence_transformers.models.LSTM");

    // Encoder weights of the wrong model (the CLIP fixture's) list what is missing and unexpected.
    Path dir3 = linkedCopy(tmp.resolve("c"));
    Files.delete(dir3.resolve("model.safetensors"));
    Files.delete(dir3.resolve("pytorch_model.bin"));
    Files.createSymbolicLink(dir3.resolve("model.safetensors"),
        Conformance.dir().resolve("models/tiny-gelu/open_clip_model.safetensors"));
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir3)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("missing: embeddings.word_embeddings.weight")
        .hasMessageContaining("unexpected:")
        .hasMessageContaining("visual.proj");
  }
}
