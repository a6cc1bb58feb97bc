package dev.clip4j.model;

import dev.clip4j.head.Activation;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a loaded model is: format, architecture, dimensions, activation, size and the SHA-256 of
 * each file it was loaded from. {@link #toMap()} is what {@code clip4j inspect} prints.
 *
 * @param format the format it was loaded from
 * @param architecture a one-line description of the towers
 * @param embedDim width of the embeddings
 * @param imageSize input resolution of the image tower
 * @param contextLength maximum token sequence length of the text tower
 * @param vocabSize token id bound of the text tower
 * @param activation the MLP activation (null for TorchScript files, whose code fixes it)
 * @param activationSource where the activation came from (config, model name, bundle, option)
 * @param parameterCount number of weights
 * @param precision the precision the model runs in
 * @param device the device it runs on
 * @param cpuKernels the kernels its towers run on: "avx2", "avx512" or "avx512_bf16" (clip4j's
 *     packed CPU kernels, see {@link dev.clip4j.CpuKernels}), or "libtorch" (LibTorch's operators:
 *     TorchScript files, CUDA, the throughput mode)
 * @param fileHashes file name -> SHA-256 (hex) of every file read
 */
public record ModelInfo(
    ModelFormat format,
    String architecture,
    long embedDim,
    int imageSize,
    int contextLength,
    int vocabSize,
    Activation activation,
    String activationSource,
    long parameterCount,
    Precision precision,
    String device,
    String cpuKernels,
    Map<String, String> fileHashes) {

  public ModelInfo {
    fileHashes = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(fileHashes));
  }

  /** For JSON output. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("format", format.id());
    m.put("architecture", architecture);
    m.put("embed_dim", embedDim);
    m.put("image_size", imageSize);
    m.put("context_length", contextLength);
    m.put("vocab_size", vocabSize);
    m.put("activation", activation == null ? "defined by the TorchScript code" : activation.id());
    m.put("activation_source", activationSource);
    m.put("parameters", parameterCount);
    m.put("precision", precision.name().toLowerCase(java.util.Locale.ROOT));
    m.put("device", device);
    m.put("cpu_kernels", cpuKernels);
    m.put("files", new LinkedHashMap<>(fileHashes));
    return m;
  }
}
