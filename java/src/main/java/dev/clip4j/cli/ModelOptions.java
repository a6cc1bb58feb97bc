package dev.clip4j.cli;

import dev.clip4j.CpuKernels;
import dev.clip4j.head.Activation;
import dev.clip4j.model.LoadOptions;
import dev.clip4j.model.ModelFormat;
import dev.clip4j.model.Precision;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options every command that loads a model shares. */
final class ModelOptions {
  @Option(names = "--model", required = true, description = "Model directory (open_clip hub layout), TorchScript file or clip4j bundle.")
  Path model;

  @Option(names = "--device", defaultValue = "cpu", description = "LibTorch device: cpu, cuda, cuda:N (default ${DEFAULT-VALUE}).")
  String device;

  @Option(names = "--precision", defaultValue = "fp32", description = "fp32 (default) or bf16 (CPUs with AVX512-BF16, or CUDA; fp16 for TorchScript files).")
  String precision;

  @Option(names = "--cpu-kernels", description = "Family of clip4j's CPU kernels: auto (default: the best this CPU runs), "
      + "avx2 or avx512. Pin avx2 across a fleet mixing CPU generations that needs bitwise-equal vectors (default: "
      + "the system property clip4j.cpuKernels, else auto).")
  String cpuKernels;

  @Option(names = "--format", description = "Force the format: open_clip, torchscript, clip4j-bundle (default: detected).")
  String format;

  @Option(names = "--sha256", description = "Pin the model file's SHA-256 (TorchScript files and bundles).")
  String sha256;

  @Option(names = "--activation", description = "State the MLP activation (quick_gelu or gelu) for a checkpoint whose config does not.")
  String activation;

  @Option(names = "--model-name", description = "open_clip model name, e.g. ViT-B-32-quickgelu (activation metadata).")
  String modelName;

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
        .batchInvariant(!throughput)
        .cpuKernels(cpuKernels == null ? null : CpuKernels.parse(cpuKernels))
        .build();
  }
}
