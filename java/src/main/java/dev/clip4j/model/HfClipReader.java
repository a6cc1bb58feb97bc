package dev.clip4j.model;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.model.hf.HfClipConfig;
import dev.clip4j.model.hf.HfClipDirectory;
import dev.clip4j.model.io.LazyTensor;
import dev.clip4j.model.io.StateDictTensors;
import dev.clip4j.preprocess.CropRounding;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.preprocess.RgbConversion;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A Hugging Face transformers {@code CLIPModel} directory ({@code config.json}, {@code
 * model.safetensors} / {@code pytorch_model.bin} / sharded with an index, {@code vocab.json} +
 * {@code merges.txt}, {@code preprocessor_config.json}), read through {@code dev.clip4j.model.hf}:
 * the config becomes open_clip's, the activation comes from {@code hidden_act} (provenance names the
 * key), every weight is checked and renamed to open_clip's names (q/k/v fused, projections
 * transposed) one tensor at a time. The preprocessing parameters are the processor's; whose
 * implementation of them runs is {@link LoadOptions#preprocessRules()}.
 */
final class HfClipReader implements ModelReader {
  @Override
  public ModelFormat format() {
    return ModelFormat.HF_CLIP;
  }

  @Override
  public ModelDescription read(Path dir, LoadOptions options) {
    if (options.expectedSha256().isPresent()) {
      throw new InvalidModelException(dir + ": a SHA-256 pin names one model file, but this is a directory");
    }
    try (HfClipDirectory hf = HfClipDirectory.open(dir)) {
      HfClipConfig c = hf.config();
      if (!c.hasVision() || !c.hasText()) {
        throw new Clip4jException(ErrorCode.UNSUPPORTED, dir + ": a single-tower Hugging Face directory ("
            + c.kind() + ") is not loadable yet; clip4j builds CLIPModel directories (both towers)");
      }
      ModelConfig config = c.toModelConfig();
      MlpActivation activation = MlpActivation.agree(c.activation(), options.modelName().orElse(null),
          options.activation().orElse(null), "LoadOptions.activation", dir.toString());
      PreprocessConfig processor = hf.preprocess();
      PreprocessConfig preprocess = options.preprocessRules() == PreprocessRules.TRANSFORMERS ? processor
          : processor.toBuilder().cropRounding(CropRounding.HALF_EVEN).rgbConversion(RgbConversion.AFTER_RESIZE).build();
      hf.tokenizer(); // checks the vocabulary fits the model (end-of-text id, size) now, not at build
      TokenizerSpec tokenizer = new TokenizerSpec.ClipVocabFiles(dir.resolve("vocab.json"), dir.resolve("merges.txt"),
          config.text().contextLength());
      java.util.List<Path> files = new java.util.ArrayList<>(hf.filesRead());
      files.add(dir.resolve("vocab.json"));
      files.add(dir.resolve("merges.txt"));
      java.util.function.Supplier<Map<String, String>> hashes = Hashing.directory(dir, files);
      WeightSource weights = WeightSource.streaming(() -> streamWeights(dir));
      return new ModelDescription(format(), dir, new Architecture.ClipVit(config, activation, weights), preprocess,
          tokenizer, hashes);
    }
  }

  /** The weights under open_clip's names, each renamed/fused/transposed when the builder asks for it. */
  private static StreamedWeights streamWeights(Path dir) {
    HfClipDirectory hf = HfClipDirectory.open(dir);
    try {
      Map<String, LazyTensor> byName = new LinkedHashMap<>();
      Map<String, long[]> shapes = new LinkedHashMap<>();
      for (LazyTensor t : hf.openClipWeights()) {
        byName.put(t.name(), t);
        shapes.put(t.name(), t.shape());
      }
      return new StreamedWeights(shapes, name -> StateDictTensors.toTensor(byName.get(name).load()), hf::close,
          dir.toString());
    } catch (RuntimeException e) {
      hf.close();
      throw e;
    }
  }
}
