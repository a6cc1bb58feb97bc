package dev.clip4j.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import dev.clip4j.model.io.JitArchive;
import dev.clip4j.model.io.JitArchiveReader;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link OpenAiCheckpoints} against references: the conformance fixtures' configurations,
 * open_clip 2.20's own {@code build_model_from_openai_state_dict} on OpenAI's real ViT-B/32,
 * ViT-L/14 and ViT-L/14@336px shapes and on an OpenAI-style traced archive
 * (tools/reference/openai_jit_archives.py writes both).
 */
class OpenAiCheckpointsTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static Path resource(String name) {
    try {
      return Path.of(OpenAiCheckpointsTest.class.getResource("io/jit/" + name).toURI());
    } catch (java.net.URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void fixtureArchivesGiveTheirConfigurationAndActivation() {
    for (String name : new String[] {"tiny-gelu", "tiny-quickgelu"}) {
      for (String file : new String[] {"openai_jit_fp16.pt", "torchscript_scripted.pt"}) {
        ModelConfig want = ModelFixtures.config(name);
        try (JitArchive a = JitArchiveReader.read(ModelFixtures.model(name).resolve(file))) {
          ModelConfig got = OpenAiCheckpoints.inferConfig(a.shapes(), a.intAttributes(), a.source().toString());
          assertThat(got.vision()).as(name + "/" + file).isEqualTo(want.vision());
          assertThat(got.text()).as(name + "/" + file).isEqualTo(want.text());
          assertThat(got.embedDim()).isEqualTo(want.embedDim());
          assertThat(got.quickGelu()).isNull();
          assertThat(got.source()).contains(file).contains("heads from the archive's num_heads");
          StateDictSchema.of(got).validateShapes(a.shapes(), file); // every key and shape

          MlpActivation act = OpenAiCheckpoints.activationFromModuleTypes(a.moduleTypes(), a.source().toString());
          assertThat(act.activation()).isEqualTo(want.quickGelu() ? Activation.QUICK_GELU : Activation.GELU);
          assertThat(act.source()).contains(file).contains(want.quickGelu()
              ? "module type __torch__.open_clip.transformer.QuickGELU at "
              : "module type __torch__.torch.nn.modules.activation.GELU at ").contains("and 3 more");
          // Agrees with what the configuration states.
          assertThat(MlpActivation.resolve(want, null, act.activation(), act.source()).activation())
              .isEqualTo(act.activation());
        }
      }
    }
  }

  /**
   * open_clip's rule alone (heads = width / 64) cannot describe the fixture (text width 32):
   * refused rather than built with 0 heads, as open_clip would.
   */
  @Test
  void withoutRecordedHeadsAWidthThatIsNotAMultipleOf64IsRefused() {
    try (JitArchive a = JitArchiveReader.read(ModelFixtures.model("tiny-gelu").resolve("openai_jit_fp16.pt"))) {
      assertThatThrownBy(() -> OpenAiCheckpoints.inferConfig(a.shapes(), "x.pt"))
          .isInstanceOf(InvalidModelException.class)
          .hasMessageContaining("x.pt: cannot infer")
          .hasMessageContaining("the text width 32 is not a multiple of 64")
          .hasMessageNotContaining("vision width");
    }
  }

  @Test
  void openAiArchitecturesInferAsOpenClipDoes() throws IOException {
    JsonNode all = JSON.readTree(resource("openai_shapes.json").toFile());
    for (String name : new String[] {"ViT-B-32", "ViT-L-14", "ViT-L-14-336"}) {
      Map<String, long[]> shapes = shapes(all.get(name).get("state_dict"));
      ModelConfig got = OpenAiCheckpoints.inferConfig(shapes, name);
      assertMatches(got, all.get(name).get("open_clip_inferred"), name);
      // With the three root scalars dropped from the shapes (they are int attributes), and with them agreeing.
      shapes.keySet().removeAll(java.util.List.of("input_resolution", "context_length", "vocab_size"));
      Map<String, Long> ints = Map.of("input_resolution", (long) got.vision().imageSize(),
          "context_length", 77L, "vocab_size", 49408L);
      assertThat(OpenAiCheckpoints.inferConfig(shapes, ints, name)).isEqualTo(got);
      StateDictSchema.of(got).validateShapes(shapes, name);
    }
    assertThat(OpenAiCheckpoints.inferConfig(shapes(all.get("ViT-L-14-336").get("state_dict")), "x").vision().imageSize())
        .isEqualTo(336);
  }

  @Test
  void openAiTracedArchiveInfersAsOpenClipDoes() throws IOException {
    JsonNode ref = JSON.readTree(resource("openai_vit_tiny.json").toFile());
    try (JitArchive a = JitArchiveReader.read(resource("openai_vit_tiny.pt"))) {
      ModelConfig got = OpenAiCheckpoints.inferConfig(a.shapes(), a.intAttributes(), "tiny");
      assertMatches(got, ref.get("open_clip_inferred"), "openai_vit_tiny.pt");
      assertThat(got.source()).contains("heads from width / 64"); // a traced archive records no num_heads
      StateDictSchema.of(got).validateShapes(a.shapes(), "tiny");
      MlpActivation act = OpenAiCheckpoints.activationFromModuleTypes(a.moduleTypes(), a.source().toString());
      assertThat(act.activation()).isEqualTo(Activation.QUICK_GELU);
      assertThat(act.source()).contains("module type __torch__.multimodal.model.multimodal_transformer");
    }
  }

  private static void assertMatches(ModelConfig got, JsonNode oc, String name) {
    JsonNode v = oc.get("vision");
    JsonNode t = oc.get("text");
    assertThat(got.embedDim()).as(name).isEqualTo(oc.get("embed_dim").asInt());
    assertThat(got.vision().imageSize()).as(name).isEqualTo(v.get("image_size").asInt());
    assertThat(got.vision().patchSize()).isEqualTo(v.get("patch_size").asInt());
    assertThat(got.vision().width()).isEqualTo(v.get("width").asInt());
    assertThat(got.vision().layers()).isEqualTo(v.get("layers").asInt());
    assertThat(got.vision().heads()).isEqualTo(v.get("heads").asInt());
    assertThat(got.vision().mlpWidth()).isEqualTo(v.get("mlp_width").asInt());
    assertThat(got.text().contextLength()).isEqualTo(t.get("context_length").asInt());
    assertThat(got.text().vocabSize()).isEqualTo(t.get("vocab_size").asInt());
    assertThat(got.text().width()).isEqualTo(t.get("width").asInt());
    assertThat(got.text().heads()).isEqualTo(t.get("heads").asInt());
    assertThat(got.text().layers()).isEqualTo(t.get("layers").asInt());
    assertThat(got.text().mlpWidth()).isEqualTo(t.get("mlp_width").asInt());
    assertThat(got.vision().globalAveragePool()).isFalse();
    assertThat(got.vision().layerScale()).isFalse();
    assertThat(got.vision().lnPre()).isTrue();
  }

  @Test
  void openAiResNetIsNotInferredAsAViT() throws IOException {
    JsonNode all = JSON.readTree(resource("openai_shapes.json").toFile());
    Map<String, long[]> rn50 = shapes(all.get("RN50").get("state_dict"));
    assertThat(rn50).containsKey("visual.layer1.0.conv1.weight").doesNotContainKey("visual.proj");
    assertThatThrownBy(() -> OpenAiCheckpoints.inferConfig(rn50, "RN50.pt"))
        .isInstanceOf(Clip4jException.class)
        .isNotInstanceOf(InvalidModelException.class)
        .hasMessageContaining("RN50.pt: this is an OpenAI ResNet CLIP (RN50, RN101, RN50x4, RN50x16, RN50x64")
        .hasMessageContaining("inferred by inferResNetConfig")
        .satisfies(e -> assertThat(((Clip4jException) e).code()).isEqualTo(ErrorCode.UNSUPPORTED));
  }

  @Test
  void everyShapeProblemIsListedAtOnce() throws IOException {
    JsonNode all = JSON.readTree(resource("openai_shapes.json").toFile());
    Map<String, long[]> s = shapes(all.get("ViT-B-32").get("state_dict"));
    s.remove("ln_final.weight");
    s.put("visual.positional_embedding", new long[] {51, 768}); // not 7 * 7 + 1
    s.put("text_projection", new long[] {512, 256}); // disagrees with visual.proj's 512
    s.put("transformer.resblocks.13.attn.in_proj_weight", new long[] {1536, 512}); // a gap after 11
    assertThatThrownBy(() -> OpenAiCheckpoints.inferConfig(s, "b32"))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("ln_final.weight is missing")
        .hasMessageContaining("visual.positional_embedding has 51 rows, not a square grid")
        .hasMessageContaining("visual.proj projects to 512 but text_projection to 256")
        .hasMessageContaining("transformer.resblocks indices are 13 values from 0 to 13, not 0..12");
    Map<String, long[]> huge = shapes(all.get("ViT-B-32").get("state_dict"));
    huge.put("visual.positional_embedding", new long[] {4096L * 4096 + 1, 768});
    assertThatThrownBy(() -> OpenAiCheckpoints.inferConfig(huge, "b32"))
        .hasMessageContaining("the image size 131072 (a 4096x4096 grid of 32 px patches) is larger than 65536");
    Map<String, long[]> noVisual = new HashMap<>(s);
    noVisual.keySet().removeIf(k -> k.startsWith("visual."));
    assertThatThrownBy(() -> OpenAiCheckpoints.inferConfig(noVisual, "t"))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("no visual.proj (ViT) and no visual.layer1.* (ResNet); no visual.* tensors at all");
  }

  @Test
  void recordedAttributesMustAgreeWithTheShapes() throws IOException {
    JsonNode all = JSON.readTree(resource("openai_shapes.json").toFile());
    Map<String, long[]> s = shapes(all.get("ViT-B-32").get("state_dict"));
    Map<String, Long> ints = new HashMap<>(Map.of("context_length", 64L, "input_resolution", 336L));
    for (int i = 0; i < 12; i++) {
      ints.put("visual.transformer.resblocks." + i + ".attn.num_heads", i == 5 ? 16L : 12L);
      ints.put("transformer.resblocks." + i + ".attn.num_heads", 7L);
    }
    assertThatThrownBy(() -> OpenAiCheckpoints.inferConfig(s, ints, "b32"))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("records context_length = 64 but positional_embedding give 77")
        .hasMessageContaining("records input_resolution = 336 but")
        .hasMessageContaining("visual.transformer.resblocks.N.attn.num_heads differ between blocks (12 and 16)")
        .hasMessageContaining("transformer.resblocks.N.attn.num_heads is 7, which does not divide the width 512");
    // Recorded heads that fit are used instead of width / 64.
    Map<String, Long> heads = new HashMap<>();
    for (int i = 0; i < 12; i++) {
      heads.put("visual.transformer.resblocks." + i + ".attn.num_heads", 16L);
      heads.put("transformer.resblocks." + i + ".attn.num_heads", 4L);
    }
    ModelConfig c = OpenAiCheckpoints.inferConfig(s, heads, "b32");
    assertThat(c.vision().heads()).isEqualTo(16);
    assertThat(c.vision().headWidth()).isEqualTo(48);
    assertThat(c.text().heads()).isEqualTo(4);
    heads.remove("transformer.resblocks.3.attn.num_heads");
    assertThatThrownBy(() -> OpenAiCheckpoints.inferConfig(s, heads, "b32"))
        .hasMessageContaining("only 11 of 12 transformer.resblocks.N blocks record num_heads");
  }

  @Test
  void activationIsReadFromTheClassNamesOnly() {
    Map<String, String> quick = new LinkedHashMap<>();
    quick.put("", "__torch__.multimodal.model.multimodal_transformer.CLIP");
    quick.put("transformer.resblocks.0.mlp.gelu", "__torch__.multimodal.model.multimodal_transformer.QuickGELU");
    quick.put("transformer.resblocks.1.mlp.gelu",
        "__torch__.multimodal.model.multimodal_transformer.___torch_mangle_27.QuickGELU");
    MlpActivation a = OpenAiCheckpoints.activationFromModuleTypes(quick, "ViT-B-32.pt");
    assertThat(a.activation()).isEqualTo(Activation.QUICK_GELU);
    assertThat(a.source()).isEqualTo("ViT-B-32.pt: module type __torch__.multimodal.model.multimodal_transformer.QuickGELU"
        + " at transformer.resblocks.0.mlp.gelu (and 1 more QuickGELU modules)");

    Map<String, String> gelu = Map.of("visual.transformer.resblocks.0.mlp.gelu",
        "__torch__.torch.nn.modules.activation.___torch_mangle_3.GELU");
    assertThat(OpenAiCheckpoints.activationFromModuleTypes(gelu, "s").activation()).isEqualTo(Activation.GELU);

    Map<String, String> both = new HashMap<>(quick);
    both.putAll(gelu);
    assertThatThrownBy(() -> OpenAiCheckpoints.activationFromModuleTypes(both, "m.pt"))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("m.pt: the archive records both QuickGELU modules")
        .hasMessageContaining("contradictory");
    assertThatThrownBy(() -> OpenAiCheckpoints.activationFromModuleTypes(
        Map.of("", "__torch__.open_clip.model.CLIP", "visual.conv1", "__torch__.torch.nn.modules.conv.Conv2d"), "n.pt"))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("n.pt: the archive records no QuickGELU or GELU module among its 2 module types");
    // A GELU that is not torch's, or another class in the activation slot: not guessed.
    assertThatThrownBy(() -> OpenAiCheckpoints.activationFromModuleTypes(
        Map.of("transformer.resblocks.0.mlp.gelu", "__torch__.timm.layers.activations.GELU"), "t.pt"))
        .hasMessageContaining("classes clip4j does not know: transformer.resblocks.0.mlp.gelu (__torch__.timm.layers.activations.GELU)");
    assertThatThrownBy(() -> OpenAiCheckpoints.activationFromModuleTypes(
        Map.of("transformer.resblocks.0.mlp.gelu", "__torch__.torch.nn.modules.activation.SiLU"), "t.pt"))
        .hasMessageContaining("does not know: transformer.resblocks.0.mlp.gelu (__torch__.torch.nn.modules.activation.SiLU)");
  }

  @Test
  void mangledSegmentsAreIgnored() {
    assertThat(OpenAiCheckpoints.demangle("__torch__.open_clip.transformer.___torch_mangle_18.QuickGELU"))
        .isEqualTo("__torch__.open_clip.transformer.QuickGELU");
    assertThat(OpenAiCheckpoints.demangle("__torch__.torch.nn.modules.activation.GELU"))
        .isEqualTo("__torch__.torch.nn.modules.activation.GELU");
  }

  private static Map<String, long[]> shapes(JsonNode sd) {
    Map<String, long[]> out = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = sd.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      out.put(e.getKey(), JSON.convertValue(e.getValue(), long[].class));
    }
    return out;
  }
}
