package dev.clip4j.model;

/**
 * The causal text tower of an open_clip CLIP ({@code model_cfg.text_cfg}), as clip4j implements
 * it: token and positional embeddings, a causal transformer, {@code ln_final} and pooling at the
 * end-of-text token (the largest id of each row). Only configurations clip4j computes exactly are
 * representable: {@link ModelConfig#parse} refuses the rest.
 *
 * @param contextLength positions of the positional embedding (longest token sequence)
 * @param vocabSize rows of the token embedding; token ids must be in {@code [0, vocabSize)}
 * @param width transformer width
 * @param heads number of attention heads
 * @param layers number of residual attention blocks
 * @param mlpRatio MLP hidden width factor (4 in open_clip 2.20)
 * @param layerScale whether the blocks have LayerScale ({@code ls_init_value} set)
 */
public record TextConfig(
    int contextLength, int vocabSize, int width, int heads, int layers, double mlpRatio, boolean layerScale) {

  /** MLP hidden width, {@code int(width * mlpRatio)} as Python truncates it. */
  public int mlpWidth() {
    return (int) (width * mlpRatio);
  }
}
