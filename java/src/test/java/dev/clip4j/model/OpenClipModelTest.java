package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Format 1: open_clip hub directories, from safetensors and from torch.save .bin. */
class OpenClipModelTest {

  /** A model directory in {@code tmp} linking the fixture's config and one weights file. */
  static Path dirWith(Path tmp, String model, String weightsFixture, String weightsName) throws Exception {
    Path dir = Files.createDirectories(tmp.resolve(model + "-" + weightsFixture));
    Path src = ModelFixtures.model(model);
    Files.createSymbolicLink(dir.resolve("open_clip_config.json"), src.resolve("open_clip_config.json"));
    Files.createSymbolicLink(dir.resolve(weightsName), src.resolve(weightsFixture));
    return dir;
  }

  @ParameterizedTest
  @CsvSource({
    "tiny-gelu, open_clip_model.safetensors", "tiny-gelu, open_clip_pytorch_model.bin",
    "tiny-quickgelu, open_clip_model.safetensors", "tiny-quickgelu, open_clip_pytorch_model.bin"
  })
  void matchesTheReferenceFromEachWeightsFormat(String model, String weights, @TempDir Path tmp) throws Exception {
    Path dir = dirWith(tmp, model, weights, weights);
    try (ClipModel m = ClipModel.load(dir)) {
      assertThat(m.info().format()).isEqualTo(ModelFormat.OPEN_CLIP_HUB);
      assertThat(m.info().activation()).isEqualTo(model.equals("tiny-gelu") ? Activation.GELU : Activation.QUICK_GELU);
      assertThat(m.info().fileHashes()).containsKeys("open_clip_config.json", weights);
      Tensor img = m.embedImages(ModelFixtures.pixels());
      Tensor txt = m.embedTexts(ModelFixtures.tokenIds());
      assertThat(maxAbsDiff(toFloats(img), ModelFixtures.expected(model, "expected_image_embeddings.npy"))).isLessThanOrEqualTo(1e-5);
      assertThat(maxAbsDiff(toFloats(txt), ModelFixtures.expected(model, "expected_text_embeddings.npy"))).isLessThanOrEqualTo(1e-5);
      Tensor logits = img.matmul(txt.t()).mul(new org.bytedeco.pytorch.Scalar(Math.exp(m.logitScale())));
      assertThat(maxAbsDiff(toFloats(logits), ModelFixtures.expected(model, "expected_logits_per_image.npy"))).isLessThanOrEqualTo(1e-4);
      assertThat(maxAbsDiff(toFloats(torch.softmax(logits, 1)), ModelFixtures.expected(model, "expected_probs_per_image.npy")))
          .isLessThanOrEqualTo(1e-4);
      // Repeated forwards are bitwise identical; a batch of N equals N batches of 1.
      assertThat(maxAbsDiff(toFloats(m.embedImages(ModelFixtures.pixels())), toFloats(img))).isZero();
      float[] all = toFloats(txt);
      Tensor ids = ModelFixtures.tokenIds();
      for (int i = 0; i < ids.size(0); i++) {
        float[] one = toFloats(m.embedTexts(ids.narrow(0, i, 1)));
        float[] row = java.util.Arrays.copyOfRange(all, i * 64, (i + 1) * 64);
        assertThat(maxAbsDiff(one, row)).as("text %d", i).isLessThanOrEqualTo(1e-6);
      }
    }
  }

  @Test
  void wrongKeysCheckpointFailsNamingEveryKey(@TempDir Path tmp) throws Exception {
    Path dir = dirWith(tmp, "tiny-gelu", "wrong_keys.bin", "open_clip_pytorch_model.bin");
    assertThatThrownBy(() -> ClipModel.load(dir))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("positional_embedding")
        .hasMessageContaining("text_projection")
        .hasMessageContaining("text_model.embeddings.position_ids")
        .hasMessageContaining("Hugging Face transformers");
  }

  @Test
  void geluWeightsLoadedAsQuickGeluAreDetectablyDifferent(@TempDir Path tmp) throws Exception {
    // The config says quick_gelu: false; stating quick_gelu contradicts it and is refused...
    Path dir = dirWith(tmp, "tiny-gelu", "open_clip_model.safetensors", "open_clip_model.safetensors");
    assertThatThrownBy(() -> ClipModel.load(dir, LoadOptions.builder().activation(Activation.QUICK_GELU).build()))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("contradictory");
    // ...and a config without the key must state it: loading the same weights both ways differs.
    Path bare = Files.createDirectories(tmp.resolve("bare"));
    com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
    com.fasterxml.jackson.databind.node.ObjectNode cfg = (com.fasterxml.jackson.databind.node.ObjectNode)
        json.readTree(ModelFixtures.model("tiny-gelu").resolve("open_clip_config.json").toFile());
    ((com.fasterxml.jackson.databind.node.ObjectNode) cfg.get("model_cfg")).remove("quick_gelu");
    json.writeValue(bare.resolve("open_clip_config.json").toFile(), cfg);
    Files.createSymbolicLink(bare.resolve("open_clip_model.safetensors"),
        ModelFixtures.model("tiny-gelu").resolve("open_clip_model.safetensors"));
    assertThatThrownBy(() -> ClipModel.load(bare))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("not stated");
    try (ClipModel gelu = ClipModel.load(bare, LoadOptions.builder().activation(Activation.GELU).build());
        ClipModel quick = ClipModel.load(bare, LoadOptions.builder().modelName("ViT-tiny-quickgelu").build())) {
      assertThat(quick.info().activation()).isEqualTo(Activation.QUICK_GELU);
      Tensor px = ModelFixtures.pixels();
      float[] a = toFloats(gelu.embedImages(px));
      float[] b = toFloats(quick.embedImages(px));
      assertThat(maxAbsDiff(a, ModelFixtures.expected("tiny-gelu", "expected_image_embeddings.npy"))).isLessThanOrEqualTo(1e-5);
      assertThat(maxAbsDiff(a, b)).isGreaterThan(1e-3);
    }
  }
}
