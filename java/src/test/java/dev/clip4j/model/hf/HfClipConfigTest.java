package dev.clip4j.model.hf;

import static dev.clip4j.model.hf.HfFixtures.utf8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import dev.clip4j.model.MlpActivation;
import dev.clip4j.model.ModelConfig;
import dev.clip4j.model.TextConfig;
import dev.clip4j.model.VisionConfig;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** config.json of transformers CLIP directories against open_clip's config and transformers' own reading. */
class HfClipConfigTest {

  @Test
  void fixtureConfigsAreTheOpenClipFixturesConfigs() {
    for (String name : new String[] {"tiny-gelu", "tiny-quickgelu"}) {
      Path dir = HfFixtures.model(name);
      HfClipConfig hf = HfClipConfig.parse(dir.resolve("hf/config.json"));
      ModelConfig oc = ModelConfig.parse(dir.resolve("open_clip_config.json"));
      assertThat(hf.kind()).isEqualTo(HfClipConfig.Kind.CLIP_MODEL);
      ModelConfig mc = hf.toModelConfig();
      assertThat(mc.vision()).as(name).isEqualTo(oc.vision());
      assertThat(mc.text()).as(name).isEqualTo(oc.text());
      assertThat(mc.embedDim()).isEqualTo(oc.embedDim()).isEqualTo(64);
      assertThat(mc.quickGelu()).isEqualTo(oc.quickGelu());
      Activation expected = oc.quickGelu() ? Activation.QUICK_GELU : Activation.GELU;
      MlpActivation act = hf.activation();
      assertThat(act.activation()).isEqualTo(expected);
      assertThat(act.source()).contains("config.json").contains("vision_config.hidden_act = \"" + act.id() + "\"")
          .contains("text_config.hidden_act = \"" + act.id() + "\"");
      assertThat(hf.text().eosTokenId()).isEqualTo(49407);
      assertThat(hf.dtype()).isEqualTo("float32");
    }
  }

  /** Every config the generator saved with transformers, against what transformers computes with. */
  @Test
  void generatorConfigsMatchTransformersEffectiveValues() {
    JsonNode expected = HfFixtures.json(HfFixtures.resource("configs/expected.json"));
    int checked = 0;
    for (Iterator<Map.Entry<String, JsonNode>> it = expected.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (e.getKey().startsWith("_")) {
        continue;
      }
      HfClipConfig hf = HfClipConfig.parse(HfFixtures.resource("configs/" + e.getKey() + ".json"));
      JsonNode x = e.getValue();
      assertThat(hf.kind().modelType()).as(e.getKey()).isEqualTo(x.get("model_type").asText());
      assertThat(hf.projectionDim()).isEqualTo(x.get("projection_dim").asInt());
      JsonNode xv = x.get("vision");
      assertThat(hf.hasVision()).isEqualTo(xv != null);
      if (xv != null) {
        VisionConfig v = hf.vision().config();
        assertThat(v.width()).isEqualTo(xv.get("hidden_size").asInt());
        assertThat(v.heads()).isEqualTo(xv.get("num_attention_heads").asInt());
        assertThat(v.layers()).isEqualTo(xv.get("num_hidden_layers").asInt());
        assertThat(v.mlpWidth()).isEqualTo(xv.get("intermediate_size").asInt());
        assertThat(v.imageSize()).isEqualTo(xv.get("image_size").asInt());
        assertThat(v.patchSize()).isEqualTo(xv.get("patch_size").asInt());
        assertThat(hf.vision().activation().id()).as(e.getKey()).isEqualTo(xv.get("hidden_act").asText());
      }
      JsonNode xt = x.get("text");
      assertThat(hf.hasText()).isEqualTo(xt != null);
      if (xt != null) {
        TextConfig t = hf.text().config();
        assertThat(t.width()).isEqualTo(xt.get("hidden_size").asInt());
        assertThat(t.heads()).isEqualTo(xt.get("num_attention_heads").asInt());
        assertThat(t.layers()).isEqualTo(xt.get("num_hidden_layers").asInt());
        assertThat(t.mlpWidth()).isEqualTo(xt.get("intermediate_size").asInt());
        assertThat(t.vocabSize()).isEqualTo(xt.get("vocab_size").asInt());
        assertThat(t.contextLength()).isEqualTo(xt.get("max_position_embeddings").asInt());
        assertThat(hf.text().eosTokenId()).isEqualTo(xt.get("eos_token_id").asInt());
        assertThat(hf.text().activation().id()).as(e.getKey()).isEqualTo(xt.get("hidden_act").asText());
      }
      checked++;
    }
    assertThat(checked).isEqualTo(6);
  }

