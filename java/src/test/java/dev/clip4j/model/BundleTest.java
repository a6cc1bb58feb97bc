package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** open_clip weights -> ClipModel -> bundle -> ClipModel: exact to the reference, bit-identical after reload. */
class BundleTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A ClipModel built from the fixture's weights through the open_clip build path. */
  static ClipModel fromFixture(String name) throws Exception {
    return ClipModel.load(ModelFixtures.model(name));
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gelu", "tiny-quickgelu"})
  void bundleRoundTripIsBitIdenticalAndMatchesTheReference(String name, @TempDir Path tmp) throws Exception {
    Tensor pixels = ModelFixtures.pixels();
    Tensor ids = ModelFixtures.tokenIds();
    Path bundle = tmp.resolve(name + ".clip4j");
    float[] img;
    float[] txt;
    try (ClipModel m = fromFixture(name)) {
      img = toFloats(m.embedImages(pixels));
      txt = toFloats(m.embedTexts(ids));
      assertThat(maxAbsDiff(img, ModelFixtures.expected(name, "expected_image_embeddings.npy"))).isLessThanOrEqualTo(1e-5);
      assertThat(maxAbsDiff(txt, ModelFixtures.expected(name, "expected_text_embeddings.npy"))).isLessThanOrEqualTo(1e-5);
      m.save(bundle);
    }
    assertThat(ModelFormat.detect(bundle)).isEqualTo(ModelFormat.CLIP4J_BUNDLE);
    try (ClipModel back = ClipModel.load(bundle)) {
      assertThat(back.info().format()).isEqualTo(ModelFormat.CLIP4J_BUNDLE);
      Activation want = name.equals("tiny-quickgelu") ? Activation.QUICK_GELU : Activation.GELU;
      assertThat(back.info().activation()).isEqualTo(want);
      assertThat(back.info().activationSource()).contains("bundle manifest");
      assertThat(((TokenizerSpec.ClipBpe) back.description().tokenizer()).bpeVocab())
          .isEqualTo(Files.readAllBytes(ModelFixtures.model(name).resolve("bpe_simple_vocab_16e6.txt.gz")));
      assertThat(maxAbsDiff(toFloats(back.embedImages(pixels)), img)).isZero();
      assertThat(maxAbsDiff(toFloats(back.embedTexts(ids)), txt)).isZero();
      assertThat(back.logitScale()).isCloseTo((float) Math.log(1 / 0.07), org.assertj.core.data.Offset.offset(1e-5f));
    }
  }

  @Test
  void pinnedHashIsEnforced(@TempDir Path tmp) throws Exception {
    Path bundle = tmp.resolve("m.clip4j");
    try (ClipModel m = fromFixture("tiny-quickgelu")) {
      m.save(bundle);
    }
    String wrong = "0".repeat(64);
    assertThatThrownBy(() -> ClipModel.load(bundle, LoadOptions.builder().expectedSha256(wrong).build()))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("does not match the pinned");
    String right = com.google.common.io.Files.asByteSource(bundle.toFile())
        .hash(com.google.common.hash.Hashing.sha256()).toString();
    try (ClipModel m = ClipModel.load(bundle, LoadOptions.builder().expectedSha256(right).build())) {
      assertThat(m.info().fileHashes()).containsValue(right);
    }
  }

  @Test
  void torchScriptModelsCannotBeSavedAsBundles(@TempDir Path tmp) {
    try (ClipModel m = ClipModel.load(ModelFixtures.model("tiny-gelu").resolve("torchscript_scripted.pt"),
        LoadOptions.builder().format(ModelFormat.TORCHSCRIPT).build())) {
      assertThatThrownBy(() -> m.save(tmp.resolve("x.clip4j")))
          .isInstanceOf(InvalidModelException.class).hasMessageContaining("only CLIP models whose weights clip4j reads");
    }
  }
}
