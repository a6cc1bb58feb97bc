package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidModelException;
import dev.clip4j.hardening.TorchSaveWriter;
import dev.clip4j.head.Activation;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.TensorData;
import dev.clip4j.tokenize.ClipTextTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checkpoints as users hold them: training checkpoints ({@code state_dict} wrapper, {@code
 * module.} prefixes), bare checkpoints named by an open_clip architecture, and models without a
 * vocabulary file (the standard one ships inside clip4j).
 */
class CheckpointFormatsTest {

  private static Map<String, TorchSaveWriter.F32> fixtureTensors(String name) {
    Map<String, TorchSaveWriter.F32> out = new LinkedHashMap<>();
    try (StateDict sd = CheckpointReader.read(ModelFixtures.model(name).resolve("open_clip_model.safetensors"))) {
      for (TensorData t : sd.tensors().values()) {
        out.put(t.name(), new TorchSaveWriter.F32(t.toFloatArray(), t.shape()));
      }
    }
    return out;
  }

  @Test
  void aTrainingCheckpointWithModulePrefixesLoadsExactly(@TempDir Path tmp) throws Exception {
    String name = "tiny-quickgelu";
    Path dir = Files.createDirectories(tmp.resolve("hub"));
    Files.copy(ModelFixtures.model(name).resolve("open_clip_config.json"), dir.resolve("open_clip_config.json"));
    TorchSaveWriter.writeTrainingCheckpoint(dir.resolve("open_clip_pytorch_model.bin"), fixtureTensors(name), "module.");
    try (StateDict sd = CheckpointReader.readModelWeights(dir.resolve("open_clip_pytorch_model.bin"))) {
      assertThat(sd.metadata()).containsEntry("wrapper", "state_dict").containsEntry("stripped_prefix", "module.");
      assertThat(sd.keys()).contains("visual.proj", "text_projection").noneMatch(k -> k.startsWith("module."));
    }
    try (ClipModel m = ClipModel.load(dir);
        Tensor px = ModelFixtures.pixels();
        Tensor ids = ModelFixtures.tokenIds()) {
      assertThat(maxAbsDiff(toFloats(m.embedImages(px)), ModelFixtures.expected(name, "expected_image_embeddings.npy")))
          .isLessThanOrEqualTo(1e-5);
      assertThat(maxAbsDiff(toFloats(m.embedTexts(ids)), ModelFixtures.expected(name, "expected_text_embeddings.npy")))
          .isLessThanOrEqualTo(1e-5);
      // No vocabulary file in the directory: clip4j's standard one, which is open_clip's byte for byte.
      assertThat(m.info().tokenizer()).contains("standard CLIP vocabulary");
      assertThat(((ClipTextTokenizer) m.tokenizer()).ids("a photo of a cat"))
          .containsExactly(ModelDescription.read(ModelFixtures.model(name)).openTokenizer().ids("a photo of a cat"));
    }
  }

