package dev.clip4j;

import java.util.Objects;

/**
 * How {@link Engine} sets up LibTorch for inference. Immutable.
 *
 * <p>Thread layout: on the CPU almost all of a CLIP tower's time is in GEMMs, which LibTorch hands
 * to the BLAS library; the other operators (LayerNorm, attention, activations) run on LibTorch's
 * OpenMP (libgomp) pool. OpenBLAS has its own pthread pool: when both pools have more than one
 * thread on the same cores, each spins while the other works and throughput collapses (measured
 * on 2 cores: 1.7 img/s at batch 1 with 2+2 threads vs 8-13 with either pool at 1). The defaults
 * ({@link #defaults()}) therefore give the cores to one pool; benchmarks/run.sh measures every
 * layout on the machine at hand.
 *
 * @param intraOpThreads threads LibTorch's OpenMP pool uses inside one operator ({@code
 *     at::set_num_threads})
 * @param interOpThreads threads of LibTorch's inter-op pool (TorchScript forks); default 1, as a
 *     CLIP forward has no parallel branches
 * @param strictDeterminism additionally enable {@code torch.use_deterministic_algorithms(True)}:
 *     an operator without a deterministic implementation then fails instead of running
 * @param blasThreads threads of the BLAS library's own pool (OpenBLAS's pthreads; with MKL's GNU
 *     threading layer, the OpenMP threads each MKL call may use)
 * @param blas the BLAS library, selected before LibTorch loads (the first initialization of the
 *     process decides)
 */
public record EngineConfig(
    int intraOpThreads, int interOpThreads, boolean strictDeterminism, int blasThreads, BlasLibrary blas) {

  /** System property naming the BLAS library: {@code openblas} (default) or {@code mkl}. */
  public static final String BLAS_PROPERTY = "clip4j.blas";

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
    Objects.requireNonNull(blas, "blas");
  }

  /**
   * The defaults, each overridable by a system property: BLAS library {@code clip4j.blas}
   * (default openblas); BLAS threads {@code clip4j.blasThreads} (default: the available
   * processors) and intra-op threads {@code clip4j.threads} (default: 1 with OpenBLAS, the
   * available processors with MKL); one inter-op thread; strict determinism from {@code
   * clip4j.strict}.
   *
   * <p>Why: GEMMs are ~95% of a ViT's work, and with OpenBLAS they run on OpenBLAS's pool
   * whatever LibTorch's pool size is. Giving OpenBLAS every core and LibTorch one thread puts
   * the GEMMs on all cores with no second pool spinning beside them. Measured on a 2-core Zen 3
   * (ViT-B-32 image tower, per-sample GEMMs, interleaved in one process, machine lightly loaded):
   * sgemm 174 GFLOP/s at 2 BLAS threads vs 91 at 1; images/s at batch 1/8: 9.0/10.3 (1 intra-op x
   * 2 BLAS) vs 5.6/6.0 (2 x 1); 2 x 2 collapses batch 1 to 0.2. MKL on its GNU threading layer
   * shares LibTorch's libgomp pool, so there both get every core.
   *
   * <p>Caveat: when the cores are oversubscribed (other processes busy on them, or a container CPU
   * quota below the thread count), OpenBLAS's threads wait for each other on every one of the
   * many small per-sample GEMMs; on the same machine under a load average of 8 this layout fell
   * to 0.5-0.7 img/s while 1 BLAS thread kept 5-6. On shared or quota-limited hosts set {@code
   * -Dclip4j.blasThreads=1} (and {@code -Dclip4j.threads} to the cores you own). {@code
   * benchmarks/run.sh} measures every layout on the machine at hand.
   */
  public static EngineConfig defaults() {
    int cores = Runtime.getRuntime().availableProcessors();
    BlasLibrary blas = BlasLibrary.parse(System.getProperty(BLAS_PROPERTY, "openblas"));
    int defaultIntra = blas == BlasLibrary.MKL ? cores : 1;
    int threads = Integer.getInteger("clip4j.threads", defaultIntra);
    int blasThreads = Integer.getInteger("clip4j.blasThreads", cores);
    return new EngineConfig(threads, 1, Boolean.getBoolean("clip4j.strict"), blasThreads, blas);
  }

  /** Three-argument form: one BLAS thread, OpenBLAS. */
  public EngineConfig(int intraOpThreads, int interOpThreads, boolean strictDeterminism) {
    this(intraOpThreads, interOpThreads, strictDeterminism, 1, BlasLibrary.OPENBLAS);
  }

  /** Four-argument form: OpenBLAS. */
  public EngineConfig(int intraOpThreads, int interOpThreads, boolean strictDeterminism, int blasThreads) {
    this(intraOpThreads, interOpThreads, strictDeterminism, blasThreads, BlasLibrary.OPENBLAS);
  }

  /** A copy with another intra-op thread count. */
  public EngineConfig withIntraOpThreads(int threads) {
    return new EngineConfig(threads, interOpThreads, strictDeterminism, blasThreads, blas);
  }

  /** A copy with another BLAS thread count. */
  public EngineConfig withBlasThreads(int threads) {
    return new EngineConfig(intraOpThreads, interOpThreads, strictDeterminism, threads, blas);
  }

  /** A copy with strict determinism switched on or off. */
  public EngineConfig withStrictDeterminism(boolean strict) {
    return new EngineConfig(intraOpThreads, interOpThreads, strict, blasThreads, blas);
  }
}
