package dev.clip4j.model;

import dev.clip4j.Clip4jException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.EmbeddingHead;
import java.nio.file.Path;
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

  static ClipModel load(Path dir, LoadOptions options) {
    throw new InvalidModelException(dir + ": open_clip hub directories are not supported by this build yet");
  }

  /** Builds a model from a (validated by ClipTowers) open_clip state dict. */
  static ClipModel build(
      ModelResources res, Map<String, Tensor> weights, LoadOptions options, ModelFormat format,
      Map<String, String> hashes) {
    if (options.precision() != Precision.FP32) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED,
          "open_clip models run in fp32 in this version of clip4j; " + options.precision() + " is not supported yet");
    }
    ModelConfig cfg = res.config();
    Device device = TorchScriptModels.parseDevice(options.device());
    ClipTowers towers = ClipTowers.build(cfg, res.activation().activation(), weights, device);
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
          res.activation().source(), params, options.precision(), device.str().getString(), hashes);
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
    Tensor img = model.embedImages(torch.zeros(1, 3, s, s));
    Tensor ids = torch.zeros(new long[] {1, info.contextLength()}, new org.bytedeco.pytorch.TensorOptions(ScalarType.Long));
    Tensor txt = model.embedTexts(ids);
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
