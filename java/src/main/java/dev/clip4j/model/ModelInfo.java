package dev.clip4j.model;

import dev.clip4j.head.Activation;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a loaded model is: format, architecture, dimensions, activation, tokenizer, size and the
 * SHA-256 of each file it was loaded from. {@link #toMap()} is what {@code clip4j inspect} prints.
 *
 * @param format the format it was loaded from
 * @param architecture a one-line description of the towers
 * @param embedDim width of the embeddings
 * @param imageSize input resolution of the image tower (0 without one)
 * @param contextLength longest token sequence of the text tower (0 without one)
 * @param vocabSize token id bound of the text tower (0 without one)
 * @param activation the MLP activation (null where the model's code or family fixes it)
 * @param activationSource where the activation came from (config, model name, module types, option)
 * @param tokenizer the tokenizer and where its vocabulary came from (null without a text tower)
 * @param parameterCount number of weights
 * @param precision the precision the model runs in
 * @param device the device it runs on
 * @param cpuKernels the kernels its towers run on: "avx2", "avx512" or "avx512_bf16" (clip4j's
 *     packed CPU kernels, see {@link dev.clip4j.CpuKernels}), or "libtorch" (LibTorch's operators:
 *     TorchScript programs, CUDA, the throughput mode, sentence-transformers); for a pair, its
 *     image side's (the text side's is in {@code textModel}); null when not stated
 * @param fileHashes file name -> SHA-256 (hex) of every file read
 * @param textModel for a {@link ClipModel#pair pair}, what the text side is (null otherwise)
 * @param invariance whether an embedding depends on the batch it is computed in, and why (null
 *     when not stated)
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
    String tokenizer,
    long parameterCount,
    Precision precision,
    String device,
    String cpuKernels,
    Map<String, String> fileHashes,
    ModelInfo textModel,
    String invariance) {

  public ModelInfo {
    fileHashes = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(fileHashes));
  }

  /** Without a kernel family or an invariance statement. */
  public ModelInfo(ModelFormat format, String architecture, long embedDim, int imageSize, int contextLength,
      int vocabSize, Activation activation, String activationSource, String tokenizer, long parameterCount,
      Precision precision, String device, Map<String, String> fileHashes, ModelInfo textModel) {
    this(format, architecture, embedDim, imageSize, contextLength, vocabSize, activation, activationSource, tokenizer,
        parameterCount, precision, device, null, fileHashes, textModel, null);
  }

  /** Without a kernel family (null: not stated). */
  public ModelInfo(ModelFormat format, String architecture, long embedDim, int imageSize, int contextLength,
      int vocabSize, Activation activation, String activationSource, String tokenizer, long parameterCount,
      Precision precision, String device, Map<String, String> fileHashes, ModelInfo textModel, String invariance) {
    this(format, architecture, embedDim, imageSize, contextLength, vocabSize, activation, activationSource, tokenizer,
        parameterCount, precision, device, null, fileHashes, textModel, invariance);
  }

  /** A copy stating {@code invariance}. */
  public ModelInfo withInvariance(String invariance) {
    return new ModelInfo(format, architecture, embedDim, imageSize, contextLength, vocabSize, activation,
        activationSource, tokenizer, parameterCount, precision, device, cpuKernels, fileHashes, textModel, invariance);
  }

  /** This (image side) paired with {@code text}: image fields from this, text fields from {@code text}. */
  ModelInfo pairedWith(ModelInfo text) {
    return new ModelInfo(format, architecture, embedDim, imageSize, text.contextLength, text.vocabSize, activation,
        activationSource, text.tokenizer, parameterCount + text.parameterCount, precision, device, cpuKernels, fileHashes,
        text, invariance);
  }

  /** For JSON output. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("format", format.id());
    m.put("architecture", architecture);
    m.put("embed_dim", embedDim);
    m.put("image_tower", imageSize > 0);
    m.put("text_tower", contextLength > 0);
    if (imageSize > 0) {
      m.put("image_size", imageSize);
    }
    if (contextLength > 0) {
      m.put("context_length", contextLength);
      m.put("vocab_size", vocabSize);
      m.put("tokenizer", tokenizer);
    }
    m.put("activation", activation == null ? "defined by the model's code or family" : activation.id());
    m.put("activation_source", activationSource);
    m.put("parameters", parameterCount);
    m.put("precision", precision.id());
    m.put("precision_detail", precision.describe());
    m.put("device", device);
    if (cpuKernels != null) {
      m.put("cpu_kernels", cpuKernels);
    }
    if (invariance != null) {
      m.put("batch_invariance", invariance);
    }
    m.put("files", new LinkedHashMap<>(fileHashes));
    if (textModel != null) {
      m.put("text_model", textModel.toMap());
    }
    return m;
  }
}
