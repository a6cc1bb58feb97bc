package dev.clip4j.model;

import dev.clip4j.Clip4jException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import dev.clip4j.head.EmbeddingHead;
import dev.clip4j.head.WeightLayout;
import dev.clip4j.internal.TensorShapes;
import dev.clip4j.internal.UseGuard;
import dev.clip4j.tokenize.TextTokenizer;
import java.lang.ref.Cleaner;
import java.util.HashMap;
import java.util.List;
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
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The towers of an open_clip ResNet CLIP ({@link ResNetConfig}): OpenAI's ModifiedResNet image
 * tower compiled from clip4j's TorchScript sources (LibTorch's convolution, BatchNorm in eval mode
 * with the running statistics, average pooling, the attention pool), and the causal CLIP text
 * transformer compiled as for ViT CLIPs ({@link ClipTowers#compileTextTower}). The attention
 * pool's output projection {@code c_proj} (weight and bias) and the L2 normalisation run in the
 * fused embedding head, as {@code visual.proj} does for ViT CLIPs.
 *
 * <p>Batch invariance: with {@code batchInvariant} (the default) each image runs alone through the
 * image tower (the shapes of a batch of one, whatever the batch), because LibTorch's convolutions
 * (oneDNN on a CPU, cuDNN on CUDA) choose their blocking by the batch size; the text tower runs one
 * GEMM per sample on a CPU ({@link ClipTowers.Gemm#PER_SAMPLE}) and sample by sample on CUDA. In
 * throughput mode both run the whole batch at once. fp32 only.
 *
 * <p>Ownership and threading as {@link ClipTowers}: the modules own copies of the weights; encode
 * methods may run concurrently; {@link #close()} waits for calls in flight.
 */
final class ResNetTowers implements AutoCloseable {
  /** BatchNorm2d's default eps (ModifiedResNet does not change it). */
  static final double BN_EPS = 1e-5;

  private static final Cleaner CLEANER = Cleaner.create();

  private final ResNetConfig config;
  private final Device device;
  private final String deviceName;
  private final boolean imageOneByOne;
  private final boolean textOneByOne;
  private final ClipTowers.Gemm textGemm;
  private final State state;
  private final Cleaner.Cleanable cleanable;
  private final float logitScale;
  private final UseGuard guard = new UseGuard("ResNetTowers");

  private static final class State implements Runnable {
    final JitModule visual;
    final JitModule text; // null when the packed kernels run the text tower
    final PackedTowers packed; // the text tower on clip4j's packed CPU kernels (Gemm.PACKED), else null
    final Tensor poolProjWeight; // c_proj.weight [embed, pool width] (nn.Linear layout)
    final Tensor poolProjBias;
    final Tensor textProj; // [text width, embed]
    volatile boolean closedExplicitly;

    State(JitModule visual, JitModule text, PackedTowers packed, Tensor poolProjWeight, Tensor poolProjBias,
        Tensor textProj) {
      this.visual = visual;
      this.text = text;
      this.packed = packed;
      this.poolProjWeight = poolProjWeight;
      this.poolProjBias = poolProjBias;
      this.textProj = textProj;
    }

    @Override
    public void run() {
      if (!closedExplicitly) {
        System.getLogger(ResNetTowers.class.getName())
            .log(System.Logger.Level.WARNING, "ResNetTowers was not closed; releasing its modules");
      }
      visual.close();
      if (text != null) {
        text.close();
      }
      if (packed != null) {
        packed.close();
      }
      poolProjWeight.close();
      poolProjBias.close();
      textProj.close();
    }
  }

  private ResNetTowers(ResNetConfig config, Device device, boolean batchInvariant, ClipTowers.Gemm textGemm,
      State state, float logitScale) {
    this.config = config;
    this.device = device;
    this.deviceName = state.textProj.device().str().getString();
    this.imageOneByOne = batchInvariant;
    this.textOneByOne = textGemm == ClipTowers.Gemm.SAMPLE_BY_SAMPLE;
    this.textGemm = textGemm;
    this.state = state;
    this.logitScale = logitScale;
    this.cleanable = CLEANER.register(this, state);
  }

  /**
   * Validates {@code weights} against {@link ResNetSchema} (every key, shape and element type) and
   * builds the towers on {@code device} in float32.
   *
   * @param weights tensors by open_clip name; {@link StreamedWeights} are read one at a time
   * @throws InvalidModelException listing every problem with the weights, or when the modules
   *     cannot be compiled
   */
  static ResNetTowers build(ResNetConfig config, Activation activation, Map<String, Tensor> weights, Device device,
      boolean batchInvariant) {
    return build(config, activation, weights, device, batchInvariant, dev.clip4j.CpuKernels.fromSystemProperty());
  }

  /**
   * As {@link #build(ResNetConfig, Activation, Map, Device, boolean)}; batch-invariant on a CPU
   * with AVX2 and FMA, the text tower runs on clip4j's packed kernels of family {@code kernels}
   * (as a ViT CLIP's text tower does), elsewhere one LibTorch GEMM per sample.
   */
  static ResNetTowers build(ResNetConfig config, Activation activation, Map<String, Tensor> weights, Device device,
      boolean batchInvariant, dev.clip4j.CpuKernels kernels) {
    Objects.requireNonNull(config, "config");
    if (activation != Activation.GELU && activation != Activation.QUICK_GELU) {
      throw new IllegalArgumentException("the MLP activation must be gelu or quick_gelu, got " + activation.id());
    }
    Engine.ensureInitialized();
    if (weights instanceof StreamedWeights streamed) {
      ResNetSchema.checkBounds(config, streamed.size(), config.source());
      ResNetSchema.of(config).validate(streamed.shapes(), Map.of(), config.source()); // dtypes checked by the reader
    } else {
      ResNetSchema.checkBounds(config, weights.size(), config.source());
      ResNetSchema.of(config).validateTensors(weights, config.source());
    }
    ClipTowers.Gemm textGemm;
    if (device.is_cuda()) {
      textGemm = batchInvariant ? ClipTowers.Gemm.SAMPLE_BY_SAMPLE : ClipTowers.Gemm.FOLDED;
    } else {
      textGemm = batchInvariant ? ClipTowers.invariantGemm(device, Precision.FP32, kernels) : ClipTowers.Gemm.FOLDED;
    }
    // Resolved before anything is built: an unsupported --cpu-kernels is refused up front.
    int family = textGemm == ClipTowers.Gemm.PACKED
        ? dev.clip4j.internal.GemmPool.resolveKernels(kernels, false) : 0;
    Loader l = new Loader(weights, device);
    Tensor wPool = null;
    Tensor bPool = null;
    Tensor textProj = null;
    JitModule visual = null;
    JitModule text = null;
    PackedTowers packed = null;
    float logitScale;
    try {
      wPool = l.weight("visual.attnpool.c_proj.weight");
      bPool = l.weight("visual.attnpool.c_proj.bias");
      textProj = l.weight("text_projection");
      try (Tensor ls = l.weight("logit_scale")) {
        logitScale = ls.item_float();
      }
      visual = l.visual(config);
      visual.eval(); // not frozen: freezing would fold BatchNorm into the convolutions and change the rounding
      if (textGemm == ClipTowers.Gemm.PACKED) {
        packed = PackedTowers.textOnly(config.text(), activation, l::weight, Engine.ensureInitialized().blasThreads(),
            family, false);
      } else {
        text = ClipTowers.compileTextTower(config.text(), activation, weights, device, textGemm);
      }
    } catch (RuntimeException e) {
      for (AutoCloseable c : new AutoCloseable[] {wPool, bPool, textProj}) {
        if (c != null) {
          ((Tensor) c).close();
        }
      }
      if (visual != null) {
        visual.close();
      }
      throw e instanceof Clip4jException c ? c : new InvalidModelException(
          config.source() + ": the ResNet towers could not be built: " + TorchScriptModels.firstLine(e), e);
    }
    return new ResNetTowers(config, device, batchInvariant, textGemm,
        new State(visual, text, packed, wPool, bPool, textProj), logitScale);
  }

  /** Reads weights (streamed or in memory) as contiguous float32 on the device, and assembles modules. */
  private static final class Loader {
    private final Map<String, Tensor> sd;
    private final Device device;
    private final CompilationUnit cu = new CompilationUnit();

    Loader(Map<String, Tensor> sd, Device device) {
      this.sd = sd;
      this.device = device;
    }

    Tensor weight(String name) {
      try (MemoryFormatOptional keep = new MemoryFormatOptional()) {
        if (sd instanceof StreamedWeights) {
          try (Tensor src = sd.get(name); Tensor t = src.detach();
              Tensor moved = t.to(device, ScalarType.Float, false, false, keep)) {
            return moved.contiguous();
          }
        }
        try (Tensor t = sd.get(name).detach(); Tensor moved = t.to(device, ScalarType.Float, false, true, keep)) {
          return moved.contiguous();
        }
      }
    }

    JitModule module(String type) {
      return new JitModule(new QualifiedName("__torch__.clip4j." + type), cu, true);
    }

    JitModule holder(String type, String prefix, String... names) {
      JitModule m = module(type);
      for (String n : names) {
        m.register_parameter(n, weight(prefix + "." + n), false);
      }
      return m;
    }

    JitModule conv(String prefix) {
      return holder("Conv2d", prefix, "weight");
    }

    JitModule bn(String prefix) {
      return holder("BatchNorm2d", prefix, "weight", "bias", "running_mean", "running_var");
    }

    JitModule bottleneck(String prefix, int stride, boolean downsample) {
      JitModule m = module("Bottleneck");
      for (int i = 1; i <= 3; i++) {
        m.register_module("conv" + i, conv(prefix + ".conv" + i));
        m.register_module("bn" + i, bn(prefix + ".bn" + i));
      }
      Map<String, String> v = new HashMap<>();
      v.put("EPS", Double.toString(BN_EPS));
      v.put("POOL", stride > 1 ? "    out = torch.avg_pool2d(out, [" + stride + ", " + stride + "])" : "");
      if (downsample) {
        m.register_module("downsample_conv", conv(prefix + ".downsample.0"));
        m.register_module("downsample_bn", bn(prefix + ".downsample.1"));
        String pooled = stride > 1 ? "torch.avg_pool2d(x, [" + stride + ", " + stride + "])" : "x";
        v.put("IDENTITY", "    identity = self.bn(torch.conv2d(" + pooled + ", self.downsample_conv.weight),"
            + " self.downsample_bn.weight, self.downsample_bn.bias, self.downsample_bn.running_mean,"
            + " self.downsample_bn.running_var)");
      } else {
        v.put("IDENTITY", "    identity = x");
      }
      m.define(TorchScriptSource.load("resnet_bottleneck.ts", v));
      return m;
    }

    JitModule visual(ResNetConfig c) {
      JitModule m = module("ModifiedResNet");
      for (int i = 1; i <= 3; i++) {
        m.register_module("conv" + i, conv("visual.conv" + i));
        m.register_module("bn" + i, bn("visual.bn" + i));
      }
      StringBuilder calls = new StringBuilder();
      long inplanes = c.width();
      for (int stage = 0; stage < 4; stage++) {
        long planes = (long) c.width() << stage;
        for (int b = 0; b < c.layers().get(stage); b++) {
          int stride = b == 0 && stage > 0 ? 2 : 1;
          boolean downsample = b == 0 && (stride > 1 || inplanes != planes * 4);
          String name = "layer" + (stage + 1) + "_" + b;
          m.register_module(name, bottleneck("visual.layer" + (stage + 1) + "." + b, stride, downsample));
          calls.append("    x = self.").append(name).append(".forward(x)\n");
          inplanes = planes * 4;
        }
      }
      JitModule pool = module("AttentionPool2d");
      pool.register_parameter("positional_embedding", weight("visual.attnpool.positional_embedding"), false);
      pool.register_module("q_proj", holder("Linear", "visual.attnpool.q_proj", "weight", "bias"));
      pool.register_module("k_proj", holder("Linear", "visual.attnpool.k_proj", "weight", "bias"));
      pool.register_module("v_proj", holder("Linear", "visual.attnpool.v_proj", "weight", "bias"));
      m.register_module("attnpool", pool);
      int headDim = c.poolWidth() / c.heads();
      m.define(TorchScriptSource.load("resnet_visual.ts", Map.of(
          "EPS", Double.toString(BN_EPS),
          "BLOCKS", calls.toString(),
          "HEADS", Integer.toString(c.heads()),
          "SCALE", Double.toString(Math.sqrt(headDim)))));
      return m;
    }
  }

  /** The configuration. */
  ResNetConfig config() {
    return config;
  }

  /** The embedding head of the image tower: {@code c_proj} (weight and bias), then L2 normalisation. */
  EmbeddingHead imageHead() {
    try (UseGuard.Use use = guard.enter()) {
      return EmbeddingHead.builder(state.poolProjWeight).layout(WeightLayout.OUT_IN).bias(state.poolProjBias).build();
    }
  }

  /** The embedding head of the text tower: {@code text_projection}, then L2 normalisation. */
  EmbeddingHead textHead() {
    try (UseGuard.Use use = guard.enter()) {
      return EmbeddingHead.builder(state.textProj).build();
    }
  }

  /** The checkpoint's {@code logit_scale}. */
  float logitScale() {
    return logitScale;
  }

  /**
   * The kernel family of the text tower ("avx2", "avx512") when clip4j's packed kernels run it, else
   * "libtorch" (the image tower always runs LibTorch's convolutions).
   */
  String cpuKernels() {
    return state.packed != null ? state.packed.kernelsName() : "libtorch";
  }

  /** What the batch-invariance of these towers rests on, for {@code info()}. */
  String invariance() {
    if (!imageOneByOne) {
      return "NOT batch-invariant (throughput mode): the image tower's convolutions and the text tower's GEMMs run"
          + " over the whole batch; the last bits depend on the batch";
    }
    return "batch-invariant: each image runs alone through the ResNet tower (SAMPLE_BY_SAMPLE: LibTorch's"
        + " convolutions choose their blocking by batch size, so the shapes of a batch of one are kept); texts: "
        + (textOneByOne ? "each sample alone" : state.packed != null
            ? "clip4j's packed CPU kernels sum every output in one fixed order"
            : "one GEMM per sample on the CPU BLAS");
  }

  /** Image features before {@code c_proj}: pixels float32 [N, 3, S, S] to [N, width * 32]. */
  Tensor encodeImageFeatures(Tensor pixels) {
    try (UseGuard.Use use = guard.enter()) {
      int s = config.imageSize();
      String want = "pixels must be float32 [N, 3, " + s + ", " + s + "] on " + deviceName;
      require(pixels != null && pixels.defined(), want + ", got " + (pixels == null ? "null" : "an undefined tensor"));
      require(pixels.dim() == 4 && pixels.size(0) >= 1 && pixels.size(1) == 3 && pixels.size(2) == s
          && pixels.size(3) == s, want + ", got " + TensorShapes.describe(pixels));
      require(pixels.scalar_type().intern() == ScalarType.Float, want + ", got " + pixels.scalar_type().intern());
      requireDevice(pixels, want);
      try (Engine.InferenceScope scope = Engine.inference()) {
        return imageOneByOne && pixels.size(0) > 1 ? sampleBySample(state.visual, pixels) : forward(state.visual, pixels);
      }
    }
  }

  /** Text features before the projection: ids int64 [N, L] (range checked by the model) to [N, text width]. */
  Tensor encodeTextFeatures(Tensor ids) {
    try (UseGuard.Use use = guard.enter()) {
      int ctx = config.text().contextLength();
      String want = "token ids must be int64 [N, L] with 1 <= L <= " + ctx + " on " + deviceName;
      require(ids != null && ids.defined(), want + ", got " + (ids == null ? "null" : "an undefined tensor"));
      require(ids.dim() == 2 && ids.size(0) >= 1 && ids.size(1) >= 1 && ids.size(1) <= ctx,
          want + ", got " + TensorShapes.describe(ids));
      require(ids.scalar_type().intern() == ScalarType.Long, want + ", got " + ids.scalar_type().intern());
      requireDevice(ids, want);
      try (Engine.InferenceScope scope = Engine.inference()) {
        if (state.packed != null) {
          return state.packed.encodeText(ids);
        }
        return textOneByOne && ids.size(0) > 1 ? sampleBySample(state.text, ids) : forward(state.text, ids);
      }
    }
  }

  private static Tensor forward(JitModule m, Tensor input) {
    try (IValue in = new IValue(input); IValueVector args = new IValueVector(in); IValue out = m.forward(args)) {
      return new Tensor(out.toTensor());
    }
  }

  /** Each sample alone, from its own copy (so its memory starts where a batch of one's would). */
  private static Tensor sampleBySample(JitModule m, Tensor input) {
    int n = Math.toIntExact(input.size(0));
    Tensor[] rows = new Tensor[n];
    try {
      for (int i = 0; i < n; i++) {
        try (Tensor slice = input.narrow(0, i, 1); Tensor own = slice.clone()) {
          rows[i] = forward(m, own);
        }
      }
      try (TensorVector v = new TensorVector(rows)) {
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
      require(name.getString().equals(deviceName), want + ", got a tensor on " + name.getString());
    }
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new InvalidInputException(message);
    }
  }

  @Override
  public void close() {
    guard.close(() -> {
      state.closedExplicitly = true;
      cleanable.clean();
    });
  }

  // ------------------------------------------------------------------ the model

  /** Builds a {@link ClipModel} from a ResNet CLIP description (called by {@link Architectures#build}). */
  static ClipModel model(ModelDescription d, Architecture.ClipResNet rn, LoadOptions options) {
    ResNetConfig cfg = rn.config();
    if (options.precision() != Precision.FP32) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, d.path() + ": ResNet CLIPs run in fp32 only in clip4j, not "
          + options.precision().id());
    }
    Device device = TorchScriptModels.parseDevice(options.device());
    TextTokenizer tokenizer = d.tokenizer().open();
    if (tokenizer.maxLength() != cfg.text().contextLength()) {
      throw new InvalidModelException(d.path() + ": the tokenizer's context length " + tokenizer.maxLength()
          + " differs from the text tower's " + cfg.text().contextLength());
    }
    ResNetTowers towers = rn.weights().buildWith(cfg.source(),
        weights -> build(cfg, rn.activation().activation(), weights, device, options.batchInvariant(),
            options.cpuKernels().orElseGet(dev.clip4j.CpuKernels::fromSystemProperty)));
    EmbeddingHead imageHead = null;
    EmbeddingHead textHead = null;
    boolean towersOwned = false;
    try {
      imageHead = towers.imageHead();
      textHead = towers.textHead();
      long dim = cfg.embedDim();
      ModelInfo info = new ModelInfo(d.format(), cfg.describe(), dim, cfg.imageSize(), cfg.text().contextLength(),
          cfg.text().vocabSize(), rn.activation().activation(), rn.activation().source(), tokenizer.describe(),
          ResNetSchema.of(cfg).parameterCount(), options.precision(),
          dev.clip4j.internal.Devices.canonical(options.device()), towers.cpuKernels(), d.fileHashes(), null,
          towers.invariance() + "; the fused head computes each row alone (any device)");
      ClipModel.ImageTower image = new ClipModel.ImageTower(
          new View("visual", towers::encodeImageFeatures), imageHead, d.preprocess(), options.precision());
      ClipModel.TextTower text = new Architectures.EncoderTextTower(new View("text", towers::encodeTextFeatures), textHead,
          tokenizer, cfg.text().vocabSize(), options.precision());
      ClipModel model = new ClipModel(info, image, text, towers.logitScale(), d, List.of(towers));
      imageHead = null;
      textHead = null;
      towersOwned = true;
      Architectures.checkDummyForward(model);
      return model;
    } catch (RuntimeException e) {
      if (imageHead != null) {
        imageHead.close();
      }
      if (textHead != null) {
        textHead.close();
      }
      if (!towersOwned) {
        towers.close();
      }
      throw e;
    }
  }

  // ------------------------------------------------------------------ weights

  /**
   * A checkpoint's weights for streaming: names, shapes and element types from the header checked
   * against {@link ResNetSchema} now (every problem listed); each tensor read when the builder asks.
   */
  static StreamedWeights stream(ResNetConfig config, java.util.function.Supplier<dev.clip4j.model.io.StateDict> open,
      String source) {
    dev.clip4j.model.io.StateDict sd = open.get();
    try {
      Map<String, long[]> shapes = new java.util.LinkedHashMap<>();
      Map<String, String> kinds = new java.util.LinkedHashMap<>();
      sd.tensors().forEach((k, t) -> {
        shapes.put(k, t.shape());
        kinds.put(k, ResNetSchema.kindOf(t.dtype()));
      });
      ResNetSchema.checkBounds(config, shapes.size(), source);
      ResNetSchema.of(config).validate(shapes, kinds, source);
      return new StreamedWeights(shapes, name -> dev.clip4j.model.io.StateDictTensors.toTensor(sd.get(name)), sd::close,
          source);
    } catch (RuntimeException e) {
      sd.close();
      throw e;
    }
  }

  /** A checkpoint file's weights (training wrappers and {@code module.} prefixes removed), streamed. */
  static WeightSource fileSource(ResNetConfig config, java.util.function.Supplier<java.nio.file.Path> file) {
    return WeightSource.streaming(() -> {
      java.nio.file.Path f = file.get();
      return stream(config, () -> dev.clip4j.model.io.CheckpointReader.readModelWeights(f), f.toString());
    });
  }

  private record View(String name, java.util.function.UnaryOperator<Tensor> f) implements Encoder {
    @Override
    public Tensor features(Tensor input) {
      return f.apply(input);
    }

    @Override
    public void close() {}
  }
}
