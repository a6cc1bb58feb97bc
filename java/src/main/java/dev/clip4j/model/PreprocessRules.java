package dev.clip4j.model;

import java.util.Locale;

/**
 * Whose implementation of a model's stated preprocessing clip4j follows. A Hugging Face
 * directory's {@code preprocessor_config.json} and open_clip's {@code preprocess_cfg} state the
 * same parameters (shortest edge, crop, resample filter, mean/std), but transformers' {@code
 * CLIPImageProcessor} and open_clip's transform differ in two details: the center crop's offset
 * when the excess is odd (floored vs rounded half-to-even) and when a non-RGB image becomes RGB
 * (before the resize vs after it). The same weights then give embeddings up to ~0.1 apart on such
 * images.
 */
public enum PreprocessRules {
  /**
   * open_clip's transform (torchvision + Pillow), whatever file layout the model came in: the same
   * weights give the same embeddings as an open_clip directory (the default; what clip4j's
   * conformance is measured against).
   */
  OPEN_CLIP,
  /**
   * Hugging Face transformers' {@code CLIPImageProcessor}, for Hugging Face directories: equal to
   * what {@code CLIPProcessor} gives in Python (checked against transformers 4.57). Other formats
   * have no transformers processor and keep open_clip's rules.
   */
  TRANSFORMERS;

  /** Parses "open_clip" or "transformers". */
  public static PreprocessRules parse(String s) {
    switch (s.trim().toLowerCase(Locale.ROOT).replace('-', '_')) {
      case "open_clip":
      case "openclip":
        return OPEN_CLIP;
      case "transformers":
      case "hf":
        return TRANSFORMERS;
      default:
        throw new IllegalArgumentException("unknown preprocessing rules '" + s + "' (open_clip or transformers)");
    }
  }
}
