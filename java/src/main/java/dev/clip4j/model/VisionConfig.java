package dev.clip4j.model;

/**
 * The ViT image tower of an open_clip CLIP ({@code model_cfg.vision_cfg}), as clip4j implements
 * it. Only configurations clip4j computes exactly are representable: {@link ModelConfig#parse}
 * refuses the rest.
 *
 * @param imageSize input side in pixels (square)
 * @param patchSize patch side in pixels (square)
 * @param width transformer width
 * @param layers number of residual attention blocks
 * @param headWidth width of one attention head ({@code heads = width / headWidth})
 * @param mlpRatio MLP hidden width factor ({@code mlpWidth = int(width * mlpRatio)})
 * @param layerScale whether the blocks have LayerScale ({@code ls_init_value} set)
 * @param globalAveragePool open_clip 2.20's {@code global_average_pool}: mean over all tokens
 *     (class token included) instead of the class token
 * @param lnPre whether {@code ln_pre} exists (false for {@code no_ln_pre})
 */
public record VisionConfig(
    int imageSize,
    int patchSize,
    int width,
    int layers,
    int headWidth,
    double mlpRatio,
    boolean layerScale,
    boolean globalAveragePool,
    boolean lnPre) {

  /** Number of attention heads, {@code width / headWidth} as open_clip computes it. */
  public int heads() {
    return width / headWidth;
  }

  /** Patches per side, {@code imageSize / patchSize} (floor, as open_clip). */
  public int gridSize() {
    return imageSize / patchSize;
  }

  /** Tokens per image: patches plus the class token. */
  public int tokens() {
    return gridSize() * gridSize() + 1;
  }

  /** MLP hidden width, {@code int(width * mlpRatio)} as Python truncates it. */
  public int mlpWidth() {
    return (int) (width * mlpRatio);
  }
}
