package dev.clip4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.tokenize.ClipTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;

/**
 * What tokenizing and preprocessing need to know about a model, read without loading its
 * weights: context length, image size, {@code preprocess_cfg} and the tokenizer vocabulary.
 * open_clip directories and bundles carry all of it; for a TorchScript file (or a bare
 * vocabulary file or directory) open_clip's defaults apply (context 77, image 224, OpenAI
 * normalisation) and the vocabulary is looked for beside it.
 */
public final class ModelMetadata {
  private final Path path;
  private final int contextLength;
  private final int imageSize;
  private final ObjectNode preprocessCfg;
  private final byte[] bpeVocab;
  private final Path vocabDir;

  private ModelMetadata(Path path, int contextLength, int imageSize, ObjectNode preprocessCfg, byte[] bpeVocab, Path vocabDir) {
    this.path = path;
    this.contextLength = contextLength;
    this.imageSize = imageSize;
    this.preprocessCfg = preprocessCfg;
    this.bpeVocab = bpeVocab;
    this.vocabDir = vocabDir;
  }

  /** Reads the metadata of a model directory, bundle, TorchScript file, or vocabulary file/directory. */
  public static ModelMetadata read(Path path) {
    if (Files.isDirectory(path) && Files.isRegularFile(path.resolve(OpenClipModels.CONFIG))) {
      ModelConfig cfg = ModelConfig.parse(path.resolve(OpenClipModels.CONFIG));
      return new ModelMetadata(path, cfg.text().contextLength(), cfg.vision().imageSize(), cfg.preprocessCfg(), null, path);
    }
    if (Files.isDirectory(path)) {
      return new ModelMetadata(path, 77, 224, null, null, path);
    }
    String name = path.getFileName().toString();
    if (name.endsWith(".txt.gz") || name.endsWith(".txt")) {
      try {
        return new ModelMetadata(path, 77, 224, null, Files.readAllBytes(path), null);
      } catch (IOException e) {
        throw new InvalidModelException(path + ": cannot read: " + e.getMessage(), e);
      }
    }
    ModelFormat format = ModelFormat.detect(path);
    Path beside = path.toAbsolutePath().getParent();
    if (format == ModelFormat.CLIP4J_BUNDLE) {
      Map<String, byte[]> extra = Bundles.readExtraEntries(path);
      JsonNode manifest;
      try {
        manifest = new ObjectMapper().readTree(extra.get(ModelFormat.BUNDLE_MANIFEST));
      } catch (IOException e) {
        throw new InvalidModelException(path + ": the bundle manifest is not valid JSON", e);
      }
      ModelConfig cfg = ModelConfig.fromModelCfg(manifest.get("model_cfg"),
          manifest.get("preprocess_cfg") instanceof ObjectNode o ? o : null, path + " (bundle manifest)");
      byte[] vocab = extra.containsKey(Bundles.VOCAB_ENTRY) ? Base64.getDecoder().decode(extra.get(Bundles.VOCAB_ENTRY)) : null;
      return new ModelMetadata(path, cfg.text().contextLength(), cfg.vision().imageSize(), cfg.preprocessCfg(), vocab, beside);
    }
    return new ModelMetadata(path, 77, 224, null, null, beside);
  }

  /** Token sequence length of the text tower. */
  public int contextLength() {
    return contextLength;
  }

  /** Input resolution of the image tower. */
  public int imageSize() {
    return imageSize;
  }

  /** The model's preprocessing (its preprocess_cfg, or open_clip's OpenAI defaults at its image size). */
  public PreprocessConfig preprocessConfig() {
    if (preprocessCfg == null) {
      return PreprocessConfig.builder().imageSize(imageSize).build();
    }
    try {
      return PreprocessConfig.fromOpenClip(preprocessCfg, imageSize);
    } catch (IllegalArgumentException e) {
      throw new InvalidModelException(path + ": preprocess_cfg: " + e.getMessage(), e);
    }
  }

  /** The model's tokenizer. */
  public ClipTokenizer tokenizer() {
    if (bpeVocab != null) {
      return ClipTokenizer.fromBpeVocab(bpeVocab, path.toString());
    }
    try {
      return ClipTokenizer.fromDirectory(vocabDir);
    } catch (InvalidModelException e) {
      throw new InvalidModelException(path + " carries no tokenizer vocabulary and none was found in " + vocabDir, e);
    }
  }
}
