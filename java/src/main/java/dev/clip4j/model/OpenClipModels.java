package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.DType;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.StateDictTensors;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import org.bytedeco.pytorch.Tensor;

/** open_clip's file names, and reading a checkpoint's weights for a CLIP configuration. */
final class OpenClipModels {
  private OpenClipModels() {}

  static final String CONFIG = "open_clip_config.json";
  static final String SAFETENSORS = "open_clip_model.safetensors";
  static final String TORCH_BIN = "open_clip_pytorch_model.bin";
  static final String BPE_VOCAB = "bpe_simple_vocab_16e6.txt.gz";

  /** Drops our references to loaded weights (the towers hold their own). */
  static void release(Map<String, Tensor> weights) {
    for (Tensor t : weights.values()) {
      t.close();
    }
  }

  /**
   * A checkpoint's weights for streaming: the header's names and shapes validated against the
   * config and every dtype checked floating point now; each tensor read when the builder asks.
   */
  static StreamedWeights stream(ModelConfig config, Supplier<StateDict> open, String source) {
    StateDict sd = open.get();
    try {
      Map<String, long[]> shapes = new LinkedHashMap<>();
      sd.tensors().forEach((k, t) -> shapes.put(k, t.shape()));
      ConfigBounds.check(config, shapes, source); // before the schema expands names
      StateDictSchema.of(config).validateShapes(shapes, source);
      sd.tensors().forEach((k, t) -> {
        if (t.dtype() != DType.F32 && t.dtype() != DType.F16 && t.dtype() != DType.BF16 && t.dtype() != DType.F64) {
          throw new InvalidModelException(source + ": weight '" + k + "' has dtype " + t.dtype()
              + "; model weights must be floating point");
        }
      });
      return new StreamedWeights(shapes, name -> StateDictTensors.toTensor(sd.get(name)), sd::close, source);
    } catch (RuntimeException e) {
      sd.close();
      throw e;
    }
  }

  /** A checkpoint file's weights (training wrappers and {@code module.} prefixes removed), streamed. */
  static WeightSource fileSource(ModelConfig config, Supplier<Path> file) {
    return WeightSource.streaming(() -> {
      Path f = file.get();
      return stream(config, () -> CheckpointReader.readModelWeights(f), f.toString());
    });
  }

  /** Reads a checkpoint file (training wrappers and {@code module.} prefixes removed), validated. */
  static Map<String, Tensor> readWeights(ModelConfig config, Path file) {
    return readWeights(config, () -> CheckpointReader.readModelWeights(file), file.toString());
  }

  /**
   * Reads a state dict with open_clip names, validates every key and shape against the config
   * and every dtype (floating point), then converts it to LibTorch tensors.
   */
  static Map<String, Tensor> readWeights(ModelConfig config, Supplier<StateDict> open, String source) {
    try (StateDict sd = open.get()) {
      Map<String, long[]> shapes = new LinkedHashMap<>();
      sd.tensors().forEach((k, t) -> shapes.put(k, t.shape()));
      ConfigBounds.check(config, shapes, source); // before the schema expands names
      StateDictSchema.of(config).validateShapes(shapes, source);
      sd.tensors().forEach((k, t) -> {
        if (t.dtype() != DType.F32 && t.dtype() != DType.F16 && t.dtype() != DType.BF16 && t.dtype() != DType.F64) {
          throw new InvalidModelException(source + ": weight '" + k + "' has dtype " + t.dtype()
              + "; model weights must be floating point");
        }
      });
      return StateDictTensors.toTensors(sd);
    }
  }
}
