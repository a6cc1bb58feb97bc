package dev.clip4j.cli;

import dev.clip4j.InvalidModelException;
import dev.clip4j.model.ModelResources;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.tokenize.ClipTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;

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

  /**
   * The tokenizer of a model: {@code --vocab} if given, else the vocabulary the model carries
   * (open_clip directory, bundle), else one found beside a TorchScript file.
   */
  static ClipTokenizer tokenizer(ModelResources res, Path modelPath, Path vocab) {
    if (vocab != null) {
      return Files.isDirectory(vocab) ? ClipTokenizer.fromDirectory(vocab) : ClipTokenizer.fromBpeVocab(vocab);
    }
    if (res != null && res.bpeVocabGz() != null) {
      return ClipTokenizer.fromBpeVocab(res.bpeVocabGz(), modelPath + " (tokenizer vocabulary)");
    }
    Path dir = Files.isDirectory(modelPath) ? modelPath : modelPath.toAbsolutePath().getParent();
    try {
      return ClipTokenizer.fromDirectory(dir);
    } catch (InvalidModelException e) {
      throw new InvalidModelException(modelPath + " carries no tokenizer vocabulary and none was found beside it;"
          + " pass --vocab PATH (bpe_simple_vocab_16e6.txt.gz, or a directory with vocab.json + merges.txt)", e);
    }
  }
}