  @Test
  void absentHiddenActIsTransformersDefaultQuickGeluAndSaysSo() {
    HfClipConfig hf = HfClipConfig.parse(HfFixtures.resource("configs/clip-hidden-act-absent.json"));
    assertThat(hf.activation().activation()).isEqualTo(Activation.QUICK_GELU);
    assertThat(hf.vision().activation().source())
        .contains("vision_config.hidden_act is absent: transformers' CLIPVisionConfig default is quick_gelu");
    assertThat(hf.text().activation().source()).contains("CLIPTextConfig default is quick_gelu");
  }

  /** openai/clip-vit-*: text_config_dict wins over text_config, with the class defaults for what it omits. */
  @Test
  void legacyConfigDictOverridesTheTowerConfigAsTransformersDoes() {
    HfClipConfig hf = HfClipConfig.parse(HfFixtures.resource("configs/clip-legacy-config-dict.json"));
    // text_config says gelu and eps 1e-6; text_config_dict says neither: quick_gelu, 1e-5.
    assertThat(hf.text().activation().activation()).isEqualTo(Activation.QUICK_GELU);
    assertThat(hf.text().activation().source()).contains("text_config_dict.hidden_act is absent")
        .contains("overrides text_config.hidden_act = \"gelu\"");
    assertThat(hf.vision().activation().source()).contains("vision_config_dict.hidden_act = \"quick_gelu\"");
  }

  @Test
  void singleTowerConfigs() {
    HfClipConfig v = HfClipConfig.parse(HfFixtures.resource("configs/vision-with-projection.json"));
    assertThat(v.kind()).isEqualTo(HfClipConfig.Kind.VISION_WITH_PROJECTION);
    assertThat(v.text()).isNull();
    assertThat(v.activation().activation()).isEqualTo(Activation.GELU);
    assertThat(v.activation().source()).endsWith(": hidden_act = \"gelu\"");
    assertThat(v.vision().config()).isEqualTo(new VisionConfig(8, 4, 16, 2, 4, 3.0, false, false, true));
    assertThatThrownBy(v::toModelConfig).isInstanceOf(Clip4jException.class)
        .matches(ex -> ((Clip4jException) ex).code() == ErrorCode.UNSUPPORTED)
        .hasMessageContaining("only the image tower");
    HfClipConfig t = HfClipConfig.parse(HfFixtures.resource("configs/text-with-projection.json"));
    assertThat(t.kind()).isEqualTo(HfClipConfig.Kind.TEXT_WITH_PROJECTION);
    assertThat(t.vision()).isNull();
    assertThat(t.text().config()).isEqualTo(new TextConfig(7, 50, 8, 2, 2, 4.0, false));
    assertThat(t.activation().activation()).isEqualTo(Activation.QUICK_GELU);
  }

  @Test
  void mlpRatioGivesTheIntermediateSizeExactly() {
    // ViT-bigG (1664 -> 8192), ViT-H (1280 -> 5120), odd sizes; open_clip sizes the MLP int(width * ratio).
    int[][] cases = {{1664, 8192}, {1280, 5120}, {768, 3072}, {7, 10}, {3, 1000}, {1000, 3}, {65536, 65535}};
    for (int[] c : cases) {
      double r = HfClipConfig.mlpRatio(c[0], c[1]);
      assertThat((int) (c[0] * r)).as(c[0] + " -> " + c[1]).isEqualTo(c[1]);
    }
    int n = 0;
    for (int w = 1; w <= 2048; w += 7) {
      for (int i = 1; i <= 9000; i += 37) {
        assertThat((int) (w * HfClipConfig.mlpRatio(w, i))).isEqualTo(i);
        n++;
      }
    }
    assertThat(n).isGreaterThan(70_000);
  }

