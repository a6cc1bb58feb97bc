package dev.clip4j;

import dev.clip4j.internal.CublasWorkspace;
import dev.clip4j.internal.GemmPool;
import dev.clip4j.internal.LibTorchLoader;
import dev.clip4j.internal.NativeLib;
import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.Context;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.global.torch;

/**
 * The one place LibTorch is set up for inference, once per process: thread pools, and the
 * settings that make outputs reproducible (cuDNN deterministic on, cuDNN benchmark off, TF32 off
 * for cuBLAS and cuDNN, TorchScript's simple graph executor, so no profiling re-specialisation and
 * no fusion; with {@link EngineConfig#strictDeterminism()} also
 * deterministic-algorithms mode, with {@code CUBLAS_WORKSPACE_CONFIG} set as cuBLAS needs it,
 * see {@link CublasWorkspace}). Every forward pass in clip4j runs inside {@link #inference()}.
 *
 * <p>Initialization order: the BLAS library choice ({@link EngineConfig#blas()}: with MKL, the
 * openblas preset is told to load MKL and MKL's GNU threading layer is selected), LibTorch's
 * native libraries (through bytedeco's Loader), the version check against the version this build
 * was made with, the thread layout ({@link EngineConfig}), then clip4j's own native library. The
 * report reads back the BLAS library, thread counts and OpenMP runtimes actually in the process
 * and a warning is logged when more than one OpenMP runtime is mapped. Thread safety: all
 * methods are safe from any thread.
 */
public final class Engine {
  private static EngineConfig config;
  private static EngineReport report;

  private Engine() {}

  /**
   * Initializes LibTorch with {@code cfg}. The first call wins: LibTorch's inter-op pool can be
   * sized only once per process, so a later call with a different configuration throws {@link
   * IllegalStateException}; a later call with the same configuration returns the report.
   */
  public static synchronized EngineReport initialize(EngineConfig cfg) {
    if (report != null) {
      if (!config.equals(cfg)) {
        throw new IllegalStateException(
            "Engine already initialized with " + config + "; cannot re-initialize with " + cfg);
      }
      return report;
    }
    if (cfg.blas() == BlasLibrary.MKL) {
      Blas.selectMkl(); // before LibTorch loads: it binds its BLAS symbols once
    }
    LibTorchLoader.load(); // extract first, then load in dependency order: see its javadoc
    checkPytorchVersion();
    if (cfg.strictDeterminism()) {
      CublasWorkspace.prepareForStrictMode(); // before anything starts CUDA: cuBLAS reads it per handle
    }
    configureGraphExecutor();
    torch.set_num_threads(cfg.intraOpThreads());
    Blas.setThreads(cfg.blasThreads());
    try {
      torch.set_num_interop_threads(cfg.interOpThreads());
    } catch (RuntimeException e) {
      // LibTorch refuses once its inter-op pool has started (someone used LibTorch before us).
      System.getLogger(Engine.class.getName())
          .log(System.Logger.Level.WARNING, "inter-op threads could not be set: " + e.getMessage());
    }
    Context ctx = torch.globalContext();
    ctx.setDeterministicCuDNN(true);
    ctx.setBenchmarkCuDNN(false);
    ctx.setAllowTF32CuBLAS(false);
    ctx.setAllowTF32CuDNN(false);
    ctx.setFloat32MatmulPrecision("highest");
    ctx.setDeterministicAlgorithms(cfg.strictDeterminism(), false);
    NativeLib.load();
    config = cfg;
    report = readReport();
    if (report.openMpRuntimes().size() > 1) {
      // bytedeco's MKL preload maps libiomp5 even when MKL runs on its GNU layer (then it stays idle).
      String why = report.blasVendor().equals("mkl")
          ? "MKL's loader maps libiomp5; its pool stays idle only while MKL runs its GNU threading layer (clip4j selects it "
              + "unless MKL_THREADING_LAYER says otherwise)"
          : "another library brought its own OpenMP runtime; its pool and LibTorch's compete for the cores";
      System.getLogger(Engine.class.getName()).log(System.Logger.Level.WARNING,
          "more than one OpenMP runtime is mapped in this process " + report.openMpRuntimes() + ": " + why);
    }
    return report;
  }

  /**
   * Sets the thread layout of the running process: LibTorch's intra-op (OpenMP) threads and the
   * BLAS library's threads. Both may change at any time (benchmarks compare layouts in one
   * process); the inter-op pool and the BLAS library cannot. Returns the report read back.
   * Thread safety: call while no forward runs, as the pools are process-wide.
   */
  public static synchronized EngineReport setThreadLayout(int intraOpThreads, int blasThreads) {
    if (intraOpThreads < 1 || blasThreads < 1) {
      throw new IllegalArgumentException("thread counts must be >= 1, got " + intraOpThreads + " and " + blasThreads);
    }
    ensureInitialized();
    torch.set_num_threads(intraOpThreads);
    Blas.setThreads(blasThreads);
    report = readReport();
    return report;
  }

  /** Initializes with {@link EngineConfig#defaults()} unless already initialized; returns the report. */
  public static synchronized EngineReport ensureInitialized() {
    return report != null ? report : initialize(EngineConfig.defaults());
  }

