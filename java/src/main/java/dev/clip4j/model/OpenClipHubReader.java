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
    return read(dir, options, Map.of());
  }

  /** As {@link #read(Path, LoadOptions)}, knowing extra timm SigLIP trunks (tests' tiny ones). */
  ModelDescription read(Path dir, LoadOptions options, Map<String, SiglipConfig.Trunk> extraTrunks) {
    if (!Files.isDirectory(dir)) {
      throw new InvalidModelException(dir + " is not an open_clip model directory");
    }
    Path cfgFile = dir.resolve(OpenClipModels.CONFIG);
    com.fasterxml.jackson.databind.JsonNode siglip = siglipModelCfg(cfgFile);
    if (siglip != null) {
      return readSiglip(dir, cfgFile, siglip, options, extraTrunks);
    }
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

  /** {@code model_cfg} when the config describes a SigLIP (custom_text with init_logit_bias), else null. */
  private static com.fasterxml.jackson.databind.JsonNode siglipModelCfg(Path cfgFile) {
    dev.clip4j.internal.UserFiles.requireRegularFile(cfgFile, InvalidModelException::new);
    com.fasterxml.jackson.databind.JsonNode root;
    try {
      if (Files.size(cfgFile) > (4 << 20)) {
        throw new InvalidModelException(cfgFile + ": larger than " + (4 << 20) + " bytes");
      }
      root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(Files.readAllBytes(cfgFile));
    } catch (java.io.IOException e) {
      return null; // ModelConfig.parse reports it
    }
    if (root == null || !root.isObject()) {
      return null;
    }
    com.fasterxml.jackson.databind.JsonNode m = root.has("model_cfg") ? root.get("model_cfg") : root;
    return SiglipConfig.isSiglip(m) ? root : null;
  }

  private ModelDescription readSiglip(Path dir, Path cfgFile, com.fasterxml.jackson.databind.JsonNode root,
      LoadOptions options, Map<String, SiglipConfig.Trunk> extraTrunks) {
    String source = cfgFile.toString();
    com.fasterxml.jackson.databind.JsonNode m = root.has("model_cfg") ? root.get("model_cfg") : root;
    com.fasterxml.jackson.databind.JsonNode p = root.has("model_cfg") ? root.get("preprocess_cfg") : null;
    if (p != null && !p.isNull() && !p.isObject()) {
      throw new InvalidModelException(source + ": preprocess_cfg must be an object");
    }
    com.fasterxml.jackson.databind.node.ObjectNode pre =
        p == null || p.isNull() ? null : (com.fasterxml.jackson.databind.node.ObjectNode) p;
    SiglipConfig config = SiglipConfig.fromModelCfg(m, pre, source, extraTrunks);
    if (options.activation().isPresent()) {
      throw new InvalidModelException(dir + ": an activation was given, but a SigLIP's activations are fixed by its"
          + " configuration (GELU in the trunk, text_cfg.act_kwargs in the text tower)");
    }
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
    if (!Files.isRegularFile(dir.resolve("tokenizer.json")) && !Files.isRegularFile(dir.resolve("spiece.model"))) {
      throw new InvalidModelException(dir + ": a SigLIP directory needs its Hugging Face tokenizer.json or SentencePiece"
          + " spiece.model (+ tokenizer_config.json) for open_clip's HFTokenizer (" + config.text().hfTokenizerName()
          + "); it has neither");
    }
    if (config.preprocessCfg() == null) {
      // open_clip's CLIP defaults (OpenAI mean/std, shortest-side resize) are not SigLIP's; never guessed.
      throw new InvalidModelException(cfgFile + ": a SigLIP hub config needs its preprocess_cfg (SigLIP models use"
          + " mean/std 0.5 and resize_mode squash, not open_clip's CLIP defaults)");
    }
    TokenizerSpec tokenizer = new TokenizerSpec.OpenClipHf(dir, config.text().contextLength(), config.text().clean());
    PreprocessConfig preprocess;
    try {
      preprocess = PreprocessConfig.fromOpenClip(config.preprocessCfg(), config.vision().imageSize());
    } catch (IllegalArgumentException e) {
      throw new InvalidModelException(cfgFile + ": preprocess_cfg: " + e.getMessage(), e);
    }
    java.util.function.Supplier<Map<String, String>> hashes = () -> {
      Map<String, String> h = new LinkedHashMap<>();
      h.put(OpenClipModels.CONFIG, Hashing.sha256(cfgFile));
      Path w = weightsFile.get();
      h.put(w.getFileName().toString(), Hashing.sha256(w));
      for (String t : new String[] {"tokenizer.json", "spiece.model", "tokenizer_config.json"}) {
        if (Files.isRegularFile(dir.resolve(t))) {
          h.put(t, Hashing.sha256(dir.resolve(t)));
        }
      }
      return h;
    };
    return new ModelDescription(format(), dir, new Architecture.Siglip(config, SiglipModels.fileSource(config,
        weightsFile)), preprocess, tokenizer, hashes);
  }
}
