package dev.clip4j.batch;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.SiglipModelTest;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** SigLIP texts through the micro-batching embedder (non-causal lane: full-context rows) equal open_clip's. */
class SiglipEmbedderTest {
  @Test
  void textsThroughTheEmbedderMatchOpenClip() throws Exception {
    Path dir = SiglipModelTest.fixture("tiny-siglip2");
    List<String> texts = new ArrayList<>();
    for (JsonNode c : new ObjectMapper().readTree(dir.resolve("tokens.json").toFile())) {
      texts.add(c.get("text").asText());
    }
    float[] want = Npy.read(dir.resolve("texts.npy")).floats();
    try (ClipModel model = SiglipModelTest.load(dir); ClipEmbedder e = ClipEmbedder.create(model)) {
      assertThat(model.causalText()).isFalse();
      List<CompletableFuture<float[]>> f = e.embedTexts(texts);
      float max = 0;
      for (int i = 0; i < texts.size(); i++) {
        float[] row = f.get(i).get();
        for (int j = 0; j < row.length; j++) {
          max = Math.max(max, Math.abs(row[j] - want[i * row.length + j]));
        }
      }
      assertThat(max).isLessThanOrEqualTo(1e-5f);
    }
  }
}
