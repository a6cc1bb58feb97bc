package dev.clip4j;

/**
 * How {@link Engine} sets up LibTorch for inference. Immutable.
 *
 * @param intraOpThreads threads LibTorch's OpenMP pool uses inside one operator ({@code
 *     at::set_num_threads}); default: the available processors
 * @param interOpThreads threads of LibTorch's inter-op pool (TorchScript forks); default 1, as a
 *     CLIP forward has no parallel branches
 * @param strictDeterminism additionally enable {@code torch.use_deterministic_algorithms(True)}:
 *     an operator without a deterministic implementation then fails instead of running
 * @param blasThreads threads of the BLAS library's own pool (OpenBLAS or MKL). Default 1: BLAS
 *     threads fight LibTorch's OpenMP pool for the same cores (measured on 2 cores with a ViT-B-32
 *     image tower: 1.7 img/s at batch 1 with OpenBLAS's default threads vs 8.1 with one)
 */
public record EngineConfig(int intraOpThreads, int interOpThreads, boolean strictDeterminism, int blasThreads) {

  public EngineConfig {
    if (blasThreads < 1) {
      throw new IllegalArgumentException("blasThreads must be >= 1, got " + blasThreads);
    }
    if (intraOpThreads < 1) {
      throw new IllegalArgumentException("intraOpThreads must be >= 1, got " + intraOpThreads);
    }
    if (interOpThreads < 1) {
      throw new IllegalArgumentException("interOpThreads must be >= 1, got " + interOpThreads);
    }
  }

  /**
   * The defaults: intra-op threads from the system property {@code clip4j.threads} or else the
   * available processors, one inter-op thread, strict determinism from {@code clip4j.strict}.
   */
  public static EngineConfig defaults() {
    int threads = Integer.getInteger("clip4j.threads", Runtime.getRuntime().availableProcessors());
    return new EngineConfig(threads, 1, Boolean.getBoolean("clip4j.strict"), Integer.getInteger("clip4j.blasThreads", 1));
  }

  /** Three-argument form with one BLAS thread. */
  public EngineConfig(int intraOpThreads, int interOpThreads, boolean strictDeterminism) {
    this(intraOpThreads, interOpThreads, strictDeterminism, 1);
  }

  /** A copy with another intra-op thread count. */
  public EngineConfig withIntraOpThreads(int threads) {
    return new EngineConfig(threads, interOpThreads, strictDeterminism, blasThreads);
  }

  /** A copy with strict determinism switched on or off. */
  public EngineConfig withStrictDeterminism(boolean strict) {
    return new EngineConfig(intraOpThreads, interOpThreads, strict, blasThreads);
  }
}
