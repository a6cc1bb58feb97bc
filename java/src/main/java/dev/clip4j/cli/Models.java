package dev.clip4j.cli;

import dev.clip4j.model.ModelResources;
import dev.clip4j.preprocess.PreprocessConfig;

/** Helpers the model commands share. */
final class Models {
  private Models() {}

  /**
   * The preprocessing of a model: its {@code preprocess_cfg} when it has one (open_clip
   * directories, bundles), else open_clip's OpenAI defaults at the model's image size.
   */
  static PreprocessConfig preprocessConfig(ModelResources res, int imageSize) {
    if (res != null && res.preprocessCfg() != null) {
      return PreprocessConfig.fromOpenClip(res.preprocessCfg(), imageSize);
    }
    return PreprocessConfig.builder().imageSize(imageSize).build();
  }
}
