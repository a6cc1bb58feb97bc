package dev.clip4j.model.hf;

import static dev.clip4j.model.hf.HfFixtures.utf8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.Clip4jException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.preprocess.CropRounding;
import dev.clip4j.preprocess.Interpolation;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.preprocess.ResizeMode;
import dev.clip4j.preprocess.RgbConversion;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** preprocessor_config.json of CLIPImageProcessor to clip4j's PreprocessConfig. */
class HfPreprocessorConfigTest {

  @Test
  void fixtureProcessor() {
    PreprocessConfig p = HfPreprocessorConfig.read(HfFixtures.model("tiny-gelu").resolve("hf/preprocessor_config.json"));
    assertThat(p.imageSize()).isEqualTo(224);
    assertThat(p.resizeMode()).isEqualTo(ResizeMode.SHORTEST);
    assertThat(p.interpolation()).isEqualTo(Interpolation.BICUBIC);
    assertThat(p.cropRounding()).isEqualTo(CropRounding.FLOOR);
    assertThat(p.rgbConversion()).isEqualTo(RgbConversion.BEFORE_RESIZE);
    assertThat(p.mean()).containsExactly(PreprocessConfig.OPENAI_MEAN);
    assertThat(p.std()).containsExactly(PreprocessConfig.OPENAI_STD);
    // Everything else is open_clip's default.
    assertThat(p.toBuilder().cropRounding(CropRounding.HALF_EVEN).rgbConversion(RgbConversion.AFTER_RESIZE).build())
        .isEqualTo(PreprocessConfig.defaults());
  }

  @Test
  void generatorProcessors() {
    PreprocessConfig bilinear = HfPreprocessorConfig.read(HfFixtures.resource("preprocess/processors/p48-bilinear/preprocessor_config.json"));
    assertThat(bilinear.imageSize()).isEqualTo(48);
    assertThat(bilinear.interpolation()).isEqualTo(Interpolation.BILINEAR);
    PreprocessConfig squash = HfPreprocessorConfig.read(HfFixtures.resource("preprocess/processors/p48-squash/preprocessor_config.json"));
    assertThat(squash.resizeMode()).isEqualTo(ResizeMode.SQUASH);
    PreprocessConfig raw = HfPreprocessorConfig.read(
        HfFixtures.resource("preprocess/processors/p48-nearest-no-normalize/preprocessor_config.json"));
    assertThat(raw.interpolation()).isEqualTo(Interpolation.NEAREST);
    assertThat(raw.mean()).containsExactly(0f, 0f, 0f);
    assertThat(raw.std()).containsExactly(1f, 1f, 1f);
  }

  /** openai/clip-vit-*'s older CLIPFeatureExtractor layout: sizes as ints. */
  @Test
  void legacyFeatureExtractorLayout() {
    String legacy = "{\"crop_size\":224,\"do_center_crop\":true,\"do_normalize\":true,\"do_resize\":true,"
        + "\"feature_extractor_type\":\"CLIPFeatureExtractor\",\"image_mean\":[0.48145466,0.4578275,0.40821073],"
        + "\"image_std\":[0.26862954,0.26130258,0.27577711],\"resample\":3,\"size\":224}";
    PreprocessConfig p = HfPreprocessorConfig.parse(utf8(legacy), "preprocessor_config.json");
    assertThat(p).isEqualTo(HfPreprocessorConfig.read(HfFixtures.model("tiny-gelu").resolve("hf/preprocessor_config.json")));
    // Defaults of CLIPImageProcessor for absent keys.
    assertThat(HfPreprocessorConfig.parse(utf8("{}"), "p")).isEqualTo(p);
    // A single number for mean/std.
    assertThat(HfPreprocessorConfig.parse(utf8("{\"image_mean\":0.5,\"image_std\":0.5}"), "p").mean())
        .containsExactly(0.5f, 0.5f, 0.5f);
  }

  @Test
  void rescaleFactorMustComputeExactlyXOver255() {
    assertThat(HfPreprocessorConfig.rescalesLikeDivisionBy255(1.0 / 255)).isTrue();
    assertThat(HfPreprocessorConfig.rescalesLikeDivisionBy255(0.00392156862745098)).isTrue();
    assertThat(HfPreprocessorConfig.rescalesLikeDivisionBy255(1.0 / 256)).isFalse();
    assertThat(HfPreprocessorConfig.rescalesLikeDivisionBy255(0.0039215)).isFalse();
  }