  @Test
  void toJsonReadsBackToTheSameModel() {
    ModelConfig oc = ModelConfig.parse(HfFixtures.model("tiny-quickgelu").resolve("open_clip_config.json"));
    MlpActivation act = new MlpActivation(Activation.QUICK_GELU, "test");
    ObjectNode json = HfClipConfig.toJson(oc, act, "float32", 49406, 49407);
    HfClipConfig back = HfClipConfig.parse(utf8(json.toString()), "written");
    assertThat(back.toModelConfig().vision()).isEqualTo(oc.vision());
    assertThat(back.toModelConfig().text()).isEqualTo(oc.text());
    assertThat(back.projectionDim()).isEqualTo(64);
    assertThat(back.activation().activation()).isEqualTo(Activation.QUICK_GELU);
    assertThat(back.text().eosTokenId()).isEqualTo(49407);
    // The fixture's hf/config.json says the same.
    HfClipConfig fixture = HfClipConfig.parse(HfFixtures.model("tiny-quickgelu").resolve("hf/config.json"));
    assertThat(back.vision()).usingRecursiveComparison().ignoringFields("activation.source").isEqualTo(fixture.vision());
    assertThat(back.text()).usingRecursiveComparison().ignoringFields("activation.source").isEqualTo(fixture.text());
    // An end-of-text id that is not vocab_size - 1: the legacy 2 (argmax pooling) is written.
    assertThat(HfClipConfig.toJson(oc, act, null, 0, 5).get("text_config").get("eos_token_id").asInt()).isEqualTo(2);
    // What transformers' CLIP cannot express.
    ModelConfig ls = new ModelConfig(64, true, new VisionConfig(224, 32, 64, 2, 16, 4.0, true, false, true), oc.text(),
        null, null, "ls");
    assertThatThrownBy(() -> HfClipConfig.toJson(ls, act, null, 1, 2)).isInstanceOf(Clip4jException.class)
        .hasMessageContaining("LayerScale");
  }

  // ---------------------------------------------------------------------------- refusals

  private static final String BASE = "{\"model_type\":\"clip\",\"projection_dim\":64,"
      + "\"text_config\":{\"hidden_size\":32,\"intermediate_size\":128,\"num_attention_heads\":2,\"num_hidden_layers\":2,"
      + "\"hidden_act\":\"gelu\"},"
      + "\"vision_config\":{\"hidden_size\":64,\"intermediate_size\":256,\"num_attention_heads\":4,\"num_hidden_layers\":2,"
      + "\"image_size\":224,\"patch_size\":32,\"hidden_act\":\"gelu\"}}";

  private static void refused(String json, String... fragments) {
    assertThatThrownBy(() -> HfClipConfig.parse(utf8(json), "config.json"))
        .as(json).isInstanceOf(InvalidModelException.class).hasMessageContainingAll(fragments);
  }

  @Test
  void baseParses() {
    assertThat(HfClipConfig.parse(utf8(BASE), "config.json").toModelConfig().embedDim()).isEqualTo(64);
  }

  @Test
  void activationsOtherThanGeluAndQuickGeluAreRefusedByName() {
    for (String act : new String[] {"gelu_new", "gelu_pytorch_tanh", "relu", "gelu_fast", "silu", "GELU"}) {
      refused(BASE.replace("\"hidden_act\":\"gelu\"}}", "\"hidden_act\":\"" + act + "\"}}"),
          "vision_config.hidden_act is \"" + act + "\"", "not implemented");
    }
    refused(BASE.replace("\"hidden_act\":\"gelu\"},", "\"hidden_act\":5},"), "text_config.hidden_act must be a string");
    refused(BASE.replace("\"hidden_act\":\"gelu\"}}", "\"hidden_act\":\"quick_gelu\"}}"),
        "different MLP activations", "vision_config.hidden_act = \"quick_gelu\"", "text_config.hidden_act = \"gelu\"");
  }

