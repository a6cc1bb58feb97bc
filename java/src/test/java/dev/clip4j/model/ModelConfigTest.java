package dev.clip4j.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ModelConfigTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A hub config like the fixtures', without quick_gelu, as a mutable tree. */
  private static ObjectNode hub() throws Exception {
    return (ObjectNode) JSON.readTree("""
        {"model_cfg": {"embed_dim": 64,
          "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 16, "patch_size": 32},
          "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}},
         "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}""");
  }

  private static ModelConfig parse(ObjectNode root) {
    return ModelConfig.parse(root.toString(), "test.json");
  }

  @Test
  void parsesTheFixtureConfig() {
    ModelConfig c = ModelConfig.parse(ModelFixtures.model("tiny-gelu").resolve("open_clip_config.json"));
    assertThat(c.embedDim()).isEqualTo(64);
    assertThat(c.quickGelu()).isFalse();
    assertThat(c.vision()).isEqualTo(new VisionConfig(224, 32, 64, 2, 16, 4.0, false, false, true));
    assertThat(c.vision().heads()).isEqualTo(4);
    assertThat(c.vision().tokens()).isEqualTo(50);
    assertThat(c.vision().mlpWidth()).isEqualTo(256);
    assertThat(c.text()).isEqualTo(new TextConfig(77, 49408, 32, 2, 2, 4.0, false));
    assertThat(c.preprocessCfg().get("interpolation").asText()).isEqualTo("bicubic");
    assertThat(c.preprocessCfg().get("mean").get(0).asDouble()).isEqualTo(0.48145466);
    assertThat(ModelConfig.parse(ModelFixtures.model("tiny-quickgelu").resolve("open_clip_config.json"))
        .quickGelu()).isTrue();
  }

  @Test
  void appliesOpenClip220DefaultsAndReadsBareModelConfigs() throws Exception {
    // open_clip's model_configs/ViT-B-32.json: no head_width, mlp_ratio, context_length ...
    ModelConfig c = ModelConfig.parse("""
        {"embed_dim": 512, "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
         "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}}""",
        "ViT-B-32.json");
    assertThat(c.vision().headWidth()).isEqualTo(64);
    assertThat(c.vision().heads()).isEqualTo(12);
    assertThat(c.vision().mlpWidth()).isEqualTo(3072);
    assertThat(c.vision().lnPre()).isTrue();
    assertThat(c.quickGelu()).isNull();
    assertThat(c.preprocessCfg()).isNull();
    // [h, w] sizes, LayerScale, no_ln_pre, a fractional mlp_ratio truncated like Python's int().
    ObjectNode root = hub();
    ObjectNode v = (ObjectNode) root.get("model_cfg").get("vision_cfg");
    v.putArray("image_size").add(224).add(224);
    v.put("ls_init_value", 1e-5);
    v.put("no_ln_pre", true);
    v.put("mlp_ratio", 4.3);
    v.put("pool_type", "tok");
    c = parse(root);
    assertThat(c.vision().imageSize()).isEqualTo(224);
    assertThat(c.vision().layerScale()).isTrue();
    assertThat(c.vision().lnPre()).isFalse();
    assertThat(c.vision().mlpWidth()).isEqualTo(275); // int(64 * 4.3) = int(275.2)
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
    "vision_cfg | timm_model_name | \"vit_base_patch16_224\" | timm",
    "vision_cfg | layers | [3, 4, 6, 3] | ModifiedResNet",
    "vision_cfg | attentional_pool | true | attentional pooling",
    "vision_cfg | input_patchnorm | true | patchnorm",
    "vision_cfg | output_tokens | true | output_tokens",
    "vision_cfg | pool_type | \"avg\" | pool_type",
    "vision_cfg | image_size | [224, 256] | non-square",
    "vision_cfg | qk_norm | true | custom attention blocks",
    "vision_cfg | act_kwargs | {\"approximate\": \"tanh\"} | activation arguments",
    "vision_cfg | some_new_option | 1 | some_new_option",
    "text_cfg | hf_model_name | \"roberta-base\" | Hugging Face",
    "text_cfg | embed_cls | true | embed_cls",
    "text_cfg | proj_bias | true | bias",
    "text_cfg | pool_type | \"last\" | argmax",
    "text_cfg | no_causal_mask | true | causal mask",
    "text_cfg | proj_type | \"mlp\" | linear",
    "model_cfg | multimodal_cfg | {\"width\": 512} | CoCa",
    "model_cfg | custom_text | true | CustomTextCLIP",
    "model_cfg | init_logit_bias | -10 | logit bias",
  })
  void refusesWhatItDoesNotImplement(String where, String key, String value, String expected) throws Exception {
    ObjectNode root = hub();
    ObjectNode target = (ObjectNode) (where.equals("model_cfg") ? root.get("model_cfg") : root.get("model_cfg").get(where));
    target.set(key, JSON.readTree(value));
    assertThatThrownBy(() -> parse(root))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining(key)
        .hasMessageContaining(expected)
        .hasMessageContaining("not implement");
  }

  @Test
  void reportsMalformedConfigs() throws Exception {
    assertThatThrownBy(() -> ModelConfig.parse("{not json", "x.json"))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("x.json");
    assertThatThrownBy(() -> ModelConfig.parse("{\"preprocess_cfg\": {}}", "x.json"))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("model_cfg");
    ObjectNode root = hub();
    ((ObjectNode) root.get("model_cfg").get("vision_cfg")).put("head_width", 128);
    assertThatThrownBy(() -> parse(root))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("heads");
    ObjectNode root2 = hub();
    ((ObjectNode) root2.get("model_cfg")).remove("embed_dim");
    assertThatThrownBy(() -> parse(root2))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("embed_dim is required");
    ObjectNode root3 = hub();
    ((ObjectNode) root3.get("model_cfg").get("text_cfg")).put("width", "wide");
    assertThatThrownBy(() -> parse(root3))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("text_cfg: width");
  }

  @Test
  void activationComesFromConfigOrModelName() throws Exception {
    ObjectNode root = hub();
    ModelConfig none = parse(root);
    ((ObjectNode) root.get("model_cfg")).put("quick_gelu", true);
    ModelConfig quick = parse(root);
    ((ObjectNode) root.get("model_cfg")).put("quick_gelu", false);
    ModelConfig gelu = parse(root);

    assertThat(MlpActivation.resolve(quick, null, null, null).activation()).isEqualTo(Activation.QUICK_GELU);
    MlpActivation g = MlpActivation.resolve(gelu, "ViT-B-32", null, null);
    assertThat(g.activation()).isEqualTo(Activation.GELU);
    assertThat(g.source()).contains("quick_gelu = false");
    assertThat(g.id()).isEqualTo("gelu");
    MlpActivation byName = MlpActivation.resolve(none, "ViT-B-32-quickgelu", null, null);
    assertThat(byName.activation()).isEqualTo(Activation.QUICK_GELU);
    assertThat(byName.source()).contains("ViT-B-32-quickgelu");
    // A stored/stated value (e.g. from a bundle) is enough on its own and must agree with the rest.
    MlpActivation stored = MlpActivation.resolve(none, null, Activation.GELU, "bundle manifest");
    assertThat(stored).isEqualTo(new MlpActivation(Activation.GELU, "bundle manifest"));
    assertThat(MlpActivation.resolve(quick, "ViT-B-32-quickgelu", Activation.QUICK_GELU, "option").activation())
        .isEqualTo(Activation.QUICK_GELU);
  }

  @Test
  void activationIsNeverGuessedAndContradictionsAreRefused() throws Exception {
    ObjectNode root = hub();
    ModelConfig none = parse(root);
    assertThatThrownBy(() -> MlpActivation.resolve(none, "ViT-B-32", null, null))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("not stated")
        .hasMessageContaining("\"quick_gelu\": true or false")
        .hasMessageContaining("-quickgelu");
    ((ObjectNode) root.get("model_cfg")).put("quick_gelu", false);
    ModelConfig gelu = parse(root);
    assertThatThrownBy(() -> MlpActivation.resolve(gelu, "ViT-B-32-quickgelu", null, null))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("contradictory")
        .hasMessageContaining("quick_gelu = false says gelu")
        .hasMessageContaining("'ViT-B-32-quickgelu' says quick_gelu");
    assertThatThrownBy(() -> MlpActivation.resolve(gelu, null, Activation.QUICK_GELU, "LoadOptions.activation"))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("LoadOptions.activation says quick_gelu");
    assertThatThrownBy(() -> MlpActivation.resolve(gelu, null, Activation.TANH, "x"))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
