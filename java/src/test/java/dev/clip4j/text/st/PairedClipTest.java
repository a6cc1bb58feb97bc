package dev.clip4j.text.st;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
import dev.clip4j.testing.Conformance;
import dev.clip4j.zeroshot.ZeroShotClassifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PairedClipTest {

  @Test
  void classifyProbabilitiesEqualTheReferenceSoftmax() throws Exception {
    Path c = Conformance.dir();
    List<String> labels = SentenceTransformerPipelineTest.texts();
    float[] img = Npy.read(c.resolve("models/tiny-quickgelu/expected_image_embeddings.npy")).floats();
    float[] txt = Npy.read(c.resolve("multilingual/expected_text_embeddings.npy")).floats();
    try (PairedClip p = PairedClip.of(ClipModel.load(c.resolve("models/tiny-quickgelu")),
        SentenceTransformerPipeline.load(c.resolve("multilingual")))) {
      ZeroShotClassifier zs = p.classifier(labels, List.of("{}"));
      double scale = Math.exp(p.logitScale());
      for (int i = 0; i < 12; i++) {
        float[] image = java.util.Arrays.copyOfRange(img, i * 64, (i + 1) * 64);
        // Reference: softmax(exp(logit_scale) * image @ text^T) from the expected embeddings.
        double[] logits = new double[labels.size()];
        double max = Double.NEGATIVE_INFINITY;
        for (int t = 0; t < labels.size(); t++) {
          double dot = 0;
          for (int j = 0; j < 64; j++) {
            dot += image[j] * (double) txt[t * 64 + j];
          }
          logits[t] = scale * dot;
          max = Math.max(max, logits[t]);
        }
        double sum = 0;
        for (double l : logits) {
          sum += Math.exp(l - max);
        }
        float[] got = zs.probabilities(image);
        for (int t = 0; t < labels.size(); t++) {
          assertThat((double) got[t]).as("image %d label %d", i, t).isCloseTo(Math.exp(logits[t] - max) / sum,
              org.assertj.core.data.Offset.offset(1e-4));
        }
      }
    }
  }

  @Test
  void pairingAPipelineWithoutItsDenseLayerFails(@TempDir Path tmp) throws Exception {
    Path dir = SentenceTransformerPipelineTest.copy(tmp);
    ObjectMapper json = new ObjectMapper();
    ArrayNode modules = (ArrayNode) json.readTree(SentenceTransformerPipelineTest.fixture().resolve("modules.json").toFile());
    modules.remove(2);
    Files.delete(dir.resolve("modules.json"));
    json.writeValue(dir.resolve("modules.json").toFile(), modules);
    try (ClipModel image = ClipModel.load(Conformance.dir().resolve("models/tiny-quickgelu"));
        SentenceTransformerPipeline text = SentenceTransformerPipeline.load(dir)) {
      assertThatThrownBy(() -> PairedClip.of(image, text)).isInstanceOf(InvalidModelException.class)
          .hasMessageContaining("48-d").hasMessageContaining("64-d").hasMessageContaining("Dense");
    }
  }
}
