package dev.clip4j.model;

import dev.clip4j.CpuKernels;
import dev.clip4j.head.Activation;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * Options for {@link ClipModel#load(java.nio.file.Path, LoadOptions)}. Immutable; build with
 * {@link #builder()}.
 */
public final class LoadOptions {
  private final String device;
  private final Precision precision;
  private final ModelFormat format;
  private final String expectedSha256;
  private final Activation activation;
  private final String modelName;
  private final boolean batchInvariant;
  private final CpuKernels cpuKernels;
  private final java.nio.file.Path vocabulary;
  private final PreprocessRules preprocessRules;

  private LoadOptions(Builder b) {
    this.device = b.device;
    this.precision = b.precision;
    this.format = b.format;
    this.expectedSha256 = b.expectedSha256;
    this.activation = b.activation;
    this.modelName = b.modelName;
    this.batchInvariant = b.batchInvariant;
    this.cpuKernels = b.cpuKernels;
    this.vocabulary = b.vocabulary;
    this.preprocessRules = b.preprocessRules;
  }

  /**
   * Defaults: CPU, fp32, format detected, no hash pin, activation from the model's metadata,
   * batch-invariant.
   */
  public static LoadOptions defaults() {
    return builder().build();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** LibTorch device string: "cpu", "cuda", "cuda:1". */
  public String device() {
    return device;
  }

  public Precision precision() {
    return precision;
  }

  /** The format to load as; empty = detect from the contents. */
  public Optional<ModelFormat> format() {
    return Optional.ofNullable(format);
  }

  /** Lower-case hex SHA-256 the model file must have (TorchScript and bundles); empty = no pin. */
  public Optional<String> expectedSha256() {
    return Optional.ofNullable(expectedSha256);
  }

  /**
   * The MLP activation stated by the caller for a checkpoint whose metadata does not say it.
   * When the metadata does say it and disagrees, loading fails.
   */
  public Optional<Activation> activation() {
    return Optional.ofNullable(activation);
  }

  /**
   * The open_clip model name (e.g. "ViT-B-32", "ViT-B-32-quickgelu"): the architecture of a bare
   * checkpoint, and activation metadata everywhere (a name ending in {@code -quickgelu} states
   * QuickGELU).
   */
  public Optional<String> modelName() {
    return Optional.ofNullable(modelName);
  }

  /**
   * A CLIP BPE vocabulary to tokenize with instead of the model's own (a {@code
   * bpe_simple_vocab_16e6.txt[.gz]} file, or a directory with it or with {@code vocab.json} +
   * {@code merges.txt}).
   */
  public Optional<java.nio.file.Path> vocabulary() {
    return Optional.ofNullable(vocabulary);
  }

  /** Whose implementation of the stated preprocessing to follow (default {@link PreprocessRules#OPEN_CLIP}). */
  public PreprocessRules preprocessRules() {
    return preprocessRules;
  }

  /**
   * Whether every embedding is bitwise independent of the batch it is computed in (default
   * true). See {@link Builder#batchInvariant(boolean)}.
   */
  public boolean batchInvariant() {
    return batchInvariant;
  }

  /**
   * The family of clip4j's packed CPU kernels the towers run on; empty = the system property
   * {@value CpuKernels#PROPERTY} (default auto). See {@link Builder#cpuKernels(CpuKernels)}.
   */
  public Optional<CpuKernels> cpuKernels() {
    return Optional.ofNullable(cpuKernels);
  }

  /** Builder of {@link LoadOptions}. */
  public static final class Builder {
    private String device = "cpu";
    private Precision precision = Precision.FP32;
    private ModelFormat format;
    private String expectedSha256;
    private Activation activation;
    private String modelName;
    private boolean batchInvariant = true;
    private CpuKernels cpuKernels;
    private java.nio.file.Path vocabulary;
    private PreprocessRules preprocessRules = PreprocessRules.OPEN_CLIP;

    public Builder device(String device) {
      this.device = Objects.requireNonNull(device, "device");
      return this;
    }

    public Builder precision(Precision precision) {
      this.precision = Objects.requireNonNull(precision, "precision");
      return this;
    }

    public Builder format(ModelFormat format) {
      this.format = format;
      return this;
    }

    /** Pins the model file's SHA-256 (64 hex digits); loading fails on any other content. */
    public Builder expectedSha256(String sha256) {
      if (sha256 != null && !sha256.matches("(?i)[0-9a-f]{64}")) {
        throw new IllegalArgumentException("expectedSha256 must be 64 hex digits");
      }
      this.expectedSha256 = sha256 == null ? null : sha256.toLowerCase(Locale.ROOT);
      return this;
    }

    public Builder activation(Activation activation) {
      this.activation = activation;
      return this;
    }

    public Builder modelName(String modelName) {
      this.modelName = modelName;
      return this;
    }

    /**
     * The throughput mode switch for open_clip checkpoints and bundles (TorchScript files run as
     * they are and ignore it). {@code true} (the default): each sample's linear layers run as
     * their own GEMM, so an embedding is bitwise the same whatever batch it is computed in (what
     * the {@code Embedder}'s micro-batching relies on to be reproducible). {@code false}: the
     * linear layers run as one GEMM over the whole batch, which BLAS libraries run faster (see
     * benchmarks/run.sh for this machine's figures); results then depend on the batch's size and
     * composition in the last bits (about 1e-6 on unit-norm embeddings) and still match open_clip
     * to 1e-5.
     */
    public Builder batchInvariant(boolean batchInvariant) {
      this.batchInvariant = batchInvariant;
      return this;
    }

    /**
     * Pins the family of clip4j's packed CPU kernels (fp32 and bf16 open_clip towers on x86-64):
     * AUTO picks the best this CPU runs; AVX2 or AVX512 force one, and a family the CPU lacks fails
     * the load with UNSUPPORTED naming the missing instruction set. Pin AVX2 across a fleet that
     * mixes CPU generations when vectors must be bitwise equal on every machine (see {@link
     * CpuKernels}). {@code null} (the default): the system property {@value CpuKernels#PROPERTY}.
     * Ignored by TorchScript files, CUDA and the throughput mode (LibTorch's kernels).
     */
    public Builder cpuKernels(CpuKernels cpuKernels) {
      this.cpuKernels = cpuKernels;
      return this;
    }

    /** See {@link LoadOptions#vocabulary()}; null = the model's own. */
    public Builder vocabulary(java.nio.file.Path vocabulary) {
      this.vocabulary = vocabulary;
      return this;
    }

    /** See {@link LoadOptions#preprocessRules()}. */
    public Builder preprocessRules(PreprocessRules rules) {
      this.preprocessRules = Objects.requireNonNull(rules, "rules");
      return this;
    }

    public LoadOptions build() {
      return new LoadOptions(this);
    }
  }
}
