package dev.clip4j.model;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.model.hf.HfClipWriter;
import dev.clip4j.model.hf.OpenClipHubWriter;
import dev.clip4j.model.hf.TokenizerSource;
import dev.clip4j.model.io.DType;
import dev.clip4j.model.io.TensorData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Writes any model clip4j reads as weights (a {@link Architecture.ClipVit}) in another layout, so
 * fine-tuned weights move between ecosystems: an open_clip hub directory, a Hugging Face {@code
 * CLIPModel} directory, or a clip4j bundle. The weights keep their dtype (an OpenAI fp16 archive
 * becomes fp16 safetensors); reading the output back gives bit-identical embeddings. Nothing is
 * built: a {@link ModelDescription} is enough.
 */
public final class ModelExport {
  /** The layouts clip4j writes. */
  public enum Target {
    /** open_clip's hub layout: open_clip_config.json, open_clip_model.safetensors, the vocabulary. */
    OPEN_CLIP,
    /** A Hugging Face transformers CLIPModel directory. */
    HF,
    /** A clip4j bundle (one file). */
    BUNDLE;

    /** Parses "open_clip", "hf" or "bundle". */
    public static Target parse(String s) {
      switch (s.trim().toLowerCase(Locale.ROOT).replace('-', '_')) {
        case "open_clip":
          return OPEN_CLIP;
        case "hf":
        case "transformers":
          return HF;
        case "bundle":
        case "clip4j_bundle":
          return BUNDLE;
        default:
          throw new IllegalArgumentException("unknown target '" + s + "' (open_clip, hf, bundle)");
      }
    }
  }

  private ModelExport() {}

  /**
   * Writes {@code d}'s model as {@code target} at {@code out} (a new or empty directory for
   * open_clip and hf, a file for bundle).
   *
   * @return notes on what the target format computes differently (e.g. transformers' crop rounding)
   * @throws InvalidModelException when the model is not one clip4j can write (a TorchScript program,
   *     a sentence-transformers model)
   */
  public static List<String> write(ModelDescription d, Target target, Path out) {
    if (d.architecture() instanceof Architecture.ClipResNet) {
      throw new dev.clip4j.Clip4jException(dev.clip4j.ErrorCode.UNSUPPORTED, d.path() + ": ResNet CLIPs cannot be"
          + " converted or saved as bundles yet (load them from their open_clip directory, checkpoint or archive)");
    }
    if (!(d.architecture() instanceof Architecture.ClipVit clip)) {
      throw new InvalidModelException(d.path() + " (" + d.architecture().describe() + ") cannot be written as "
          + target.name().toLowerCase(Locale.ROOT) + ": only CLIP models whose weights clip4j reads can");
    }
    if (target == Target.BUNDLE) {
      Bundles.save(d, out);
      return List.of();
    }
    Path tmpVocab = null;
    Map<String, Tensor> weights = clip.weights().load();
    try {
      Map<String, TensorData> data = new LinkedHashMap<>();
      for (Map.Entry<String, Tensor> e : weights.entrySet()) {
        data.put(e.getKey(), view(e.getKey(), e.getValue()));
      }
      TokenizerSource tok;
      if (d.tokenizer() instanceof TokenizerSpec.ClipVocabFiles files) {
        tok = TokenizerSource.vocabAndMerges(files.vocabJson(), files.merges());
      } else {
        tmpVocab = Files.createTempFile("clip4j-vocab", ".txt.gz");
        Files.write(tmpVocab, Bundles.vocabularyBytes(d.tokenizer()));
        tok = TokenizerSource.bpe(tmpVocab);
      }
      ModelConfig cfg = clip.config().withQuickGelu(
          clip.activation().activation() == dev.clip4j.head.Activation.QUICK_GELU);
      HfClipWriter.Result r = target == Target.HF
          ? HfClipWriter.write(out, cfg, clip.activation(), d.preprocess(), data, tok)
          : OpenClipHubWriter.write(out, cfg, clip.activation(), d.preprocess(), data, tok);
      return new ArrayList<>(r.notes());
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot write " + out + ": " + e.getMessage(), e);
    } finally {
      OpenClipModels.release(weights);
      if (tmpVocab != null) {
        try {
          Files.deleteIfExists(tmpVocab);
        } catch (IOException ignored) {
          // a temporary file
        }
      }
    }
  }

  /** A view of a CPU tensor's bytes as TensorData (valid while the tensor is open). */
  private static TensorData view(String name, Tensor t) {
    ScalarType st = t.scalar_type().intern();
    DType dtype = switch (st) {
      case Float -> DType.F32;
      case Half -> DType.F16;
      case BFloat16 -> DType.BF16;
      case Double -> DType.F64;
      default -> throw new InvalidModelException("weight '" + name + "' has dtype " + st + "; expected floating point");
    };
    if (!t.is_contiguous() || t.is_cuda()) {
      throw new IllegalStateException("weight '" + name + "' is not a contiguous CPU tensor");
    }
    long[] shape = new long[(int) t.dim()];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = t.size(i);
    }
    long bytes = t.nbytes();
    ByteBuffer b = bytes == 0 ? ByteBuffer.allocate(0)
        : dev.clip4j.internal.HostTensors.bytes(t, "weight " + name).capacity(bytes).asByteBuffer()
            .order(ByteOrder.LITTLE_ENDIAN);
    return TensorData.of(name, dtype, shape, b);
  }
}
