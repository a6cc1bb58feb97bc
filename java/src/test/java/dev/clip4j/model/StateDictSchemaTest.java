package dev.clip4j.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.Engine;
import dev.clip4j.InvalidModelException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class StateDictSchemaTest {
  private static ModelConfig config;
  private static Map<String, Tensor> stateDict;
  private static Map<String, long[]> shapes;

  @BeforeAll
  static void load() {
    Engine.ensureInitialized();
    config = ModelFixtures.config("tiny-gelu");
    stateDict = ModelFixtures.stateDict("tiny-gelu");
    shapes = ModelFixtures.shapes(stateDict);
  }

  @Test
  void schemaIsExactlyOpenClipsStateDict() {
    // The reference: the parameters of open_clip's own scripted model.
    Map<String, long[]> expected = StateDictSchema.of(config).shapes();
    assertThat(expected.keySet()).containsExactlyInAnyOrderElementsOf(shapes.keySet());
    expected.forEach((k, s) -> assertThat(s).as(k).containsExactly(shapes.get(k)));
    assertThat(StateDictSchema.of(config).parameterCount())
        .isEqualTo(shapes.values().stream().mapToLong(s -> {
          long n = 1;
          for (long d : s) {
            n *= d;
          }
          return n;
        }).sum());
    assertThatCode(() -> StateDictSchema.of(config).validate(stateDict, "fixture")).doesNotThrowAnyException();
  }

  @Test
  void wrongKeysNamesAllThreeProblems() {
    // The edits of the fixture's wrong_keys.bin.
    Map<String, long[]> broken = new LinkedHashMap<>(shapes);
    broken.remove("positional_embedding");
    broken.remove("text_projection");
    broken.put("text_model.embeddings.position_ids", new long[] {1, 77});
    assertThatThrownBy(() -> StateDictSchema.of(config).validateShapes(broken, "wrong_keys.bin"))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("wrong_keys.bin")
        .hasMessageContaining("2 missing: positional_embedding [77, 32], text_projection [32, 64]")
        .hasMessageContaining("1 unexpected: text_model.embeddings.position_ids [1, 77]")
        .hasMessageContaining("Hugging Face transformers CLIPModel names");
  }

  @Test
  void reportsMissingUnexpectedAndMisShapedTogether() {
    Map<String, long[]> broken = new LinkedHashMap<>(shapes);
    broken.remove("visual.ln_post.bias");
    broken.put("visual.proj", new long[] {64, 32});
    broken.put("logit_scale", new long[] {1});
    broken.put("extra", new long[] {3});
    assertThatThrownBy(() -> StateDictSchema.of(config).validateShapes(broken, "ckpt"))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("1 missing: visual.ln_post.bias [64]")
        .hasMessageContaining("1 unexpected: extra [3]")
        .hasMessageContaining("2 with the wrong shape: visual.proj is [64, 32], expected [64, 64];"
            + " logit_scale is [1], expected []");
  }

  @Test
  void recognisesOtherLayouts() {
    Map<String, long[]> hf = new LinkedHashMap<>();
    hf.put("text_model.embeddings.token_embedding.weight", new long[] {49408, 32});
    hf.put("vision_model.embeddings.patch_embedding.weight", new long[] {64, 3, 32, 32});
    hf.put("logit_scale", new long[] {});
    expectHint(hf, "look like a Hugging Face transformers CLIPModel checkpoint");

    Map<String, long[]> ddp = new LinkedHashMap<>();
    shapes.forEach((k, v) -> ddp.put("module." + k, v));
    expectHint(ddp, "DataParallel");

    Map<String, long[]> training = Map.of("state_dict", new long[] {}, "epoch", new long[] {});
    expectHint(training, "training checkpoint");

    Map<String, long[]> bias = new LinkedHashMap<>(shapes);
    bias.put("visual.proj.bias", new long[] {64});
    expectHint(bias, "bias-free");

    Map<String, long[]> resnet = new LinkedHashMap<>(shapes);
    resnet.put("visual.layer1.0.conv1.weight", new long[] {64, 64, 1, 1});
    expectHint(resnet, "ModifiedResNet");

    Map<String, long[]> deeper = new LinkedHashMap<>(shapes);
    deeper.put("visual.transformer.resblocks.2.ln_1.weight", new long[] {64});
    expectHint(deeper, "3 vision transformer blocks, the configuration says 2");

    Map<String, long[]> grid = new LinkedHashMap<>(shapes);
    grid.put("visual.positional_embedding", new long[] {197, 64});
    expectHint(grid, "open_clip can interpolate positional embeddings, clip4j does not");
  }

  private static void expectHint(Map<String, long[]> actual, String hint) {
    assertThatThrownBy(() -> StateDictSchema.of(config).validateShapes(actual, "ckpt"))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("hint: ")
        .hasMessageContaining(hint);
  }

  @Test
  void requiresFloatingPointTensors() {
    Map<String, Tensor> sd = new LinkedHashMap<>(stateDict);
    sd.put("logit_scale", torch.ones(new long[] {}).to(ScalarType.Long));
    sd.put("ln_final.bias", sd.get("ln_final.bias").to(ScalarType.Half));
    assertThatThrownBy(() -> StateDictSchema.of(config).validate(sd, "ckpt"))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("1 not floating point: logit_scale (Long)");
  }

  @Test
  void followsTheConfiguration() throws Exception {
    String json = """
        {"embed_dim": 16, "vision_cfg": {"image_size": 64, "layers": 1, "width": 32, "head_width": 16,
          "patch_size": 16, "ls_init_value": 0.1, "no_ln_pre": true, "mlp_ratio": 2.5},
         "text_cfg": {"context_length": 8, "vocab_size": 100, "width": 24, "heads": 3, "layers": 1,
          "ls_init_value": 0.1}}""";
    Map<String, long[]> s = StateDictSchema.of(ModelConfig.parse(json, "x")).shapes();
    assertThat(s).containsKeys("visual.transformer.resblocks.0.ls_1.gamma", "transformer.resblocks.0.ls_2.gamma")
        .doesNotContainKeys("visual.ln_pre.weight", "visual.ln_pre.bias", "visual.transformer.resblocks.1.ln_1.weight");
    assertThat(s.get("visual.positional_embedding")).containsExactly(17, 32);
    assertThat(s.get("visual.transformer.resblocks.0.mlp.c_fc.weight")).containsExactly(80, 32);
    assertThat(s.get("transformer.resblocks.0.attn.in_proj_weight")).containsExactly(72, 24);
    assertThat(s.get("text_projection")).containsExactly(24, 16);
    assertThat(s.get("visual.proj")).containsExactly(32, 16);
  }
}