  @Test
  void unsupportedSettingsAreRefusedNamingTheKey() {
    Map<String, String[]> cases = new LinkedHashMap<>();
    cases.put("{\"resample\":1}", new String[] {"resample is 1 (LANCZOS)"});
    cases.put("{\"resample\":4}", new String[] {"resample is 4 (BOX)"});
    cases.put("{\"resample\":\"bicubic\"}", new String[] {"resample must be an integer"});
    cases.put("{\"size\":{\"shortest_edge\":256},\"crop_size\":{\"height\":224,\"width\":224}}",
        new String[] {"crop_size (224) differs from the resized size (256)"});
    cases.put("{\"size\":{\"height\":224,\"width\":256}}", new String[] {"size is 224x256", "square"});
    cases.put("{\"crop_size\":{\"height\":224,\"width\":200}}", new String[] {"crop_size is 224x200"});
    cases.put("{\"size\":{\"shortest_edge\":224,\"longest_edge\":500}}", new String[] {"size.longest_edge"});
    cases.put("{\"do_center_crop\":false}", new String[] {"do_center_crop is false"});
    cases.put("{\"do_resize\":false}", new String[] {"do_resize is false"});
    cases.put("{\"do_rescale\":false}", new String[] {"do_rescale is false"});
    cases.put("{\"rescale_factor\":0.5}", new String[] {"rescale_factor is 0.5"});
    cases.put("{\"do_pad\":true}", new String[] {"[do_pad]", "not implemented"});
    cases.put("{\"image_processor_type\":\"CLIPImageProcessorFast\"}", new String[] {"torchvision's tensor kernels"});
    cases.put("{\"image_processor_type\":\"SiglipImageProcessor\"}", new String[] {"image_processor_type is 'SiglipImageProcessor'"});
    cases.put("{\"image_mean\":[0.5,0.5]}", new String[] {"image_mean must be 3 finite numbers"});
    cases.put("{\"image_std\":[0.5,0,0.5]}", new String[] {"std"});
    cases.put("{\"image_std\":\"0.5\"}", new String[] {"image_std must be 3 finite numbers"});
    cases.put("{\"size\":99999999999}", new String[] {"size must be an integer in [1, 16384]"});
    cases.put("{\"size\":{\"shortest_edge\":-3}}", new String[] {"size.shortest_edge must be an integer"});
    cases.put("{\"size\":[224,224]}", new String[] {"size must be an integer or an object"});
    cases.put("{\"do_normalize\":\"yes\"}", new String[] {"do_normalize must be true or false"});
    cases.put("{\"size\":224,\"size\":336}", new String[] {"not valid JSON"});
    cases.put("[".repeat(100_000), new String[] {"not valid JSON"});
    cases.put("null", new String[] {"expected a JSON object"});
    cases.forEach((json, frags) -> assertThatThrownBy(() -> HfPreprocessorConfig.parse(utf8(json), "preprocessor_config.json"))
        .as(json).isInstanceOf(InvalidModelException.class).hasMessageContainingAll(frags));
    assertThat(cases).hasSize(24);
  }

  @Test
  void toJsonReadsBack() {
    PreprocessConfig hf = HfPreprocessorConfig.read(HfFixtures.model("tiny-gelu").resolve("hf/preprocessor_config.json"));
    String json = HfPreprocessorConfig.toJson(hf).toString();
    assertThat(HfPreprocessorConfig.parse(utf8(json), "written")).isEqualTo(hf);
    assertThat(json).contains("0.48145466").contains("0.27577711");
    // From open_clip's defaults: the same processor (transformers cannot say half-even or resize-then-convert).
    assertThat(HfPreprocessorConfig.parse(utf8(HfPreprocessorConfig.toJson(PreprocessConfig.defaults()).toString()), "w"))
        .isEqualTo(hf);
    PreprocessConfig odd = PreprocessConfig.builder().imageSize(336).interpolation(Interpolation.BILINEAR)
        .resizeMode(ResizeMode.SQUASH).mean(new float[] {0.1f, 0.2f, 0.3f}).std(new float[] {0.7f, 0.8f, 0.9f}).build();
    PreprocessConfig back = HfPreprocessorConfig.parse(utf8(HfPreprocessorConfig.toJson(odd).toString()), "w");
    assertThat(back.toBuilder().cropRounding(CropRounding.HALF_EVEN).rgbConversion(RgbConversion.AFTER_RESIZE).build())
        .isEqualTo(odd);
    assertThatThrownBy(() -> HfPreprocessorConfig.toJson(PreprocessConfig.builder().resizeMode(ResizeMode.LONGEST).build()))
        .isInstanceOf(Clip4jException.class).hasMessageContaining("LONGEST");
  }
}