  /** The report of the initialized engine, re-read from LibTorch. */
  public static synchronized EngineReport report() {
    ensureInitialized();
    report = readReport();
    return report;
  }

  /**
   * Enters inference mode (no autograd recording, no version counters) on the calling thread.
   * Use with try-with-resources and close it on the same thread:
   *
   * <pre>{@code
   * try (Engine.InferenceScope scope = Engine.inference()) {
   *   Tensor y = module.forward(x);
   * }
   * }</pre>
   */
  public static InferenceScope inference() {
    ensureInitialized();
    return new InferenceScope();
  }

  /** An active inference-mode guard; see {@link #inference()}. Not thread-safe: one thread. */
  public static final class InferenceScope implements AutoCloseable {
    private final InferenceMode guard = new InferenceMode();
    private final Thread owner = Thread.currentThread();
    private boolean closed;

    private InferenceScope() {}

    @Override
    public void close() {
      if (closed) {
        return;
      }
      if (Thread.currentThread() != owner) {
        throw new IllegalStateException("an InferenceScope must be closed on the thread that opened it");
      }
      closed = true;
      guard.close(); // runs the C++ destructor, restoring the previous mode
    }
  }

  /**
   * TorchScript's graph executor, once per process: the simple executor (executor mode on,
   * profiling mode off). Left at LibTorch's default, the profiling executor re-specialises a graph
   * after its first calls at each new input shape and, on CUDA, fuses elementwise chains into
   * kernels it compiles with NVRTC: the first calls and the later ones then run different kernels
   * (different bits), each new batch size recompiles, and libnvrtc must be present at call 2 or 3.
   * The simple executor builds one plan per graph, with no profiling and no fusion, and runs it for
   * every call and every shape. Both flags are process-wide atomics, read when a graph's executor
   * is made (at its first call), so setting them before any model loads covers every thread.
   * ({@code setGraphExecutorOptimize} is not used: it is thread-local in LibTorch, and turning it
   * off on the loading thread breaks {@code torch.jit.freeze}, whose frozen graphs then keep calls
   * to methods freezing removed.)
   */
  static void configureGraphExecutor() {
    torch.getExecutorMode().put(true); // the default; the legacy executor (false) has its own fuser
    torch.getProfilingMode().put(false); // std::atomic<bool>&: no ProfilingGraphExecutorImpl from now on
  }

  private static EngineReport readReport() {
    Context ctx = torch.globalContext();
    boolean cuda = torch.cuda_is_available();
    int[] available = {0};
    int st = dev.clip4j.jni.Clip4jNative.clip4j_cuda_available(available);
    return new EngineReport(
        buildProperties().getProperty("clip4j.version", "unknown"),
        NativeLib.version(),
        pytorchVersion(),
        torch.get_num_threads(),
        torch.get_num_interop_threads(),
        cuda,
        cuda ? torch.cuda_device_count() : 0,
        st == 0 && available[0] == 1,
        ctx.deterministicCuDNN(),
        ctx.benchmarkCuDNN(),
        ctx.allowTF32CuBLAS(),
        ctx.allowTF32CuDNN(),
        ctx.deterministicAlgorithms(),
        Context.hasMKL(),
        Context.hasMKLDNN(),
        Context.hasOpenMP(),
        Blas.threads(),
        String.valueOf(System.getenv("OPENBLAS_CORETYPE")),
        Blas.vendor(),
        Blas.openMpRuntimes(),
        dev.clip4j.internal.CpuFeatures.describe(),
        packedKernels(false),
        packedKernels(true),
        torch.getProfilingMode().get() || !torch.getExecutorMode().get(),
        CublasWorkspace.current());
  }

  /** The packed kernels' family a load would resolve now (fp32 or bf16), or why there is none. */
  private static String packedKernels(boolean bf16) {
    try {
      CpuKernels requested = CpuKernels.fromSystemProperty();
      String name = GemmPool.kernelsName(GemmPool.resolveKernels(requested, bf16), bf16);
      return requested == CpuKernels.AUTO ? name : name + " (" + CpuKernels.PROPERTY + "=" + requested.id() + ")";
    } catch (RuntimeException e) {
      return "unsupported: " + e.getMessage();
    }
  }

  private static void checkPytorchVersion() {
    String expected = buildProperties().getProperty("pytorch.version");
    String actual = pytorchVersion();
    if (expected != null && actual != null && !expected.startsWith("$") && !expected.equals(actual)) {
      throw new Clip4jException(
          ErrorCode.UNSUPPORTED,
          "clip4j was built against org.bytedeco:pytorch "
              + expected
              + " but "
              + actual
              + " is on the class path; use the version clip4j's pom pins");
    }
  }

  /** The version of the org.bytedeco:pytorch artifact on the class path, or null if unknown. */
  static String pytorchVersion() {
    try {
      return Loader.getVersion("org.bytedeco", "pytorch");
    } catch (IOException e) {
      return null;
    }
  }

  static Properties buildProperties() {
    Properties p = new Properties();
    try (InputStream in = Engine.class.getResourceAsStream("build.properties")) {
      if (in != null) {
        p.load(in);
      }
    } catch (IOException e) {
      // No build metadata: the version check is skipped.
    }
    return p;
  }
}
