package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ResNet CLIPs (open_clip's ModifiedResNet image tower) against open_clip 2.20: the tiny seeded
 * model of {@code tools/reference/resnet_clip.py} (test resources {@code resnet/tiny-rn}: layers
 * [1, 2, 1, 1], width 4, 224 px, every weight and BatchNorm statistic random) as an open_clip hub
 * directory and as an OpenAI-style fp16 TorchScript archive, embedding the conformance images and
 * token ids; configuration, schema and inference checks against open_clip's RN configs and the
 * shapes of OpenAI's RN50.
 */
class ResNetClipTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  static Path tiny() {
    try {
      return Path.of(ResNetClipTest.class.getResource("resnet/tiny-rn").toURI());
    } catch (java.net.URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  private static float[] expected(String file) throws Exception {
    return TestNpy.read(tiny().resolve(file)).floats();
  }

  @Test
  void anOpenClipHubDirectoryEmbedsAsOpenClip() throws Exception {
    try (ClipModel m = ClipModel.load(tiny()); Tensor px = ModelFixtures.pixels(); Tensor ids = ModelFixtures.tokenIds()) {
      assertThat(m.info().format()).isEqualTo(ModelFormat.OPEN_CLIP_HUB);
      assertThat(m.info().architecture()).contains("ModifiedResNet 224px, layers [1, 2, 1, 1], width 4");
      assertThat(m.info().activation()).isEqualTo(Activation.QUICK_GELU);
      assertThat(m.info().activationSource()).contains("model_cfg.quick_gelu = true");
      assertThat(m.info().invariance()).startsWith("batch-invariant").contains("SAMPLE_BY_SAMPLE")
          .contains("texts: clip4j's packed CPU kernels");
      assertThat(m.info().cpuKernels()).isIn("avx2", "avx512"); // the text tower on the packed kernels
      assertThat(m.embedDim()).isEqualTo(8);
      float[] img = toFloats(m.embedImages(px));
      float[] txt = toFloats(m.embedTexts(ids));
      double di = maxAbsDiff(img, expected("expected_image_embeddings.npy"));
      double dt = maxAbsDiff(txt, expected("expected_text_embeddings.npy"));
      System.out.printf("tiny-rn hub: max abs diff images %.3g, texts %.3g%n", di, dt);
      assertThat(di).isLessThanOrEqualTo(1e-5);
      assertThat(dt).isLessThanOrEqualTo(1e-5);
      // The fp16-rounded reference differs by more than the tolerance: the comparison can fail.
      assertThat(maxAbsDiff(img, expected("expected_image_embeddings_fp16w.npy"))).isGreaterThan(1e-5);
    }
  }

  @Test
  void anOpenAiStyleFp16ArchiveIsReadAsWeightsAndEmbedsAsOpenClip() throws Exception {
    Path archive = tiny().resolve("openai_rn_fp16.pt");
    assertThat(ModelFormat.detect(archive)).isEqualTo(ModelFormat.OPENAI_JIT);
    try (ClipModel m = ClipModel.load(archive); Tensor px = ModelFixtures.pixels(); Tensor ids = ModelFixtures.tokenIds()) {
      assertThat(m.info().format()).isEqualTo(ModelFormat.OPENAI_JIT);
      assertThat(m.info().activation()).isEqualTo(Activation.QUICK_GELU);
      assertThat(m.info().activationSource()).contains("QuickGELU");
      assertThat(m.info().architecture()).contains("layers [1, 2, 1, 1], width 4, attention pool 128 wide, 4 heads");
      double di = maxAbsDiff(toFloats(m.embedImages(px)), expected("expected_image_embeddings_fp16w.npy"));
      double dt = maxAbsDiff(toFloats(m.embedTexts(ids)), expected("expected_text_embeddings_fp16w.npy"));
      System.out.printf("tiny-rn OpenAI-style fp16 archive: max abs diff images %.3g, texts %.3g%n", di, dt);
      assertThat(di).isLessThanOrEqualTo(1e-5);
      assertThat(dt).isLessThanOrEqualTo(1e-5);
    }
    // A stated activation that contradicts the archive's module types is refused.
    assertThatThrownBy(() -> ClipModel.load(archive, LoadOptions.builder().activation(Activation.GELU).build()))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("contradictory");
  }

  /** The text tower on the packed kernels: a text's bits do not depend on its batch; each family matches open_clip. */
  @Test
  void textsRunOnThePackedKernelsBatchInvariantlyInEveryFamily() throws Exception {
    float[] want = expected("expected_text_embeddings.npy");
    for (dev.clip4j.CpuKernels k : new dev.clip4j.CpuKernels[] {dev.clip4j.CpuKernels.AVX2,
        dev.clip4j.CpuKernels.AVX512}) {
      if (k == dev.clip4j.CpuKernels.AVX512 && !dev.clip4j.internal.CpuFeatures.avx512()) {
        assertThatThrownBy(() -> ClipModel.load(tiny(), LoadOptions.builder().cpuKernels(k).build()))
            .isInstanceOfSatisfying(dev.clip4j.Clip4jException.class,
                e -> assertThat(e.code()).isEqualTo(dev.clip4j.ErrorCode.UNSUPPORTED));
        continue;
      }
      try (ClipModel m = ClipModel.load(tiny(), LoadOptions.builder().cpuKernels(k).build());
          Tensor ids = ModelFixtures.tokenIds()) {
        assertThat(m.info().cpuKernels()).isEqualTo(k == dev.clip4j.CpuKernels.AVX2 ? "avx2" : "avx512");
        float[] all = toFloats(m.embedTexts(ids));
        assertThat(maxAbsDiff(all, want)).isLessThanOrEqualTo(1e-5);
        int n = (int) ids.size(0);
        for (int i : new int[] {0, n - 1}) {
          try (Tensor one = ids.narrow(0, i, 1); Tensor own = one.clone()) {
            assertThat(toFloats(m.embedTexts(own))).containsExactly(java.util.Arrays.copyOfRange(all, i * 8, (i + 1) * 8));
          }
        }
      }
    }
  }

  @Test
  void imagesAreBatchInvariantAndTheThroughputModeStillMatches() throws Exception {
    try (ClipModel m = ClipModel.load(tiny()); Tensor px = ModelFixtures.pixels()) {
      Tensor a = px.narrow(0, 0, 1);
      Tensor b = px.narrow(0, 1, 3);
      float[] alone = toFloats(m.embedImages(a.clone()));
      float[] mixed;
      try (TensorVector v = new TensorVector(b, a, b); Tensor batch = torch.cat(v, 0)) {
        mixed = toFloats(m.embedImages(batch));
      }
      float[] row3 = java.util.Arrays.copyOfRange(mixed, 3 * 8, 4 * 8);
      assertThat(row3).containsExactly(alone);
    }
    try (ClipModel m = ClipModel.load(tiny(), LoadOptions.builder().batchInvariant(false).build());
        Tensor px = ModelFixtures.pixels(); Tensor ids = ModelFixtures.tokenIds()) {
      assertThat(m.info().invariance()).startsWith("NOT batch-invariant");
      assertThat(maxAbsDiff(toFloats(m.embedImages(px)), expected("expected_image_embeddings.npy")))
          .isLessThanOrEqualTo(1e-5);
      assertThat(maxAbsDiff(toFloats(m.embedTexts(ids)), expected("expected_text_embeddings.npy")))
          .isLessThanOrEqualTo(1e-5);
    }
  }

  @Test
  void theActivationMustBeStated(@TempDir Path tmp) throws Exception {
    Path dir = copyTiny(tmp);
    ObjectNode cfg = (ObjectNode) JSON.readTree(dir.resolve("open_clip_config.json").toFile());
    ((ObjectNode) cfg.get("model_cfg")).remove("quick_gelu");
    JSON.writeValue(dir.resolve("open_clip_config.json").toFile(), cfg);
    assertThatThrownBy(() -> ClipModel.load(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("the MLP activation is not stated");
    // Stated by the caller, it loads; a GELU model is a different model (texts differ beyond tolerance).
    try (ClipModel m = ClipModel.load(dir, LoadOptions.builder().activation(Activation.GELU).build());
        Tensor ids = ModelFixtures.tokenIds()) {
      assertThat(m.info().activation()).isEqualTo(Activation.GELU);
      assertThat(maxAbsDiff(toFloats(m.embedTexts(ids)), expected("expected_text_embeddings.npy"))).isGreaterThan(1e-4);
    }
  }

  @Test
  void aBareCheckpointNeedsAResNetNameAndTheNameMustFitTheWeights() {
    Path bin = tiny().resolve("open_clip_pytorch_model.bin");
    assertThatThrownBy(() -> ClipModel.load(bin)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("RN50").hasMessageContaining("RN50x64");
    // RN50's configuration does not describe the tiny weights: every mismatch is listed at once.
    assertThatThrownBy(() -> ClipModel.load(bin, LoadOptions.builder().modelName("RN50-quickgelu").build()))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("do not match an open_clip ResNet CLIP")
        .hasMessageContaining("with the wrong shape")
        .hasMessageContaining("missing");
    // The plain name does not state the activation.
    assertThatThrownBy(() -> ClipModel.load(bin, LoadOptions.builder().modelName("RN50").build()))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("not stated");
  }

  @Test
  void everyKeyShapeAndElementTypeIsCheckedAndAllProblemsAreListed() throws Exception {
    ResNetConfig cfg = ResNetConfig.parseIfResNet(tiny().resolve("open_clip_config.json"));
    ResNetSchema schema = ResNetSchema.of(cfg);
    Map<String, long[]> shapes = schema.shapes();
    Map<String, String> kinds = new LinkedHashMap<>();
    shapes.keySet().forEach(k -> kinds.put(k, k.endsWith("num_batches_tracked") ? "INT64" : "FLOAT"));
    schema.validate(shapes, kinds, "ok"); // the schema accepts itself
    assertThat(shapes).hasSize(159); // 22 BatchNorms x 5 + 22 convolutions + 9 attention pool + 18 text
    // What open_clip's state dict has, exactly (the hub file's header).
    try (var sd = dev.clip4j.model.io.CheckpointReader.readModelWeights(tiny().resolve("open_clip_pytorch_model.bin"))) {
      assertThat(sd.tensors().keySet()).containsExactlyInAnyOrderElementsOf(shapes.keySet());
      sd.tensors().forEach((k, t) -> {
        assertThat(t.shape()).as(k).containsExactly(shapes.get(k));
        assertThat(ResNetSchema.kindOf(t.dtype())).as(k).isEqualTo(kinds.get(k));
      });
    }
    Map<String, long[]> bad = new LinkedHashMap<>(shapes);
    Map<String, String> badKinds = new LinkedHashMap<>(kinds);
    bad.remove("visual.bn1.running_var");
    bad.remove("visual.layer3.0.downsample.1.num_batches_tracked");
    badKinds.put("visual.layer2.1.bn2.num_batches_tracked", "FLOAT");
    badKinds.put("visual.layer1.0.bn1.running_mean", "I32");
    bad.put("visual.attnpool.q_proj.weight", new long[] {128, 64});
    bad.put("visual.proj", new long[] {128, 8});
    assertThatThrownBy(() -> schema.validate(bad, badKinds, "broken.bin"))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("broken.bin")
        .hasMessageContaining("2 missing: visual.bn1.running_var [2], visual.layer3.0.downsample.1.num_batches_tracked []")
        .hasMessageContaining("1 unexpected: visual.proj [128, 8]")
        .hasMessageContaining("visual.attnpool.q_proj.weight is [128, 64], expected [128, 128]")
        .hasMessageContaining("visual.layer2.1.bn2.num_batches_tracked is FLOAT, expected int64")
        .hasMessageContaining("visual.layer1.0.bn1.running_mean is I32, expected floating point")
        .hasMessageContaining("hint: visual.proj / visual.class_embedding are the weights of a ViT image tower");
    // No num_batches_tracked at all is what PyTorch's BatchNorm loads too (filled with 0; eval never reads it).
    Map<String, long[]> none = new LinkedHashMap<>(shapes);
    none.keySet().removeIf(k -> k.endsWith("num_batches_tracked"));
    schema.validate(none, kinds, "stripped.safetensors");
  }

  @Test
  void brokenWeightsFailAtLoadWithEveryProblem(@TempDir Path tmp) throws Exception {
    // A hub directory whose config says width 8: every visual tensor has the wrong shape.
    Path dir = copyTiny(tmp);
    ObjectNode cfg = (ObjectNode) JSON.readTree(dir.resolve("open_clip_config.json").toFile());
    ((ObjectNode) cfg.get("model_cfg").get("vision_cfg")).put("width", 8);
    JSON.writeValue(dir.resolve("open_clip_config.json").toFile(), cfg);
    assertThatThrownBy(() -> ClipModel.load(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("visual.conv1.weight is [2, 3, 3, 3], expected [4, 3, 3, 3]")
        .hasMessageContaining("visual.attnpool.c_proj.weight is [8, 128], expected [8, 256]");
  }

  @Test
  void configurationsAreParsedStrictly() {
    String base = "{\"embed_dim\": 8, \"quick_gelu\": true, \"vision_cfg\": {\"image_size\": %s, \"layers\": %s,"
        + " \"width\": 4, \"head_width\": 32 %s}, \"text_cfg\": {\"width\": 4, \"heads\": 2, \"layers\": 1}}";
    assertThat(ResNetConfig.parseIfResNet(String.format(base, "224", "[1,2,1,1]", ""), "t").heads()).isEqualTo(4);
    assertThat(ResNetConfig.parseIfResNet(String.format(base, "240", "[1,1,1,1]", ""), "t").grid()).isEqualTo(7);
    assertThat(ResNetConfig.parseIfResNet(String.format(base, "224", "12", ""), "t")).isNull(); // a ViT config
    assertThatThrownBy(() -> ResNetConfig.parseIfResNet(String.format(base, "224", "[1,2,1]", ""), "t"))
        .hasMessageContaining("4 stages");
    assertThatThrownBy(() -> ResNetConfig.parseIfResNet(String.format(base, "255", "[1,1,1,1]", ""), "t"))
        .hasMessageContaining("image_size 255 gives a 8x8 final feature map")
        .hasMessageContaining("image_size // 32 = 7");
    assertThatThrownBy(() -> ResNetConfig.parseIfResNet(String.format(base, "224", "[1,1,1,1]", ", \"patch_size\": 16"),
        "t")).hasMessageContaining("[patch_size]").hasMessageContaining("does not use them");
    assertThatThrownBy(() -> ResNetConfig.parseIfResNet(String.format(base, "224", "[1,1,1,1]",
        ", \"timm_model_name\": \"resnet50\""), "t")).hasMessageContaining("timm_model_name");
    assertThatThrownBy(() -> ResNetConfig.parseIfResNet(String.format(base, "224", "[1,1,1,1]", "")
        .replace("\"quick_gelu\": true,", "\"quick_gelu\": true, \"custom_text\": true,"), "t"))
        .hasMessageContaining("custom_text");
  }

  @Test
  void openClipsResNetConfigurationsShipByName() throws Exception {
    record Want(String name, int image, List<Integer> layers, int width, int heads, int embed, int textWidth) {}
    for (Want w : List.of(
        new Want("RN50", 224, List.of(3, 4, 6, 3), 64, 32, 1024, 512),
        new Want("RN101", 224, List.of(3, 4, 23, 3), 64, 32, 512, 512),
        new Want("RN50x4", 288, List.of(4, 6, 10, 6), 80, 40, 640, 640),
        new Want("RN50x16", 384, List.of(6, 8, 18, 8), 96, 48, 768, 768),
        new Want("RN50x64", 448, List.of(3, 15, 36, 10), 128, 64, 1024, 1024))) {
      ResNetConfig c = ModelConfigs.namedResNet(w.name());
      assertThat(c.imageSize()).as(w.name()).isEqualTo(w.image());
      assertThat(c.layers()).as(w.name()).isEqualTo(w.layers());
      assertThat(c.width()).isEqualTo(w.width());
      assertThat(c.heads()).isEqualTo(w.heads());
      assertThat(c.embedDim()).isEqualTo(w.embed());
      assertThat(c.text().width()).isEqualTo(w.textWidth());
      assertThat(c.quickGelu()).as(w.name() + " states no activation").isNull();
      assertThat(ModelConfigs.namedResNet(w.name() + "-quickgelu").quickGelu()).isTrue();
    }
    assertThat(ModelConfigs.namedResNet("RN50-quickgelu").quickGelu()).isTrue(); // open_clip's own file
    assertThatThrownBy(() -> ModelConfigs.named("RN50")).hasMessageContaining("ResNet CLIP");
  }

  @Test
  void theSchemaOfEveryShippedResNetIsOpenClipsStateDict() throws Exception {
    // open_clip_rn_schemas.json: open_clip's own CLIP(**RN config).state_dict(), fingerprinted by the generator.
    JsonNode want = JSON.readTree(ResNetClipTest.class.getResource("resnet/open_clip_rn_schemas.json"));
    for (String name : List.of("RN50", "RN101", "RN50x4", "RN50x16", "RN50x64")) {
      ResNetSchema schema = ResNetSchema.of(ModelConfigs.namedResNet(name));
      Map<String, long[]> shapes = schema.shapes();
      Map<String, ResNetSchema.Kind> kinds = schema.kinds();
      List<String> lines = new java.util.ArrayList<>();
      shapes.forEach((k, s) -> lines.add(k + ":" + java.util.Arrays.stream(s).mapToObj(Long::toString)
          .collect(java.util.stream.Collectors.joining(",")) + ":"
          + (kinds.get(k) == ResNetSchema.Kind.INT64 ? "int64" : "float")));
      java.util.Collections.sort(lines);
      String sha = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
          .digest(String.join("\n", lines).getBytes(java.nio.charset.StandardCharsets.UTF_8)));
      assertThat(shapes.size()).as(name).isEqualTo(want.get(name).get("tensors").asInt());
      assertThat(schema.parameterCount()).as(name).isEqualTo(want.get(name).get("elements").asLong());
      assertThat(sha).as(name).isEqualTo(want.get(name).get("sha256").asText());
      assertThat(ResNetSchema.expectedTensors(ModelConfigs.namedResNet(name))).isGreaterThanOrEqualTo(shapes.size());
    }
  }

  @Test
  void openAisRn50ShapesAreTheSchemaAndInferTheRn50Configuration() throws Exception {
    JsonNode all = JSON.readTree(ResNetClipTest.class.getResource("io/jit/openai_shapes.json"));
    Map<String, long[]> shapes = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = all.get("RN50").get("state_dict").fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      long[] s = new long[e.getValue().size()];
      for (int i = 0; i < s.length; i++) {
        s[i] = e.getValue().get(i).asLong();
      }
      shapes.put(e.getKey(), s);
    }
    for (String scalar : new String[] {"input_resolution", "context_length", "vocab_size"}) {
      shapes.remove(scalar); // OpenAI's metadata buffers: the archive reader keeps them out of the state dict
    }
    assertThat(OpenAiCheckpoints.isResNet(shapes)).isTrue();
    ResNetConfig inferred = OpenAiCheckpoints.inferResNetConfig(shapes, Map.of("input_resolution", 224L), "RN50.pt");
    ResNetConfig named = ModelConfigs.namedResNet("RN50");
    assertThat(inferred.toModelCfgJson()).isEqualTo(named.toModelCfgJson());
    Map<String, long[]> schema = ResNetSchema.of(named).shapes();
    assertThat(shapes.keySet()).containsExactlyInAnyOrderElementsOf(schema.keySet());
    shapes.forEach((k, s) -> assertThat(s).as(k).containsExactly(schema.get(k)));
    assertThatThrownBy(() -> OpenAiCheckpoints.inferResNetConfig(shapes, Map.of("input_resolution", 336L), "RN50.pt"))
        .hasMessageContaining("input_resolution = 336");
  }

  @Test
  void safetensorsWithoutNumBatchesTrackedLoadButAPartialSetIsRefused(@TempDir Path tmp) throws Exception {
    Path dir = copyTiny(tmp);
    Map<String, Tensor> floats = new LinkedHashMap<>();
    try (var sd = dev.clip4j.model.io.CheckpointReader.readModelWeights(dir.resolve("open_clip_pytorch_model.bin"))) {
      sd.tensors().forEach((k, t) -> {
        if (!k.endsWith("num_batches_tracked")) {
          floats.put(k, dev.clip4j.model.io.StateDictTensors.toTensor(t));
        }
      });
    }
    Files.delete(dir.resolve("open_clip_pytorch_model.bin"));
    dev.clip4j.model.io.SafetensorsWriter.write(dir.resolve("open_clip_model.safetensors"), floats, Map.of());
    try (ClipModel m = ClipModel.load(dir); Tensor px = ModelFixtures.pixels()) {
      assertThat(maxAbsDiff(toFloats(m.embedImages(px)), expected("expected_image_embeddings.npy")))
          .isLessThanOrEqualTo(1e-5);
    }
    // One BatchNorm with a counter and the others without: a damaged file, named.
    Map<String, Tensor> partial = new LinkedHashMap<>(floats);
    partial.put("visual.bn1.num_batches_tracked", torch.zeros(new long[] {}));
    dev.clip4j.model.io.SafetensorsWriter.write(dir.resolve("open_clip_model.safetensors"), partial, Map.of());
    assertThatThrownBy(() -> ClipModel.load(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("21 missing").hasMessageContaining("visual.bn2.num_batches_tracked []")
        .hasMessageContaining("visual.bn1.num_batches_tracked is FLOAT, expected int64");
    floats.values().forEach(Tensor::close);
  }

  @Test
  void conversionAndBundlesAreRefusedAsUnsupported(@TempDir Path tmp) {
    ModelDescription d = ModelDescription.read(tiny());
    assertThat(d.architecture()).isInstanceOf(Architecture.ClipResNet.class);
    for (ModelExport.Target t : ModelExport.Target.values()) {
      assertThatThrownBy(() -> ModelExport.write(d, t, tmp.resolve("out-" + t)))
          .isInstanceOf(dev.clip4j.Clip4jException.class).hasMessageContaining("ResNet CLIPs cannot be converted")
          .satisfies(e -> assertThat(((dev.clip4j.Clip4jException) e).code()).isEqualTo(dev.clip4j.ErrorCode.UNSUPPORTED));
    }
    assertThat(tmp).isEmptyDirectory();
  }

  private static Path copyTiny(Path tmp) throws Exception {
    Path dir = tmp.resolve("rn");
    Files.createDirectories(dir);
    for (String f : new String[] {"open_clip_config.json", "open_clip_pytorch_model.bin"}) {
      Files.copy(tiny().resolve(f), dir.resolve(f));
    }
    return dir;
  }
}
