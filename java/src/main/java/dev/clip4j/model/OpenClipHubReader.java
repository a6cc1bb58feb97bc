package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import dev.clip4j.preprocess.PreprocessConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * open_clip's hub layout: {@code open_clip_config.json} ({@code model_cfg} + {@code
 * preprocess_cfg}), weights in {@code open_clip_model.safetensors} (preferred) or {@code
 * open_clip_pytorch_model.bin}, and the tokenizer vocabulary when the directory has one ({@code
 * bpe_simple_vocab_16e6.txt.gz}, or {@code vocab.json} + {@code merges.txt}); otherwise open_clip's
 * own, which ships in clip4j (open_clip does the same).
 */
final class OpenClipHubReader implements ModelReader {
  @Override
  public ModelFormat format() {
    return ModelFormat.OPEN_CLIP_HUB;
  }

  @Override
  public ModelDescription read(Path dir, LoadOptions options) {
    if (!Files.isDirectory(dir)) {
      throw new InvalidModelException(dir + " is not an open_clip model directory");
    }
    Path cfgFile = dir.resolve(OpenClipModels.CONFIG);
    ResNetConfig resNet = ResNetConfig.parseIfResNet(cfgFile); // a ModifiedResNet image tower: layers is a list
    ModelConfig config = resNet == null ? ModelConfig.parse(cfgFile) : null;
    MlpActivation activation = resNet == null
        ? MlpActivation.resolve(config, options.modelName().orElse(null), options.activation().orElse(null),
            "LoadOptions.activation")
        : MlpActivation.resolve(resNet.quickGelu(), resNet.source(), options.modelName().orElse(null),
            options.activation().orElse(null), "LoadOptions.activation");
    int contextLength = resNet == null ? config.text().contextLength() : resNet.text().contextLength();
    int imageSize = resNet == null ? config.vision().imageSize() : resNet.imageSize();
    if (options.expectedSha256().isPresent()) {
      throw new InvalidModelException(dir + ": a SHA-256 pin names one model file, but this is a directory");
    }
    Path safetensors = dir.resolve(OpenClipModels.SAFETENSORS);
    Path bin = dir.resolve(OpenClipModels.TORCH_BIN);
    java.util.function.Supplier<Path> weightsFile = () -> {
      if (Files.isRegularFile(safetensors)) {
        return safetensors;
      }
      if (Files.isRegularFile(bin)) {
        return bin;
      }
      throw new InvalidModelException(dir + ": no weights: expected " + OpenClipModels.SAFETENSORS + " or "
          + OpenClipModels.TORCH_BIN);
    };
    // The directory's own vocabulary when it has one (bpe_simple_vocab_16e6.txt[.gz], or HF's
    // vocab.json + merges.txt, which hub uploads often carry), else open_clip's built-in one.
    java.util.List<Path> vocabFiles = new java.util.ArrayList<>();
    for (String name : new String[] {OpenClipModels.BPE_VOCAB, "bpe_simple_vocab_16e6.txt"}) {
      if (vocabFiles.isEmpty() && Files.isRegularFile(dir.resolve(name))) {
        vocabFiles.add(dir.resolve(name));
      }
    }
    if (vocabFiles.isEmpty() && Files.isRegularFile(dir.resolve("vocab.json"))
        && Files.isRegularFile(dir.resolve("merges.txt"))) {
      vocabFiles.add(dir.resolve("vocab.json"));
      vocabFiles.add(dir.resolve("merges.txt"));
    }
    TokenizerSpec tokenizer = vocabFiles.isEmpty() ? TokenizerSpec.standardClip(contextLength)
        : TokenizerSpec.clipVocabulary(dir, contextLength);
    java.util.function.Supplier<Map<String, String>> hashes = () -> {
      Map<String, String> h = new LinkedHashMap<>();
      h.put(OpenClipModels.CONFIG, Hashing.sha256(cfgFile));
      Path w = weightsFile.get();
      h.put(w.getFileName().toString(), Hashing.sha256(w));
      for (Path v : vocabFiles) {
        h.put(v.getFileName().toString(), Hashing.sha256(v));
      }
      return h;
    };
    PreprocessConfig preprocess;
    try {
      preprocess = PreprocessConfig.fromOpenClip(resNet == null ? config.preprocessCfg() : resNet.preprocessCfg(),
          imageSize);
    } catch (IllegalArgumentException e) {
      throw new InvalidModelException(cfgFile + ": preprocess_cfg: " + e.getMessage(), e);
    }
    Architecture architecture = resNet == null
        ? new Architecture.ClipVit(config, activation, OpenClipModels.fileSource(config, weightsFile))
        : new Architecture.ClipResNet(resNet, activation, ResNetTowers.fileSource(resNet, weightsFile));
    return new ModelDescription(format(), dir, architecture, preprocess, tokenizer, hashes);
  }
}