  @Test
  void aBareCheckpointNeedsItsArchitectureNamed() {
    Path bin = ModelFixtures.model("tiny-gelu").resolve("open_clip_pytorch_model.bin");
    assertThat(ModelFormat.detect(bin)).isEqualTo(ModelFormat.CHECKPOINT);
    assertThatThrownBy(() -> ClipModel.load(bin)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("bare checkpoint").hasMessageContaining("--model-name").hasMessageContaining("ViT-B-32");
    assertThatThrownBy(() -> ClipModel.load(bin, LoadOptions.builder().modelName("ViT-X-99").build()))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("unknown open_clip model name 'ViT-X-99'");
    assertThatThrownBy(() -> ClipModel.load(bin, LoadOptions.builder().modelName("vit-b-32").build()))
        .hasMessageContaining("did you mean ViT-B-32?");
  }

  @Test
  void aPlainArchitectureNameDoesNotStateTheActivation() {
    Path bin = ModelFixtures.model("tiny-gelu").resolve("open_clip_pytorch_model.bin");
    // ViT-B-32 says nothing about QuickGELU vs GELU: refused before any weight is read.
    assertThatThrownBy(() -> ClipModel.load(bin, LoadOptions.builder().modelName("ViT-B-32").build()))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("activation is not stated")
        .hasMessageContaining("ViT-B-32-quickgelu");
  }

  @Test
  void aBareCheckpointOfAnotherArchitectureListsEveryProblem() {
    Path bin = ModelFixtures.model("tiny-gelu").resolve("open_clip_pytorch_model.bin");
    assertThatThrownBy(() -> ClipModel.load(bin, LoadOptions.builder().modelName("ViT-B-32-quickgelu").build()))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("visual.transformer.resblocks.11.attn.in_proj_weight") // missing
        .hasMessageContaining("visual.conv1.weight")                                // mis-shaped
        .hasMessageContaining("text_projection");
  }

  @Test
  void everyShippedNameParsesWithItsOpenClipShapes() {
    for (String n : ModelConfigs.names()) {
      ModelConfig c = ModelConfigs.named(n);
      assertThat(c.text().contextLength()).as(n).isEqualTo(77);
      assertThat(ModelConfigs.named(n.endsWith("-quickgelu") ? n : n + "-quickgelu").quickGelu()).as(n).isTrue();
    }
    assertThat(ModelConfigs.named("ViT-B-32").quickGelu()).isNull();
    ModelConfig big = ModelConfigs.named("ViT-bigG-14");
    assertThat(big.embedDim()).isEqualTo(1280);
    assertThat(big.vision().mlpWidth()).isEqualTo(8192);
    assertThat(big.vision().heads()).isEqualTo(16);
    assertThat(ModelConfigs.named("ViT-L-14-336").vision().imageSize()).isEqualTo(336);
  }

  /**
   * A full ViT-B-32 checkpoint (random weights, real shapes) loaded bare with its name gives bit
   * for bit what the same weights give in their open_clip directory.
   */
  @Test
  void aBareViTB32CheckpointEqualsItsHubDirectoryBitwise(@TempDir Path tmp) {
    Path dir = RandomModels.write(tmp.resolve("vitb32"), RandomModels.vitB32(), 5);
    float[] img;
    float[] txt;
    try (ClipModel hub = ClipModel.load(dir); Tensor px = torch.randn(2, 3, 224, 224)) {
      img = toFloats(hub.embedImages(px));
      txt = toFloats(toTensor(hub.embedTexts(List.of("a photo of a cat", ""))));
      try (ClipModel bare = ClipModel.load(dir.resolve("open_clip_model.safetensors"),
          LoadOptions.builder().modelName("ViT-B-32-quickgelu").vocabulary(dir).build())) {
        assertThat(bare.info().format()).isEqualTo(ModelFormat.CHECKPOINT);
        assertThat(bare.info().activation()).isEqualTo(Activation.QUICK_GELU);
        assertThat(bare.info().activationSource()).contains("ViT-B-32-quickgelu");
        assertThat(toFloats(bare.embedImages(px))).containsExactly(img);
        assertThat(toFloats(toTensor(bare.embedTexts(List.of("a photo of a cat", ""))))).containsExactly(txt);
      }
    }
    // The activation stated both ways must agree.
    assertThatThrownBy(() -> ClipModel.load(dir.resolve("open_clip_model.safetensors"),
        LoadOptions.builder().modelName("ViT-B-32-quickgelu").activation(Activation.GELU).build()))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("contradictory");
  }

  private static Tensor toTensor(float[][] rows) {
    float[] flat = new float[rows.length * rows[0].length];
    for (int i = 0; i < rows.length; i++) {
      System.arraycopy(rows[i], 0, flat, i * rows[0].length, rows[0].length);
    }
    return dev.clip4j.testing.Tensors.fromFloats(flat, rows.length, rows[0].length);
  }
}
