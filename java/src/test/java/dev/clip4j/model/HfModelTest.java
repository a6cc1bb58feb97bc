package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import dev.clip4j.testing.Conformance;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The fixtures' Hugging Face {@code CLIPModel} directories through {@link ClipModel#load}: the
 * same weights as the open_clip directories, so the expected embeddings hold unchanged, from
 * tensors and from the image files and texts themselves (open_clip's preprocessing rules, the
 * default).
 */
class HfModelTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gelu", "tiny-quickgelu"})
  void anHfDirectoryEmbedsAsTheOpenClipReference(String name) throws Exception {
    Path conf = Conformance.dir();
    Path hf = ModelFixtures.model(name).resolve("hf");
    assertThat(ModelFormat.detect(hf)).isEqualTo(ModelFormat.HF_CLIP);
    float[] wantImg = ModelFixtures.expected(name, "expected_image_embeddings.npy");
    float[] wantTxt = ModelFixtures.expected(name, "expected_text_embeddings.npy");
    try (ClipModel m = ClipModel.load(hf); Tensor px = ModelFixtures.pixels(); Tensor ids = ModelFixtures.tokenIds()) {
      assertThat(m.info().format()).isEqualTo(ModelFormat.HF_CLIP);
      assertThat(m.info().activation()).isEqualTo(name.equals("tiny-gelu") ? Activation.GELU : Activation.QUICK_GELU);
      assertThat(m.info().activationSource()).contains("hidden_act");
      assertThat(m.info().fileHashes()).containsKeys("config.json", "model.safetensors", "preprocessor_config.json",
          "vocab.json", "merges.txt");
      assertThat(maxAbsDiff(toFloats(m.embedImages(px)), wantImg)).isLessThanOrEqualTo(1e-5);
      assertThat(maxAbsDiff(toFloats(m.embedTexts(ids)), wantTxt)).isLessThanOrEqualTo(1e-5);
      // From the files: decode + preprocess + tokenize as the model states them.
      JsonNode manifest = JSON.readTree(conf.resolve("manifest.json").toFile());
      List<Path> images = new ArrayList<>();
      manifest.get("images").forEach(n -> images.add(conf.resolve("images").resolve(n.asText())));
      float[][] rows = m.embedImages(images);
      for (int i = 0; i < rows.length; i++) {
        float[] w = java.util.Arrays.copyOfRange(wantImg, i * 64, (i + 1) * 64);
        assertThat(maxAbsDiff(rows[i], w)).as(images.get(i).toString()).isLessThanOrEqualTo(1e-5);
      }
      List<String> texts = new ArrayList<>();
      for (String line : Files.readAllLines(conf.resolve("tokenizer_cases.jsonl"))) {
        if (!line.isBlank()) {
          texts.add(JSON.readTree(line).get("text").asText());
        }
      }
      float[][] trows = m.embedTexts(texts);
      for (int i = 0; i < trows.length; i++) {
        float[] w = java.util.Arrays.copyOfRange(wantTxt, i * 64, (i + 1) * 64);
        assertThat(maxAbsDiff(trows[i], w)).as(texts.get(i)).isLessThanOrEqualTo(1e-5);
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-quickgelu"})
  void transformersRulesAndContradictionsAreTheCallersToState(String name) {
    Path hf = ModelFixtures.model(name).resolve("hf");
    ModelDescription open = ModelDescription.read(hf);
    ModelDescription tr = ModelDescription.read(hf, LoadOptions.builder().preprocessRules(PreprocessRules.TRANSFORMERS).build());
    assertThat(open.preprocess().cropRounding()).isEqualTo(dev.clip4j.preprocess.CropRounding.HALF_EVEN);
    assertThat(tr.preprocess().cropRounding()).isEqualTo(dev.clip4j.preprocess.CropRounding.FLOOR);
    assertThat(tr.preprocess().rgbConversion()).isEqualTo(dev.clip4j.preprocess.RgbConversion.BEFORE_RESIZE);
    assertThatThrownBy(() -> ModelDescription.read(hf, LoadOptions.builder().activation(Activation.GELU).build()))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("contradictory").hasMessageContaining("hidden_act");
  }
}
