package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import dev.clip4j.model.hf.HfClipDirectory;
import dev.clip4j.model.hf.HfPreprocessorConfig;
import dev.clip4j.model.hf.HfSiglipConfig;
import dev.clip4j.model.hf.HfSiglipWeights;
import dev.clip4j.model.io.LazyTensor;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.StateDictTensors;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.preprocess.RgbConversion;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face transformers {@code SiglipModel} directory (google/siglip-*, fixed-resolution
 * google/siglip2-*), read onto clip4j's SigLIP architecture ({@link Architecture.Siglip}): {@code
 * config.json} through {@link HfSiglipConfig} (activations and LayerNorm eps as transformers reads
 * them, defaults named in the provenance), the weights through {@link HfSiglipWeights} (every key,
 * shape and dtype checked from the header, all problems listed; q/k/v fused and the pooling head's
 * in-projection split when each tensor is read), {@code preprocessor_config.json} through {@link
 * HfPreprocessorConfig#readSiglip}. Texts are tokenized with {@code tokenizer.json} as
 * transformers' {@code SiglipProcessor(padding="max_length")} does (rows padded to {@code
 * max_position_embeddings} with the pad token); a directory with only a SentencePiece {@code
 * spiece.model} (SigLIP v1 hub repositories) tokenizes as transformers' slow {@code SiglipTokenizer}
 * (see {@link dev.clip4j.tokenize.SiglipSlowTokenizer}), its tokenizer_config.json checked at load.
 */
final class HfSiglipReader implements ModelReader {
  static final String SPIECE = "spiece.model";

  @Override
  public ModelFormat format() {
    return ModelFormat.HF_SIGLIP;
  }

  @Override
  public ModelDescription read(Path dir, LoadOptions options) {
    if (!Files.isDirectory(dir)) {
      throw new InvalidModelException(dir + " is not a directory");
    }
    if (options.expectedSha256().isPresent()) {
      throw new InvalidModelException(dir + ": a SHA-256 pin names one model file, but this is a directory");
    }
    Path cfgFile = dir.resolve(HfClipDirectory.CONFIG);
    HfSiglipConfig hf = HfSiglipConfig.parse(cfgFile);
    SiglipConfig config = hf.config();
    if (options.activation().isPresent()) {
      throw new InvalidModelException(dir + ": an activation was given, but a SigLIP's activations are fixed by its"
          + " configuration (" + config.activationSource() + ")");
    }
    Path preFile = dir.resolve(HfPreprocessorConfig.FILE);
    if (!Files.exists(preFile)) {
      throw new InvalidModelException(dir + ": no " + HfPreprocessorConfig.FILE + ": the image preprocessing of a"
          + " transformers SigLIP is stated there, and clip4j does not guess it");
    }
    PreprocessConfig processor = HfPreprocessorConfig.readSiglip(preFile);
    if (processor.imageSize() != config.vision().imageSize()) {
      throw new InvalidModelException(preFile + ": the processor makes " + processor.imageSize() + " px inputs but "
          + cfgFile + " says vision_config.image_size = " + config.vision().imageSize()
          + " (transformers' model refuses that size)");
    }
    // A squash resize has no crop; what open_clip's rules change here is only when RGB conversion happens.
    PreprocessConfig preprocess = options.preprocessRules() == PreprocessRules.TRANSFORMERS ? processor
        : processor.toBuilder().rgbConversion(RgbConversion.AFTER_RESIZE).build();

    int context = config.text().contextLength();
    List<Path> files = new ArrayList<>(List.of(cfgFile, preFile));
    TokenizerSpec tokenizer;
    if (Files.isRegularFile(dir.resolve("tokenizer.json"))) {
      dev.clip4j.model.hf.HfTokenizerConfig.checkSpecialTokens(dir); // Gemma/Llama classes rebuild the post-processor
      tokenizer = new TokenizerSpec.TransformersHf(dir, context);
      files.add(dir.resolve("tokenizer.json"));
      if (Files.isRegularFile(dir.resolve("tokenizer_config.json"))) {
        files.add(dir.resolve("tokenizer_config.json"));
      }
    } else if (Files.isRegularFile(dir.resolve(SPIECE))) {
      dev.clip4j.tokenize.SiglipSlowTokenizer.checkConfig(dir); // what clip4j cannot reproduce is refused now
      tokenizer = new TokenizerSpec.TransformersSiglipSpiece(dir, context);
      if (Files.isRegularFile(dir.resolve("tokenizer_config.json"))) {
        files.add(dir.resolve("tokenizer_config.json"));
      }
      files.add(dir.resolve(SPIECE));
    } else {
      throw new InvalidModelException(dir + ": no tokenizer: a transformers SigLIP directory holds tokenizer.json (+"
          + " tokenizer_config.json) or spiece.model");
    }

    Path weightsFile = HfClipDirectory.findWeights(dir);
    try (StateDict sd = HfClipDirectory.readWeights(weightsFile)) {
      HfSiglipWeights.of(config).validate(sd.tensors(), weightsFile.toString()); // from the header: no data read
    }
    files.add(weightsFile);
    java.util.function.Supplier<Map<String, String>> hashes = Hashing.directory(dir, files);
    WeightSource weights = WeightSource.streaming(() -> stream(dir, config));
    return new ModelDescription(format(), dir, new Architecture.Siglip(config, weights), preprocess, tokenizer, hashes);
  }

  /** The weights under clip4j's SigLIP names, each made (renamed, fused, split) when the builder reads it. */
  private static StreamedWeights stream(Path dir, SiglipConfig config) {
    Path file = HfClipDirectory.findWeights(dir);
    StateDict sd = HfClipDirectory.readWeights(file);
    try {
      Map<String, LazyTensor> byName = new LinkedHashMap<>();
      Map<String, long[]> shapes = new LinkedHashMap<>();
      for (LazyTensor t : HfSiglipWeights.of(config).toSiglip(sd.tensors(), file.toString())) {
        byName.put(t.name(), t);
        shapes.put(t.name(), t.shape());
      }
      return new StreamedWeights(shapes, name -> StateDictTensors.toTensor(byName.get(name).load()), sd::close,
          file.toString());
    } catch (RuntimeException e) {
      sd.close();
      throw e;
    }
  }
}