  @Test
  void structuralProblemsAreRefusedNamingTheKey() {
    Map<String, String[]> cases = new LinkedHashMap<>();
    cases.put(BASE.replace("\"num_hidden_layers\":2,\"image_size\"", "\"num_hidden_layers\":2,\"layer_norm_eps\":1e-6,\"image_size\""),
        new String[] {"vision_config.layer_norm_eps is 1.0E-6", "not implemented yet"});
    cases.put(BASE.replace("\"num_attention_heads\":4", "\"num_attention_heads\":3"),
        new String[] {"vision_config.num_attention_heads", "does not divide hidden_size (64)"});
    cases.put(BASE.replace("\"patch_size\":32", "\"patch_size\":32,\"rope_scaling\":{}"),
        new String[] {"vision_config.rope_scaling", "not implemented"});
    cases.put(BASE.replace("\"projection_dim\":64", "\"projection_dim\":64,\"quantization_config\":{\"bits\":4}"),
        new String[] {"quantization_config"});
    cases.put(BASE.replace("\"clip\"", "\"siglip\""), new String[] {"model_type is 'siglip'"});
    cases.put(BASE.replace("\"model_type\":\"clip\",", ""), new String[] {"no \"model_type\""});
    cases.put(BASE.replace("\"patch_size\":32", "\"patch_size\":32,\"num_channels\":1"), new String[] {"num_channels is 1"});
    cases.put(BASE.replace("\"hidden_size\":64", "\"hidden_size\":1e400"), new String[] {"hidden_size"});
    cases.put(BASE.replace("\"hidden_size\":64", "\"hidden_size\":99999999999999999999"), new String[] {"vision_config.hidden_size"});
    cases.put(BASE.replace("\"hidden_size\":64", "\"hidden_size\":\"64\""), new String[] {"vision_config.hidden_size must be an integer"});
    cases.put(BASE.replace("\"hidden_size\":64", "\"hidden_size\":-64"), new String[] {"vision_config.hidden_size"});
    cases.put(BASE.replace("\"hidden_size\":64", "\"hidden_size\":64.5"), new String[] {"vision_config.hidden_size"});
    cases.put(BASE.replace("\"image_size\":224", "\"image_size\":[224,224]"), new String[] {"vision_config.image_size"});
    cases.put(BASE.replace("\"patch_size\":32", "\"patch_size\":300"), new String[] {"patch_size (300) is larger"});
    cases.put(BASE.replace("\"hidden_act\":\"gelu\"},", "\"hidden_act\":\"gelu\",\"eos_token_id\":7},"),
        new String[] {"text_config.eos_token_id is 7", "vocab_size - 1 (49407"});
    cases.put(BASE.replace("\"hidden_act\":\"gelu\"},", "\"hidden_act\":\"gelu\",\"vocab_size\":50},"),
        new String[] {"eos_token_id is 49407 (transformers' default)"});
    cases.put(BASE.replace("\"projection_dim\":64", "\"projection_dim\":64,\"pruned_heads\":{\"0\":[1]}"),
        new String[] {"pruned_heads is not empty"});
    cases.put(BASE.replace("\"projection_dim\":64", "\"projection_dim\":64,\"projection_dim\":32"), new String[] {"not valid JSON", "projection_dim"});
    cases.put(BASE.replace("\"text_config\":{", "\"text_config\":[{").replace("},\"vision_config\"", "}],\"vision_config\""),
        new String[] {"text_config must be a JSON object"});
    cases.put(BASE.replace("\"projection_dim\":64", "\"projection_dim\":64,\"architectures\":[\"CLIPForImageClassification\"]"),
        new String[] {"architectures names CLIPForImageClassification"});
    cases.put(BASE.replace("\"projection_dim\":64", "\"projection_dim\":64,\"dropout\":\"x\""), new String[] {"dropout must be a finite number"});
    cases.put(BASE.replace("\"hidden_act\":\"gelu\"},", "\"hidden_act\":\"gelu\",\"model_type\":\"bert\"},"),
        new String[] {"text_config.model_type is 'bert'"});
    cases.put("[" .repeat(100_000), new String[] {"not valid JSON"});
    cases.put("{\"model_type\":\"clip\"", new String[] {"not valid JSON"});
    cases.put("42", new String[] {"expected a JSON object"});
    cases.put("{\"model_type\":\"clip_vision_model\",\"architectures\":[\"CLIPVisionModel\"]}",
        new String[] {"CLIPVisionModel", "no visual_projection"});
    cases.put("{\"model_type\":\"clip_text_model\",\"vision_config\":{}}", new String[] {"vision_config", "does not know"});
    cases.forEach(HfClipConfigTest::refused);
    assertThat(cases).hasSize(27);
  }

  @Test
  void unknownKeysAreListedTogether() {
    refused(BASE.replace("\"projection_dim\":64", "\"projection_dim\":64,\"foo\":1,\"bar\":2"), "[foo, bar]");
  }

  @Test
  void harmlessKeysAreAccepted() {
    String noisy = BASE.replace("\"projection_dim\":64", "\"projection_dim\":64,\"architectures\":[\"CLIPModel\"],"
        + "\"torch_dtype\":\"float16\",\"transformers_version\":\"4.21.0\",\"initializer_factor\":1.0,"
        + "\"logit_scale_init_value\":2.6592,\"_name_or_path\":\"openai/clip\",\"pruned_heads\":{},"
        + "\"id2label\":{\"0\":\"LABEL_0\"},\"num_beams\":1,\"output_attentions\":false")
        .replace("\"hidden_act\":\"gelu\"},", "\"hidden_act\":\"gelu\",\"dropout\":0.1,\"attention_dropout\":0.1,"
            + "\"bos_token_id\":0,\"eos_token_id\":2,\"pad_token_id\":1,\"initializer_range\":0.02},");
    HfClipConfig hf = HfClipConfig.parse(utf8(noisy), "config.json");
    assertThat(hf.dtype()).isEqualTo("float16");
    assertThat(hf.text().eosTokenId()).isEqualTo(2);
  }
}
