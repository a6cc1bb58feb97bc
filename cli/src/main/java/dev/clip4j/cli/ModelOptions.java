package dev.clip4j.cli;

import dev.clip4j.CpuKernels;
import dev.clip4j.head.Activation;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.LoadOptions;
import dev.clip4j.model.ModelFormat;
import dev.clip4j.model.Precision;
import dev.clip4j.model.PreprocessRules;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options every command that loads a model shares. */
final class ModelOptions {
  @Option(names = "--model", required = true, description = "The model: an open_clip or Hugging Face CLIP directory, an"
      + " OpenAI/open_clip TorchScript archive, a bare checkpoint (with --model-name), a sentence-transformers directory"
      + " (texts only) or a clip4j bundle.")
  Path model;

  @Option(names = "--device", defaultValue = "cpu", description = "LibTorch device: cpu, cuda, cuda:N (default ${DEFAULT-VALUE}).")
  String device;

  @Option(names = "--precision", defaultValue = "fp32", description = "fp32 (default); bf16 (CPUs with AVX512-BF16/AMX, or"
      + " CUDA); on CUDA also fp16 (open_clip's fp16: half weights, LayerNorm in fp32) and pure_fp16/pure_bf16 (LayerNorm"
      + " in half too). TorchScript files: fp32 or pure_*.")
  String precision;

  @Option(names = "--cpu-kernels", description = "Family of clip4j's CPU kernels: auto (default: the best this CPU runs), "
      + "avx2 or avx512. Pin avx2 across a fleet mixing CPU generations that needs bitwise-equal vectors (default: "
      + "the system property clip4j.cpuKernels, else auto).")
  String cpuKernels;

  @Option(names = "--format", description = "Force the format: open_clip, hf, hf-siglip, openai-jit, checkpoint, sentence-transformers,"
      + " torchscript (run the archive as code), clip4j-bundle (default: detected from the contents).")
  String format;

  @Option(names = "--sha256", description = "Pin the model file's SHA-256 (single-file models: archives, checkpoints, bundles).")
  String sha256;

  @Option(names = "--activation", description = "State the MLP activation (quick_gelu or gelu) for a checkpoint whose metadata does not.")
  String activation;

  @Option(names = "--model-name", description = "open_clip model name, e.g. ViT-B-32 or ViT-B-32-quickgelu: the architecture of a"
      + " bare checkpoint, and activation metadata (-quickgelu = QuickGELU).")
  String modelName;

  @Option(names = "--vocab", description = "CLIP tokenizer vocabulary to use instead of the model's own"
      + " (bpe_simple_vocab_16e6.txt.gz, or a directory with it or with vocab.json + merges.txt).")
  Path vocab;

  @Option(names = "--preprocess-rules", defaultValue = "open_clip", description = "Whose implementation of the model's"
      + " preprocessing runs: open_clip (default: the same weights give open_clip's embeddings in any format) or"
      + " transformers (Hugging Face directories: CLIPImageProcessor's crop rounding and RGB conversion).")
  String preprocessRules;

  @Option(names = "--throughput", description = "Throughput mode: one GEMM per batch instead of per sample (faster; "
      + "embeddings then depend on the batch in the last bits, ~1e-6, still within 1e-5 of open_clip).")
  boolean throughput;

  LoadOptions toLoadOptions() {
    return LoadOptions.builder()
        .device(device)
        .precision(Precision.parse(precision))
        .format(format == null ? null : ModelFormat.fromId(format))
        .expectedSha256(sha256)
        .activation(activation == null ? null : Activation.fromId(activation))
        .modelName(modelName)
        .vocabulary(vocab)
        .preprocessRules(PreprocessRules.parse(preprocessRules))
        .batchInvariant(!throughput)
        .cpuKernels(cpuKernels == null ? null : CpuKernels.parse(cpuKernels))
        .build();
  }

  /** Loads --model. */
  ClipModel load() {
    return ClipModel.load(model, toLoadOptions());
  }

  /**
   * Loads --model, paired with {@code textModel} (a sentence-transformers directory, on the same
   * device) when one is given: texts then go through it, images through --model.
   */
  ClipModel load(Path textModel) {
    ClipModel m = load();
    if (textModel == null) {
      return m;
    }
    ClipModel text;
    try {
      text = ClipModel.load(textModel, LoadOptions.builder().device(device).build());
    } catch (RuntimeException e) {
      m.close();
      throw e;
    }
    return ClipModel.pair(m, text);
  }
}
