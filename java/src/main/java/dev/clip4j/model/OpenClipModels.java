package dev.clip4j.model;

import dev.clip4j.CpuKernels;
import dev.clip4j.Engine;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.EmbeddingHead;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.DType;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.StateDictTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Loading of open_clip hub directories, and the build path shared with bundles: validated state
 * dict -> {@link ClipTowers} (TorchScript source compiled with the weights) -> fused heads fed
 * with the projections -> one dummy forward per tower to check the widths.
 */
final class OpenClipModels {
  private OpenClipModels() {}

  static final String CONFIG = "open_clip_config.json";
  static final String SAFETENSORS = "open_clip_model.safetensors";
  static final String TORCH_BIN = "open_clip_pytorch_model.bin";
  static final String BPE_VOCAB = "bpe_simple_vocab_16e6.txt.gz";
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * Loads an open_clip hub directory: {@value #CONFIG}, weights from {@value #SAFETENSORS}
   * (preferred) or {@value #TORCH_BIN}, the tokenizer vocabulary {@value #BPE_VOCAB} when present.
   */
  static ClipModel load(Path dir, LoadOptions options) {
    Path cfgFile = dir.resolve(CONFIG);
    ModelConfig config = ModelConfig.parse(cfgFile);
    ObjectNode modelCfgJson;
    try {
      JsonNode root = JSON.readTree(cfgFile.toFile());
      JsonNode mc = root.has("model_cfg") ? root.get("model_cfg") : root;
      modelCfgJson = (ObjectNode) mc;
    } catch (IOException | ClassCastException e) {
      throw new InvalidModelException(cfgFile + ": cannot read model_cfg: " + e.getMessage(), e);
    }
    MlpActivation activation = MlpActivation.resolve(config, options.modelName().orElse(null),
        options.activation().orElse(null), "LoadOptions.activation");
    Path weightsFile = Files.isRegularFile(dir.resolve(SAFETENSORS)) ? dir.resolve(SAFETENSORS) : dir.resolve(TORCH_BIN);
    if (!Files.isRegularFile(weightsFile)) {
      throw new InvalidModelException(dir + ": no weights: expected " + SAFETENSORS + " or " + TORCH_BIN);
    }
    Map<String, Tensor> weights = readWeights(config, weightsFile);
    byte[] vocab = null;
    Path vocabFile = dir.resolve(BPE_VOCAB);
    Map<String, String> hashes = new LinkedHashMap<>();
    hashes.put(CONFIG, TorchScriptModels.sha256(cfgFile));
    hashes.put(weightsFile.getFileName().toString(), TorchScriptModels.sha256(weightsFile));
    if (Files.isRegularFile(vocabFile)) {
      try {
        vocab = Files.readAllBytes(vocabFile);
      } catch (IOException e) {
        throw new InvalidModelException(vocabFile + ": cannot read: " + e.getMessage(), e);
      }
      hashes.put(BPE_VOCAB, TorchScriptModels.sha256(vocabFile));
    }
    ModelResources res = new ModelResources(config, modelCfgJson, activation, config.preprocessCfg(), vocab,
        () -> readWeights(config, weightsFile));
    try {
      return build(res, weights, options, ModelFormat.OPEN_CLIP_HUB, hashes);
    } finally {
      release(weights);
    }
  }

  /** Drops our references to loaded weights (the towers hold their own). */
  static void release(Map<String, Tensor> weights) {
    for (Tensor t : weights.values()) {
      t.close();
    }
  }

  /** Reads a checkpoint, validates every key and shape against the config, converts to LibTorch. */
  static Map<String, Tensor> readWeights(ModelConfig config, Path file) {
    try (StateDict sd = CheckpointReader.read(file)) {
      Map<String, long[]> shapes = new LinkedHashMap<>();
      sd.tensors().forEach((k, t) -> shapes.put(k, t.shape()));
      StateDictSchema.of(config).validateShapes(shapes, file.toString());
      sd.tensors().forEach((k, t) -> {
        if (t.dtype() != DType.F32 && t.dtype() != DType.F16 && t.dtype() != DType.BF16 && t.dtype() != DType.F64) {
          throw new InvalidModelException(file + ": weight '" + k + "' has dtype " + t.dtype()
              + "; model weights must be floating point");
        }
      });
      return StateDictTensors.toTensors(sd);
    }
  }

  /** Builds a model from a (validated by ClipTowers) open_clip state dict. */
  static ClipModel build(
      ModelResources res, Map<String, Tensor> weights, LoadOptions options, ModelFormat format,
      Map<String, String> hashes) {
    ModelConfig cfg = res.config();
    for (Map.Entry<String, Tensor> e : weights.entrySet()) {
      if (!torch.isfinite(e.getValue()).all().item_bool()) {
        throw new InvalidModelException(cfg.source() + ": weight '" + e.getKey() + "' contains NaN or Inf values");
      }
    }
    Device device = TorchScriptModels.parseDevice(options.device());
    // Precision (fp32, bf16 where the device runs it natively) and the throughput mode are checked by the towers.
    ClipTowers towers = ClipTowers.build(cfg, res.activation().activation(), weights, device, options.precision(),
        options.batchInvariant(), options.cpuKernels().orElseGet(CpuKernels::fromSystemProperty));
    EmbeddingHead imageHead = null;
    EmbeddingHead textHead = null;
    try {
      imageHead = EmbeddingHead.builder(towers.projection(ClipTowers.Tower.VISUAL)).build();
      textHead = EmbeddingHead.builder(towers.projection(ClipTowers.Tower.TEXT)).build();
      long dim = cfg.embedDim();
      if (imageHead.outputDim() != dim || textHead.outputDim() != dim) {
        throw new InvalidModelException(cfg.source() + ": the projections give " + imageHead.outputDim() + " (image) and "
            + textHead.outputDim() + " (text) dimensions but embed_dim is " + dim);
      }
      long params = 0;
      for (Tensor t : weights.values()) {
        params += t.numel();
      }
      ModelInfo info = new ModelInfo(format, cfg.describe(), dim, cfg.vision().imageSize(),
          cfg.text().contextLength(), cfg.text().vocabSize(), res.activation().activation(),
          res.activation().source(), params, options.precision(), device.str().getString(), towers.cpuKernels(), hashes);
      ClipModel model = new ClipModel(info, towers.imageEncoder(), imageHead, towers.textEncoder(), textHead,
          towers.logitScale(), List.of(towers), res);
      checkDummyForward(model);
      return model;
    } catch (RuntimeException e) {
      if (imageHead != null) {
        imageHead.close();
      }
      if (textHead != null) {
        textHead.close();
      }
      towers.close();
      throw e;
    }
  }

  /** One forward of each tower on a dummy input: widths equal embed_dim, rows finite and unit-norm. */
  static void checkDummyForward(ClipModel model) {
    ModelInfo info = model.info();
    int s = info.imageSize();
    Tensor img;
    Tensor txt;
    try {
      img = model.embedImages(torch.zeros(1, 3, s, s));
      Tensor ids = torch.zeros(new long[] {1, info.contextLength()}, new org.bytedeco.pytorch.TensorOptions(ScalarType.Long));
      txt = model.embedTexts(ids);
    } catch (dev.clip4j.NumericalException e) {
      throw new InvalidModelException("dummy forward gave a non-finite or non-unit embedding (" + e.getMessage()
          + "): the weights contain NaN/Inf or are degenerate", e);
    }
    if (img.size(1) != info.embedDim() || txt.size(1) != info.embedDim()) {
      throw new InvalidModelException("dummy forward gave widths " + img.size(1) + " (image) and " + txt.size(1)
          + " (text); expected " + info.embedDim());
    }
    for (Tensor t : new Tensor[] {img, txt}) {
      float norm = t.norm().item_float();
      if (!Float.isFinite(norm) || Math.abs(norm - 1f) > 1e-3f) {
        throw new InvalidModelException("dummy forward gave a non-finite or non-unit embedding (norm " + norm
            + "): the weights contain NaN/Inf or are degenerate");
      }
    }
  }
}
