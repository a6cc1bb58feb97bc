package dev.clip4j.model;

import dev.clip4j.Clip4jException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import dev.clip4j.CpuKernels;
import dev.clip4j.internal.CpuFeatures;
import dev.clip4j.internal.GemmPool;
import dev.clip4j.internal.TensorShapes;
import dev.clip4j.internal.UseGuard;
import java.lang.ref.Cleaner;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import org.bytedeco.pytorch.CompilationUnit;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.QualifiedName;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The two towers of an open_clip ViT CLIP, built from the checkpoint's weights (on clip4j's
 * native CPU kernels, {@link Gemm#PACKED}, or compiled from clip4j's TorchScript sources for the
 * LibTorch GEMM modes): pixels to image features, token ids to text features, both
 * <em>before</em> the projection. The projection and the L2 normalisation are a separate stage
 * (clip4j's fused {@link dev.clip4j.head.EmbeddingHead}, fed with {@link #projection}); together
 * they reproduce open_clip 2.20.0's {@code encode_image}/{@code encode_text(normalize=True)}.
 *
 * <pre>{@code
 * ModelConfig cfg = ModelConfig.parse(dir.resolve("open_clip_config.json"));
 * MlpActivation act = MlpActivation.resolve(cfg, modelName, null, null);
 * try (ClipTowers towers = ClipTowers.build(cfg, act.activation(), stateDict)) {
 *   Tensor f = towers.encodeImageFeatures(pixels);          // [N, width]
 *   Tensor e = head.apply(f);                               // head built from projection(VISUAL)
 * }
 * }</pre>
 *
 * <p>Ownership: the towers copy the weights they are built from (the caller's tensors stay the
 * caller's and may be closed afterwards) and release their modules on {@link #close()}; returned
 * tensors belong to the caller. Thread safety: the encode methods may run concurrently from many
 * threads; {@code close()} waits for calls in flight, after which calls throw {@link
 * IllegalStateException}. Every forward runs in eval mode under LibTorch inference mode.
 */
public final class ClipTowers implements AutoCloseable {
  /** Which tower a projection belongs to. */
  public enum Tower {
    /** The image tower; its projection is {@code visual.proj}. */
    VISUAL,
    /** The text tower; its projection is {@code text_projection}. */
    TEXT
  }

  /** How the compiled modules are prepared for inference (package-private: tests compare them). */
  enum Optimization {
    /** The modules as compiled. */
    NONE,
    /** {@code torch.jit.freeze}: weights become constants, submodules are inlined. */
    FREEZE,
    /** Freeze, then {@code torch.jit.optimize_for_inference}. */
    FREEZE_AND_OPTIMIZE
  }

  /** What {@link #build(ModelConfig, Activation, Map)} uses. */
  static final Optimization DEFAULT_OPTIMIZATION = Optimization.FREEZE;

  /** How the blocks' linear layers (and, with PACKED, the patch embedding) run. */
  public enum Gemm {
    /**
     * clip4j's native GEMM over weights packed at load ({@code clip4j_gemm_packed}): the whole
     * batch in one GEMM per layer, and still every sample's features bitwise independent of its
     * batch (each output is summed in one fixed order); every residual block runs in clip4j's
     * native kernels (see PackedTowers), of one {@link CpuKernels} family. fp32 on x86-64 CPUs
     * with AVX2 and FMA (AVX-512 where present, the same bits), bf16 on AVX-512 CPUs with
     * AVX512_BF16; the default there.
     */
    PACKED(null),
    /**
     * One LibTorch GEMM per sample (TorchScript towers): every sample's features are bitwise
     * independent of the batch it is in, but the BLAS repacks the weights for every sample:
     * measured up to ~2x slower than {@link #FOLDED} for ViT-B/32 on a 2-core CPU. The default
     * where PACKED does not apply (CUDA, CPUs without AVX2/FMA).
     */
    PER_SAMPLE("linear_per_sample.ts"),
    /** One LibTorch GEMM over the whole batch: fast, but the last bits depend on the batch size. */
    FOLDED("linear_folded.ts"),
    /**
     * Each sample runs alone through the whole tower (a batch of one; the linear layers as one GEMM
     * each), one after the other, and the features are concatenated: batch-invariant by
     * construction, because every kernel (cuBLAS GEMMs, cuDNN's convolution, attention,
     * reductions) sees exactly the shapes of a batch of one whatever the batch, and LibTorch's
     * CUDA kernels give the same bits for the same shapes and inputs under the {@link Engine}'s
     * deterministic settings. The default on CUDA, where cuBLAS's strided-batched GEMM ({@link
     * #PER_SAMPLE}) and cuDNN choose kernels by the batch size and so are not batch-invariant.
     * One tower launch per sample: slower than {@link #FOLDED} on a GPU.
     */
    SAMPLE_BY_SAMPLE("linear_folded.ts");

    final String source;

    Gemm(String source) {
      this.source = source;
    }
  }

  /**
   * System property: {@code false} makes batch-invariant towers use {@link Gemm#PER_SAMPLE}
   * instead of clip4j's packed GEMM (to compare, or to rule it out).
   */
  public static final String PACKED_GEMM_PROPERTY = "clip4j.packedGemm";

  /**
   * The GEMM batch-invariant towers get on {@code device} in {@code precision} with the kernel
   * family {@link CpuKernels#fromSystemProperty()}.
   *
   * @see #invariantGemm(Device, Precision, CpuKernels)
   */
  public static Gemm invariantGemm(Device device, Precision precision) {
    return invariantGemm(device, precision, CpuKernels.fromSystemProperty());
  }

  /**
   * The GEMM batch-invariant towers get on {@code device} in {@code precision}: SAMPLE_BY_SAMPLE
   * on CUDA; PACKED on x86-64 CPUs with AVX2 and FMA, for fp32 and bf16 (unless {@value
   * #PACKED_GEMM_PROPERTY}=false), else PER_SAMPLE (the pure modes too: the packed kernels keep
   * LayerNorm in fp32). bf16 where {@code kernels} cannot run it (no AVX512_BF16) stays PACKED,
   * whose build then refuses it naming the missing feature, except with {@value
   * #ALLOW_EMULATED_BF16}=true: then LibTorch's per-sample bf16 (emulated, slow).
   */
  public static Gemm invariantGemm(Device device, Precision precision, CpuKernels kernels) {
    Objects.requireNonNull(kernels, "kernels");
    if (device.is_cuda()) {
      return Gemm.SAMPLE_BY_SAMPLE;
    }
    if (!packedRuns(device, precision) || "false".equalsIgnoreCase(System.getProperty(PACKED_GEMM_PROPERTY))) {
      return Gemm.PER_SAMPLE;
    }
    if (precision == Precision.BF16 && Boolean.getBoolean(ALLOW_EMULATED_BF16)) {
      try {
        GemmPool.resolveKernels(kernels, true);
      } catch (Clip4jException e) {
        return Gemm.PER_SAMPLE;
      }
    }
    return Gemm.PACKED;
  }

  /** Where {@link Gemm#PACKED} can run at all: fp32 or bf16 on a CPU with AVX2 and FMA. */
  private static boolean packedRuns(Device device, Precision precision) {
    return device.is_cpu() && (precision == Precision.FP32 || precision == Precision.BF16) && GemmPool.supported();
  }

  /** What the TorchScript build methods use when asked for batch invariance. */
  static final Gemm DEFAULT_GEMM = Gemm.PER_SAMPLE;

  private static final Cleaner CLEANER = Cleaner.create();

  private final ModelConfig config;
  private final Activation activation;
  private final Device device;
  private final String deviceName;
  private final Precision precision;
  private final Gemm gemm;
  private final State state;
  private final Cleaner.Cleanable cleanable;
  private final float logitScale;
  private final UseGuard guard = new UseGuard("ClipTowers");

  /** The native objects; closed by close(), or by the cleaner (with a warning) if leaked. */
  private static final class State implements Runnable {
    final JitModule visual; // null with Gemm.PACKED
    final JitModule text; // null with Gemm.PACKED
    final PackedTowers packed; // only with Gemm.PACKED
    final Tensor visualProj;
    final Tensor textProj;
    volatile boolean closedExplicitly;

    State(JitModule visual, JitModule text, PackedTowers packed, Tensor visualProj, Tensor textProj) {
      this.visual = visual;
      this.text = text;
      this.packed = packed;
      this.visualProj = visualProj;
      this.textProj = textProj;
    }

    @Override
    public void run() {
      if (!closedExplicitly) {
        System.getLogger(ClipTowers.class.getName())
            .log(System.Logger.Level.WARNING, "ClipTowers was not closed; releasing its modules");
      }
      if (packed != null) {
        packed.close();
      } else {
        visual.close();
        text.close();
      }
      visualProj.close();
      textProj.close();
    }
  }

  private ClipTowers(ModelConfig config, Activation activation, Device device, Precision precision, Gemm gemm,
      State state, float logitScale) {
    this.config = config;
    this.activation = activation;
    this.device = device;
    this.precision = precision;
    this.gemm = gemm;
    this.deviceName = state.visualProj.device().str().getString();
    this.state = state;
    this.logitScale = logitScale;
    this.cleanable = CLEANER.register(this, state);
  }

  /**
   * Builds the towers on the CPU in float32.
   *
   * @see #build(ModelConfig, Activation, Map, Device)
   */
  public static ClipTowers build(ModelConfig config, Activation activation, Map<String, Tensor> stateDict) {
    Device cpu = new Device("cpu");
    return build(config, activation, stateDict, cpu, DEFAULT_OPTIMIZATION, invariantGemm(cpu, Precision.FP32));
  }

  /**
   * Validates {@code stateDict} against {@link StateDictSchema#of(ModelConfig)} and builds the
   * towers on {@code device}, computing in float32 (weights of other floating types are converted
   * exactly as {@code load_state_dict} would).
   *
   * @param config the model configuration
   * @param activation the MLP activation, GELU or QUICK_GELU (see {@link MlpActivation#resolve})
   * @param stateDict tensors by open_clip name (any device); copied, not retained
   * @param device where the towers run
   * @throws InvalidModelException naming every missing, unexpected or mis-shaped tensor, or when
   *     the modules cannot be compiled
   * @throws IllegalArgumentException for an activation other than GELU or QUICK_GELU
   */
  public static ClipTowers build(
      ModelConfig config, Activation activation, Map<String, Tensor> stateDict, Device device) {
    return build(config, activation, stateDict, device, DEFAULT_OPTIMIZATION, invariantGemm(device, Precision.FP32),
        Precision.FP32);
  }

  /**
   * Builds the towers on {@code device} in {@code precision}, batch-invariant or not.
   *
   * @param precision FP32 (the reference), or BF16. On the CPU, batch-invariant BF16 runs clip4j's
   *     packed bf16 kernels (AVX-512 with AVX512_BF16: weights rounded to bf16 at load, each
   *     GEMM's input rows rounded to bf16, fp32 accumulation, LayerNorm, attention and the
   *     residual stream in fp32) and is refused naming the missing feature on other CPUs, unless
   *     the system property {@code clip4j.bf16.allowEmulated} is true (then LibTorch's bf16,
   *     emulated). LibTorch's bf16 (CUDA, the throughput mode) computes the towers' weights and
   *     activations in bfloat16 (LayerNorm in float32, as open_clip's LayerNormFp32) and on the
   *     CPU needs AVX512-BF16 or AMX (see {@link dev.clip4j.internal.CpuFeatures#nativeBf16()})
   *     or the same property. Features are returned as float32, projections kept in float32.
   *     FP16 is refused.
   * @param batchInvariant true: each sample's features bitwise independent of its batch (the
   *     packed kernels, or one LibTorch GEMM per sample); false: one LibTorch GEMM over the batch
   *     (last bits depend on the batch)
   * @throws dev.clip4j.Clip4jException with {@link dev.clip4j.ErrorCode#UNSUPPORTED} for a
   *     precision this device cannot run well
   * @see #build(ModelConfig, Activation, Map, Device)
   */
  public static ClipTowers build(
      ModelConfig config,
      Activation activation,
      Map<String, Tensor> stateDict,
      Device device,
      Precision precision,
      boolean batchInvariant) {
    return build(config, activation, stateDict, device, precision, batchInvariant, CpuKernels.fromSystemProperty());
  }

  /**
   * {@link #build(ModelConfig, Activation, Map, Device, Precision, boolean)} with the packed
   * kernels' family {@code kernels} (AUTO: the best this CPU runs; a family it lacks is refused
   * with UNSUPPORTED; ignored where the towers do not run the packed kernels).
   */
  public static ClipTowers build(
      ModelConfig config,
      Activation activation,
      Map<String, Tensor> stateDict,
      Device device,
      Precision precision,
      boolean batchInvariant,
      CpuKernels kernels) {
    return build(config, activation, stateDict, device, DEFAULT_OPTIMIZATION,
        batchInvariant ? invariantGemm(device, precision, kernels) : Gemm.FOLDED, precision, kernels);
  }

  /**
   * Builds the towers with an explicit {@link Gemm} (benchmarks and comparisons; the other build
   * methods choose it), PACKED with the kernel family {@link CpuKernels#fromSystemProperty()}.
   * PACKED requires fp32 or bf16 on a CPU that runs the family (bf16: AVX-512 with AVX512_BF16).
   *
   * @throws dev.clip4j.Clip4jException with {@link dev.clip4j.ErrorCode#UNSUPPORTED} where the
   *     GEMM or the precision cannot run
   */
  public static ClipTowers build(
      ModelConfig config,
      Activation activation,
      Map<String, Tensor> stateDict,
      Device device,
      Precision precision,
      Gemm gemm) {
    return build(config, activation, stateDict, device, DEFAULT_OPTIMIZATION, gemm, precision,
        CpuKernels.fromSystemProperty());
  }

  /**
   * Builds the towers with an explicit {@link Gemm} and, for PACKED, an explicit kernel family
   * (ignored by the LibTorch GEMMs).
   *
   * @throws dev.clip4j.Clip4jException with {@link dev.clip4j.ErrorCode#UNSUPPORTED} where the
   *     GEMM, the precision or the kernel family cannot run here (the message names the missing
   *     instruction set)
   */
  public static ClipTowers build(
      ModelConfig config,
      Activation activation,
      Map<String, Tensor> stateDict,
      Device device,
      Precision precision,
      Gemm gemm,
      CpuKernels kernels) {
    return build(config, activation, stateDict, device, DEFAULT_OPTIMIZATION, gemm, precision, kernels);
  }

  static ClipTowers build(
      ModelConfig config,
      Activation activation,
      Map<String, Tensor> stateDict,
      Device device,
      Optimization optimization,
      Gemm gemm) {
    return build(config, activation, stateDict, device, optimization, gemm, Precision.FP32);
  }

  static ClipTowers build(
      ModelConfig config,
      Activation activation,
      Map<String, Tensor> stateDict,
      Device device,
      Optimization optimization,
      Gemm gemm,
      Precision precision) {
    return build(config, activation, stateDict, device, optimization, gemm, precision, CpuKernels.fromSystemProperty());
  }

  static ClipTowers build(
      ModelConfig config,
      Activation activation,
      Map<String, Tensor> stateDict,
      Device device,
      Optimization optimization,
      Gemm gemm,
      Precision precision,
      CpuKernels kernels) {
    Objects.requireNonNull(kernels, "kernels");
    Objects.requireNonNull(config, "config");
    Objects.requireNonNull(activation, "activation");
    Objects.requireNonNull(stateDict, "stateDict");
    Objects.requireNonNull(device, "device");
    Objects.requireNonNull(optimization, "optimization");
    Objects.requireNonNull(gemm, "gemm");
    Objects.requireNonNull(precision, "precision");
    if (activation != Activation.GELU && activation != Activation.QUICK_GELU) {
      throw new IllegalArgumentException("the MLP activation must be gelu or quick_gelu, got " + activation.id());
    }
    Engine.ensureInitialized();
    int family = 0;
    if (gemm == Gemm.PACKED) {
      family = packedKernels(device, precision, kernels);
    } else {
      checkPrecision(precision, device);
    }
    if (stateDict instanceof StreamedWeights streamed) { // nothing read yet: the header's shapes
      ConfigBounds.check(config, streamed.shapes(), config.source()); // before the schema expands names
      StateDictSchema.of(config).validateShapes(streamed.shapes(), config.source());
    } else {
      ConfigBounds.checkTensors(config, stateDict, config.source());
      StateDictSchema.of(config).validate(stateDict, config.source());
    }
    // The packed kernels take fp32 weights and pack (bf16: round) them themselves; LayerNorm's
    // weights stay fp32 in every mode but the pure ones, as open_clip's LayerNormFp32 keeps them.
    Builder b = new Builder(stateDict, device, activation, gemm, gemm == Gemm.PACKED ? Precision.FP32 : precision);
    // The projections in the towers' precision (open_clip converts them too); on a CPU the fp32
    // head takes them as float32 holding the rounded values (packed bf16 included).
    Tensor visualProj = b.projection("visual.proj", precision, device);
    Tensor textProj = b.projection("text_projection", precision, device);
    float logitScale;
    try (Tensor ls = b.weight("logit_scale", ScalarType.Float)) {
      logitScale = ls.item_float();
    }
    if (gemm == Gemm.PACKED) {
      PackedTowers packed;
      try {
        packed = new PackedTowers(config, activation, b::weight, Engine.ensureInitialized().blasThreads(), family,
            precision == Precision.BF16);
      } catch (RuntimeException e) {
        visualProj.close();
        textProj.close();
        throw e instanceof Clip4jException c ? c : new InvalidModelException(
            config.source() + ": the packed towers could not be built: " + firstLine(e), e);
      }
      return new ClipTowers(config, activation, device, precision, gemm,
          new State(null, null, packed, visualProj, textProj), logitScale);
    }
    JitModule visual = null;
    JitModule text = null;
    try {
      visual = prepare(b.vision(config.vision()), optimization);
      text = prepare(b.text(config.text()), optimization);
    } catch (RuntimeException e) {
      if (visual != null) {
        visual.close();
      }
      visualProj.close();
      textProj.close();
      throw new InvalidModelException(
          config.source() + ": the TorchScript towers could not be built: " + firstLine(e), e);
    }
    return new ClipTowers(config, activation, device, precision, gemm,
        new State(visual, text, null, visualProj, textProj), logitScale);
  }

  /**
   * The kernel family the packed towers run {@code precision} with: fp32 or bf16 on a CPU that runs
   * {@code kernels}, else UNSUPPORTED naming what is missing.
   */
  private static int packedKernels(Device device, Precision precision, CpuKernels kernels) {
    if (!packedRuns(device, precision)) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, "clip4j's packed kernels run fp32 or bf16 on x86-64 CPUs with "
          + "AVX2 and FMA (" + CpuFeatures.describe() + "); asked for " + precision + " on " + device.str().getString());
    }
    try {
      return GemmPool.resolveKernels(kernels, precision == Precision.BF16);
    } catch (Clip4jException e) {
      String hint = precision == Precision.BF16
          ? "; use fp32, or set -D" + ALLOW_EMULATED_BF16 + "=true to run LibTorch's bf16 (emulated without "
              + "AVX512-BF16/AMX, slower than fp32)"
          : "; use -D" + CpuKernels.PROPERTY + "=auto (or avx2)";
      String forced = kernels == CpuKernels.AUTO ? "" : " (" + CpuKernels.PROPERTY + "=" + kernels.id() + ")";
      throw new Clip4jException(ErrorCode.UNSUPPORTED, precision + " towers on the CPU" + forced + ": " + e.getMessage()
          + hint, e);
    }
  }

  /**
   * FP32 anywhere; every half-precision mode on CUDA; on a CPU, the bf16 modes where it has native
   * bf16 GEMMs (or when emulation is allowed) and the fp16 modes only when {@value #ALLOW_CPU_FP16}
   * is set (LibTorch's CPU fp16 kernels are slow: for checking the precision math on a CPU only).
   */
  private static void checkPrecision(Precision precision, Device device) {
    if (precision == Precision.FP32 || device.is_cuda()) {
      return;
    }
    if (precision.scalarType() == ScalarType.BFloat16) {
      if (CpuFeatures.nativeBf16() || Boolean.getBoolean(ALLOW_EMULATED_BF16)) {
        return;
      }
      throw new Clip4jException(ErrorCode.UNSUPPORTED, precision.id() + " on this CPU would be emulated (no"
          + " AVX512-BF16 or AMX: " + CpuFeatures.describe() + ") and slower than fp32; use fp32, or set -D"
          + ALLOW_EMULATED_BF16 + "=true to run it anyway");
    }
    if (Boolean.getBoolean(ALLOW_CPU_FP16)) {
      return;
    }
    throw new Clip4jException(ErrorCode.UNSUPPORTED, precision.id() + " runs on CUDA devices; on a CPU use fp32 (or"
        + " bf16 where the CPU has native bf16 instructions)");
  }

  /** System property: run BF16 towers on a CPU without native bf16 support (slow; for tests and checks). */
  public static final String ALLOW_EMULATED_BF16 = "clip4j.bf16.allowEmulated";

  /** System property: run FP16 towers on a CPU (slow; to check the precision math without a GPU). */
  public static final String ALLOW_CPU_FP16 = "clip4j.fp16.allowCpu";

  private static JitModule prepare(JitModule m, Optimization optimization) {
    m.eval();
    if (optimization == Optimization.NONE) {
      return m;
    }
    JitModule frozen = torch.freeze(m);
    m.close();
    if (optimization == Optimization.FREEZE) {
      return frozen;
    }
    JitModule optimized = torch.optimize_for_inference(frozen);
    frozen.close();
    return optimized;
  }

  /** Assembles the TorchScript modules from the weights. */
  private static final class Builder {
    private final Map<String, Tensor> sd;
    private final Device device;
    private final Activation activation;
    private final Gemm gemm;
    private final ScalarType dtype;
    private final boolean pure;
    private final CompilationUnit cu = new CompilationUnit();

    Builder(Map<String, Tensor> sd, Device device, Activation activation, Gemm gemm, Precision precision) {
      this.sd = sd;
      this.device = device;
      this.activation = activation;
      this.gemm = gemm;
      this.dtype = precision.scalarType();
      this.pure = precision.pure();
    }

    /**
     * A LayerNorm weight or bias: float32 in fp32 and the mixed modes (open_clip's LayerNormFp32
     * keeps them, and converts nothing in LayerNorm modules), the compute dtype in the pure modes.
     */
    Tensor normWeight(String name) {
      return weight(name, pure ? dtype : ScalarType.Float);
    }

    /** A projection in {@code precision}: half on CUDA; on a CPU float32 holding the rounded values. */
    Tensor projection(String name, Precision precision, Device device) {
      Tensor low = weight(name, precision.scalarType());
      if (device.is_cuda() || precision.scalarType() == ScalarType.Float) {
        return low;
      }
      try (low) {
        return low.to(ScalarType.Float);
      }
    }

    /** A contiguous copy of a tower weight in the compute dtype on the target device, outside autograd. */
    Tensor weight(String name) {
      return weight(name, dtype);
    }

    Tensor weight(String name, ScalarType type) {
      if (sd instanceof StreamedWeights) {
        // Read now and released as soon as the converted copy (or an alias of it) is taken.
        try (Tensor src = sd.get(name); Tensor t = src.detach();
            MemoryFormatOptional keep = new MemoryFormatOptional();
            Tensor moved = t.to(device, type, false, false, keep)) {
          return moved.contiguous();
        }
      }
      Tensor t = sd.get(name).detach();
      return t.to(device, type, false, true, new MemoryFormatOptional()).contiguous();
    }

    JitModule module(String type) {
      // Mangled names keep each instance's class distinct inside the shared compilation unit.
      return new JitModule(new QualifiedName("__torch__.clip4j." + type), cu, true);
    }

    /** A module holding parameters only (conv1, out_proj, c_fc, ...): its parent uses them. */
    JitModule holder(String type, String prefix, String... names) {
      JitModule m = module(type);
      for (String n : names) {
        m.register_parameter(n, weight(prefix + "." + n), false);
      }
      return m;
    }

    JitModule layerNorm(String prefix) {
      JitModule m = module("LayerNorm");
      m.register_parameter("weight", normWeight(prefix + ".weight"), false);
      m.register_parameter("bias", normWeight(prefix + ".bias"), false);
      m.define(TorchScriptSource.load(pure ? "layer_norm_pure.ts" : "layer_norm.ts"));
      return m;
    }

    JitModule block(String prefix, int heads, boolean layerScale) {
      JitModule m = module("ResidualAttentionBlock");
      m.register_module("ln_1", layerNorm(prefix + ".ln_1"));
      JitModule attn = holder("MultiheadAttention", prefix + ".attn", "in_proj_weight", "in_proj_bias");
      attn.register_module("out_proj", holder("Linear", prefix + ".attn.out_proj", "weight", "bias"));
      m.register_module("attn", attn);
      m.register_module("ln_2", layerNorm(prefix + ".ln_2"));
      JitModule mlp = module("Mlp");
      mlp.register_module("c_fc", holder("Linear", prefix + ".mlp.c_fc", "weight", "bias"));
      mlp.register_module("c_proj", holder("Linear", prefix + ".mlp.c_proj", "weight", "bias"));
      m.register_module("mlp", mlp);
      Map<String, String> v = new HashMap<>();
      v.put("HEADS", Integer.toString(heads));
      if (layerScale) {
        m.register_module("ls_1", holder("LayerScale", prefix + ".ls_1", "gamma"));
        m.register_module("ls_2", holder("LayerScale", prefix + ".ls_2", "gamma"));
        v.put("LS_1", "    h = h * self.ls_1.gamma");
        v.put("LS_2", "    h = h * self.ls_2.gamma");
      } else {
        v.put("LS_1", "");
        v.put("LS_2", "");
      }
      m.define(TorchScriptSource.load(
          activation == Activation.QUICK_GELU ? "mlp_activation_quick_gelu.ts" : "mlp_activation_gelu.ts"));
      m.define(TorchScriptSource.load(gemm.source));
      m.define(TorchScriptSource.load("residual_attention_block.ts", v));
      return m;
    }

    JitModule transformer(String prefix, int layers, int heads, boolean layerScale) {
      JitModule m = module("Transformer");
      StringBuilder calls = new StringBuilder();
      for (int i = 0; i < layers; i++) {
        m.register_module("resblocks_" + i, block(prefix + ".resblocks." + i, heads, layerScale));
        calls.append("    x = self.resblocks_").append(i).append(".forward(x, causal)\n");
      }
      m.define(TorchScriptSource.load("transformer.ts", Map.of("BLOCKS", calls.toString())));
      return m;
    }

    JitModule vision(VisionConfig c) {
      JitModule m = module("VisionTransformer");
      m.register_parameter("class_embedding", weight("visual.class_embedding"), false);
      m.register_parameter("positional_embedding", weight("visual.positional_embedding"), false);
      m.register_module("conv1", holder("Conv2d", "visual.conv1", "weight"));
      if (c.lnPre()) {
        m.register_module("ln_pre", layerNorm("visual.ln_pre"));
      }
      m.register_module("transformer", transformer("visual.transformer", c.layers(), c.heads(), c.layerScale()));
      m.register_module("ln_post", layerNorm("visual.ln_post"));
      m.define(TorchScriptSource.load("vision_transformer.ts", Map.of(
          "PATCH", Integer.toString(c.patchSize()),
          "LN_PRE", c.lnPre() ? "    x = self.ln_pre.forward(x)" : "",
          "POOL", c.globalAveragePool() ? "    pooled = x.mean(1)" : "    pooled = x[:, 0]")));
      return m;
    }

    JitModule text(TextConfig c) {
      JitModule m = module("TextTransformer");
      m.register_module("token_embedding", holder("Embedding", "token_embedding", "weight"));
      m.register_parameter("positional_embedding", weight("positional_embedding"), false);
      m.register_module("transformer", transformer("transformer", c.layers(), c.heads(), c.layerScale()));
      m.register_module("ln_final", layerNorm("ln_final"));
      m.define(TorchScriptSource.load("text_transformer.ts"));
      return m;
    }
  }

  /**
   * Writes one tower (input to pre-projection features, its {@code forward}) as a standalone
   * TorchScript file, e.g. to run exactly the same graph in another runtime for comparison.
   */
  public void saveTower(Tower tower, java.nio.file.Path file) {
    try (UseGuard.Use use = guard.enter()) {
      if (state.packed != null) {
        throw new IllegalStateException("towers built with Gemm.PACKED run op by op, not as TorchScript: build them "
            + "with Gemm.PER_SAMPLE or FOLDED to export a tower");
      }
      (tower == Tower.VISUAL ? state.visual : state.text).save(file.toString());
    }
  }

  /** The configuration the towers were built from. */
  public ModelConfig config() {
    return config;
  }

  /** The MLP activation the towers compute. */
  public Activation activation() {
    return activation;
  }

  /** The device the towers run on. */
  public Device device() {
    return device;
  }

  /** The precision the towers compute in (features are returned as float32 either way). */
  public Precision precision() {
    return precision;
  }

  /**
   * True when each sample's features are bitwise independent of its batch: PACKED and PER_SAMPLE
   * on a CPU, SAMPLE_BY_SAMPLE anywhere. PER_SAMPLE on CUDA runs cuBLAS's strided-batched GEMM,
   * whose kernel choice depends on the batch count: not invariant there.
   */
  public boolean batchInvariant() {
    return gemm == Gemm.SAMPLE_BY_SAMPLE || gemm == Gemm.PACKED || (gemm == Gemm.PER_SAMPLE && !device.is_cuda());
  }

  /** What {@link #batchInvariant()} rests on, in one line (for {@code info()}). */
  public String invariance() {
    switch (gemm) {
      case PACKED:
        return "batch-invariant: clip4j's packed CPU kernels sum every output in one fixed order";
      case SAMPLE_BY_SAMPLE:
        return "batch-invariant: each sample runs alone through the tower (the shapes of a batch of one),"
            + " with deterministic kernels";
      case PER_SAMPLE:
        return device.is_cuda()
            ? "NOT batch-invariant on CUDA: per-sample GEMMs through cuBLAS's strided-batched call, whose kernel"
                + " choice depends on the batch count"
            : "batch-invariant: one GEMM per sample on the CPU BLAS";
      default:
        return "NOT batch-invariant (throughput mode): one GEMM over the whole batch; the last bits depend on"
            + " the batch's size and contents";
    }
  }

  /** How the linear layers run. */
  public Gemm gemm() {
    return gemm;
  }

  /**
   * The CPU kernel family the towers run on: "avx2", "avx512" or "avx512_bf16" for clip4j's packed
   * kernels ({@link Gemm#PACKED}), "libtorch" for the LibTorch GEMMs.
   */
  public String cpuKernels() {
    return state.packed != null ? state.packed.kernelsName() : "libtorch";
  }

  /**
   * Image features before projection: {@code pixels} float32 [N, 3, S, S] (S = the configured
   * image size, preprocessed as open_clip does), on the towers' device; returns float32
   * [N, vision width].
   *
   * @throws InvalidInputException for a wrong rank, size, dtype or device
   */
  public Tensor encodeImageFeatures(Tensor pixels) {
    try (UseGuard.Use use = guard.enter()) {
      int s = config.vision().imageSize();
      String want = "pixels must be float32 [N, 3, " + s + ", " + s + "] on " + deviceName;
      require(pixels != null && pixels.defined(), want + ", got " + (pixels == null ? "null" : "an undefined tensor"));
      require(pixels.dim() == 4 && pixels.size(0) >= 1 && pixels.size(1) == 3 && pixels.size(2) == s
          && pixels.size(3) == s, want + ", got " + TensorShapes.describe(pixels));
      ScalarType pt = pixels.scalar_type().intern();
      require(pt == ScalarType.Float || pt == precision.scalarType(), want + ", got " + pt);
      requireDevice(pixels, want);
      try (Engine.InferenceScope scope = Engine.inference()) {
        // The packed towers take float32 pixels whatever their precision; the LibTorch ones, their own.
        ScalarType compute = state.packed != null ? ScalarType.Float : precision.scalarType();
        if (pt == compute) {
          return state.packed != null ? state.packed.encodeImage(pixels) : run(state.visual, pixels);
        }
        try (Tensor x = pixels.to(compute)) {
          return state.packed != null ? state.packed.encodeImage(x) : run(state.visual, x);
        }
      }
    }
  }

  /**
   * Text features before projection: {@code ids} int64 [N, L] (1 &lt;= L &lt;= context length,
   * ids in [0, vocab size), as open_clip's tokenizer writes them: the end-of-text token is the
   * largest id of each row), on the towers' device; returns float32 [N, text width].
   *
   * @throws InvalidInputException for a wrong rank, size, dtype, device or an id out of range
   */
  public Tensor encodeTextFeatures(Tensor ids) {
    return encodeText(ids, true);
  }

  private Tensor encodeText(Tensor ids, boolean checkRange) {
    try (UseGuard.Use use = guard.enter()) {
      int ctx = config.text().contextLength();
      String want = "token ids must be int64 [N, L] with 1 <= L <= " + ctx + " on " + deviceName;
      require(ids != null && ids.defined(), want + ", got " + (ids == null ? "null" : "an undefined tensor"));
      require(ids.dim() == 2 && ids.size(0) >= 1 && ids.size(1) >= 1 && ids.size(1) <= ctx,
          want + ", got " + TensorShapes.describe(ids));
      require(ids.scalar_type().intern() == ScalarType.Long, want + ", got " + ids.scalar_type().intern());
      requireDevice(ids, want);
      try (Engine.InferenceScope scope = Engine.inference()) {
        if (checkRange) {
          long[] range = ClipModel.idRange(ids); // one device read when the ids are on CUDA
          int vocab = config.text().vocabSize();
          require(range[0] >= 0 && range[1] < vocab,
              "token ids must be in [0, " + vocab + "), got values in [" + range[0] + ", " + range[1] + "]");
        }
        return state.packed != null ? state.packed.encodeText(ids) : run(state.text, ids);
      }
    }
  }

  /**
   * A copy of a tower's projection, float32 [width, embed dim] ({@code visual.proj} or {@code
   * text_projection}), for the embedding head: embeddings = normalize(features @ projection).
   */
  public Tensor projection(Tower tower) {
    Objects.requireNonNull(tower, "tower");
    try (UseGuard.Use use = guard.enter()) {
      return (tower == Tower.VISUAL ? state.visualProj : state.textProj).clone();
    }
  }

  /** The checkpoint's {@code logit_scale} (logits = exp(logitScale) * I @ T^T). */
  public float logitScale() {
    return logitScale;
  }

  /**
   * The image tower as an {@link Encoder} for a {@link ClipModel}. The view validates like
   * {@link #encodeImageFeatures}; closing it does nothing (this object owns the module).
   */
  public Encoder imageEncoder() {
    return new View("visual", this::encodeImageFeatures);
  }

  /** The text tower as an {@link Encoder}; see {@link #imageEncoder()}. */
  public Encoder textEncoder() {
    return new View("text", this::encodeTextFeatures);
  }

  /**
   * The text tower for a {@link ClipModel}, which checks the ids' range itself before they reach
   * the device (on the host where they are, without a device sync): shape, dtype and device are
   * checked here, the range is not.
   */
  Encoder textEncoderIdsChecked() {
    return new View("text", ids -> encodeText(ids, false));
  }

  private record View(String name, java.util.function.UnaryOperator<Tensor> f) implements Encoder {
    @Override
    public Tensor features(Tensor input) {
      return f.apply(input);
    }

    @Override
    public void close() {}
  }

  /**
   * Runs a tower (sample by sample with {@link Gemm#SAMPLE_BY_SAMPLE}). Features leave in the
   * compute precision on CUDA (the CUDA head takes half inputs), as float32 on a CPU (its head is
   * fp32).
   */
  private Tensor run(JitModule m, Tensor input) {
    Tensor f = gemm == Gemm.SAMPLE_BY_SAMPLE && input.size(0) > 1 ? sampleBySample(m, input) : forward(m, input);
    if (f.scalar_type().intern() == ScalarType.Float || device.is_cuda()) {
      return f;
    }
    try (Tensor low = f) {
      return low.to(ScalarType.Float);
    }
  }

  private static Tensor forward(JitModule m, Tensor input) {
    // The IValues hold references to the input and output: free them now, not at GC.
    try (IValue in = new IValue(input); IValueVector args = new IValueVector(in); IValue out = m.forward(args)) {
      return new Tensor(out.toTensor()); // toTensor() is a reference into `out`: take our own handle
    }
  }

  /**
   * Each sample alone: a fresh copy of its slice (so its memory starts where a batch of one's
   * would, whatever its position in the batch), one forward each, then the rows concatenated.
   * Launches only: nothing here waits for the device.
   */
  private static Tensor sampleBySample(JitModule m, Tensor input) {
    long n = input.size(0);
    Tensor[] rows = new Tensor[Math.toIntExact(n)];
    try {
      for (int i = 0; i < n; i++) {
        try (Tensor slice = input.narrow(0, i, 1); Tensor own = slice.clone()) {
          rows[i] = forward(m, own);
        }
      }
      try (org.bytedeco.pytorch.TensorVector v = new org.bytedeco.pytorch.TensorVector(rows)) {
        return torch.cat(v, 0);
      }
    } finally {
      for (Tensor r : rows) {
        if (r != null) {
          r.close();
        }
      }
    }
  }

  private void requireDevice(Tensor t, String want) {
    try (Device dev = t.device(); org.bytedeco.javacpp.BytePointer name = dev.str()) {
      String d = name.getString();
      require(d.equals(deviceName), want + ", got a tensor on " + d);
    }
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new InvalidInputException(message);
    }
  }


  private static String firstLine(Throwable e) {
    return TorchScriptModels.firstLine(e); // the first non-blank line: LibTorch's may start with '\n'
  }

  /** Waits for calls in flight, then releases the modules and weights. Idempotent. */
  @Override
  public void close() {
    guard.close(() -> {
      state.closedExplicitly = true;
      cleanable.clean();
    });
  }
}
