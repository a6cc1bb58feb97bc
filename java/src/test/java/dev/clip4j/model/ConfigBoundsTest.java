package dev.clip4j.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidModelException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The size bound a configuration passes before {@link StateDictSchema#of} expands it. */
class ConfigBoundsTest {
  private static ModelConfig config(int visionLayers, int textLayers, String extraVision) {
    return ModelConfig.parse("{\"embed_dim\": 16, \"vision_cfg\": {\"image_size\": 32, \"patch_size\": 16,"
        + " \"width\": 32, \"head_width\": 16, \"layers\": " + visionLayers + extraVision + "},"
        + " \"text_cfg\": {\"width\": 32, \"heads\": 2, \"layers\": " + textLayers + ", \"vocab_size\": 100,"
        + " \"context_length\": 8}}", "cfg.json");
  }

  @Test
  void countsWhatTheSchemaExpandsWithoutExpandingIt() {
    for (String extra : new String[] {"", ", \"ls_init_value\": 0.1", ", \"no_ln_pre\": true"}) {
      for (int layers : new int[] {1, 3, 12}) {
        ModelConfig c = config(layers, layers + 1, extra);
        StateDictSchema s = StateDictSchema.of(c);
        assertThat(ConfigBounds.expectedTensors(c)).as(extra + layers).isEqualTo(s.size());
        assertThat(ConfigBounds.expectedElements(c)).as(extra + layers).isEqualTo((double) s.parameterCount());
      }
    }
  }

  @Test
  void aConfigFarLargerThanTheWeightsIsRefusedInAFewLines() {
    ModelConfig small = config(2, 2, "");
    Map<String, long[]> weights = StateDictSchema.of(small).shapes();
    assertThat(weights).hasSize(62); // 8 + 2 * 12 vision, 6 + 2 * 12 text
    assertThatCode(() -> ConfigBounds.check(small, weights, "w")).doesNotThrowAnyException();
    // Up to 62 + SLACK expected tensors still get the full (capped) listing; one layer more does not.
    int listed = (int) ((62 + ConfigBounds.SLACK - 38) / 12);
    assertThat(ConfigBounds.expectedTensors(config(listed, 2, ""))).isLessThanOrEqualTo(62 + ConfigBounds.SLACK);
    assertThatCode(() -> ConfigBounds.check(config(listed, 2, ""), weights, "w")).doesNotThrowAnyException();
    assertThatThrownBy(() -> ConfigBounds.check(config(listed + 1, 2, ""), weights, "w"))
        .isInstanceOf(InvalidModelException.class);
    long t0 = System.nanoTime();
    ModelConfig huge = config(1_000_000_000, 2, "");
    assertThatThrownBy(() -> ConfigBounds.check(huge, weights, "weights.safetensors"))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("weights.safetensors")
        .hasMessageContaining("12,000,000,038 tensors")
        .hasMessageContaining("vision_cfg.layers 1,000,000,000")
        .hasMessageContaining("the weights hold 62 tensors")
        .hasMessageContaining("2 vision and 2 text transformer blocks")
        .satisfies(e -> assertThat(e.getMessage().length()).isLessThan(1000));
    assertThat((System.nanoTime() - t0) / 1e9).isLessThan(1.0);
  }

  @Test
  void mismatchListingsAreCappedWithACount() {
    ModelConfig small = config(2, 2, "");
    Map<String, long[]> weights = new LinkedHashMap<>(StateDictSchema.of(small).shapes());
    ModelConfig more = config(300, 2, ""); // 298 blocks of 12 tensors missing: expanded, then capped
    assertThatThrownBy(() -> StateDictSchema.of(more).validateShapes(weights, "w"))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("3576 missing: visual.transformer.resblocks.2.ln_1.weight [32]")
        .hasMessageContaining("... and 3536 more")
        .hasMessageContaining("the checkpoint has 2 vision transformer blocks, the configuration says 300")
        .satisfies(e -> assertThat(e.getMessage().length()).isLessThan(6000));
  }
}
