package dev.clip4j.model;

import dev.clip4j.Clip4jException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.internal.Messages;
import dev.clip4j.internal.TensorShapes;
import dev.clip4j.internal.UseGuard;
import java.lang.ref.Cleaner;
import java.util.ArrayList;
import java.util.LinkedHashMap;
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
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The two towers of an open_clip SigLIP ({@link SiglipConfig}), compiled from TorchScript source
 * generated here with the checkpoint's weights as parameters: pixels to the MAP head's pooled
 * output (timm's {@code VisionTransformer.forward}: patch embedding with bias, positional
 * embedding, pre-norm blocks, final norm, attention-pool head; no projection), token ids to the
 * text tower's last position after {@code ln_final} (before {@code text_projection}, which the
 * caller's fused head applies with its bias). Float32 only.
 *
 * <p>Where clip4j's packed CPU kernels run (fp32, x86-64 with AVX2 and FMA, unless {@value
 * ClipTowers#PACKED_GEMM_PROPERTY}=false) the residual blocks run on them ({@link
 * PackedTowers#blocksOnly}: LayerNorm eps from the configuration (1e-6, {@code norm_kwargs} or
 * transformers' {@code layer_norm_eps}), the GELU (erf) epilogue or the GELU-tanh one where the
 * tower's configuration says tanh (SigLIP2's text tower, both towers of transformers' SiglipModel),
 * non-causal attention); the towers' ends (patch embedding, MAP head, token embedding, pooling),
 * and the blocks where the packed kernels do not run, are TorchScript with one GEMM per
 * sample ({@code baddbmm}). Either way a sample's features are
 * bitwise independent of its batch; on CUDA each sample runs alone (the shapes of a batch of one).
 *
 * <p>Ownership and thread safety as {@link ClipTowers}: the towers copy the weights they take;
 * encode methods may run concurrently; {@link #close()} waits for calls in flight.
 */
public final class SiglipTowers implements AutoCloseable {
  private static final Cleaner CLEANER = Cleaner.create();

  private final SiglipConfig config;
  private final Device device;
  private final String deviceName;
  private final State state;
  private final Cleaner.Cleanable cleanable;
  private final float logitScale;
  private final float logitBias;
  private final UseGuard guard = new UseGuard("SiglipTowers");

  private static final class State implements Runnable {
    final JitModule visual; // the whole tower, or its embedding when the blocks run packed
    final JitModule visualHead; // null, or the final norm + MAP head after packed blocks
    final JitModule text; // the whole tower, or its embedding when the blocks run packed
    final JitModule textHead; // null, or ln_final + last position after packed blocks
    final PackedTowers packed; // null, or the block stacks on clip4j's native kernels
    final Tensor textProjWeight;
    final Tensor textProjBias;
    volatile boolean closedExplicitly;

    State(JitModule visual, JitModule visualHead, JitModule text, JitModule textHead, PackedTowers packed,
        Tensor w, Tensor b) {
      this.visual = visual;
      this.visualHead = visualHead;
      this.text = text;
      this.textHead = textHead;
      this.packed = packed;
      this.textProjWeight = w;
      this.textProjBias = b;
    }

    @Override
    public void run() {
      if (!closedExplicitly) {
        System.getLogger(SiglipTowers.class.getName())
            .log(System.Logger.Level.WARNING, "SiglipTowers was not closed; releasing its modules");
      }
      visual.close();
      text.close();
      if (visualHead != null) {
        visualHead.close();
      }
      if (textHead != null) {
        textHead.close();
      }
      if (packed != null) {
        packed.close();
      }
      textProjWeight.close();
      textProjBias.close();
    }
  }

  private SiglipTowers(SiglipConfig config, Device device, State state, float logitScale, float logitBias) {
    this.config = config;
    this.device = device;
    this.state = state;
    this.deviceName = state.textProjWeight.device().str().getString();
    this.logitScale = logitScale;
    this.logitBias = logitBias;
    this.cleanable = CLEANER.register(this, state);
  }

  /**
   * Validates every tensor's name, shape and dtype against {@link SiglipConfig#schema()} (every
   * problem listed at once) and builds the towers on {@code device} in float32.
   *
   * @param weights tensors by open_clip name (or {@link StreamedWeights}); copied, not retained
   * @throws InvalidModelException naming every missing, unexpected, mis-shaped or non-float tensor
   * @throws Clip4jException UNSUPPORTED for a precision other than FP32
   */
  public static SiglipTowers build(SiglipConfig config, Map<String, Tensor> weights, Device device,
      Precision precision) {
    return build(config, weights, device, precision, dev.clip4j.CpuKernels.fromSystemProperty());
  }

  /**
   * As {@link #build(SiglipConfig, Map, Device, Precision)}, the blocks on the packed kernels of
   * family {@code kernels} where they run (a family this CPU lacks is refused as UNSUPPORTED).
   */
  public static SiglipTowers build(SiglipConfig config, Map<String, Tensor> weights, Device device,
      Precision precision, dev.clip4j.CpuKernels kernels) {
    Objects.requireNonNull(kernels, "kernels");
    Objects.requireNonNull(config, "config");
    Objects.requireNonNull(weights, "weights");
    Objects.requireNonNull(device, "device");
    Engine.ensureInitialized();
    boolean bf16 = precision == Precision.BF16;
    if (precision != Precision.FP32 && !(bf16 && packedRuns(device))) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, config.source() + ": SigLIP towers run in fp32, or bf16 on"
          + " clip4j's packed CPU kernels (x86-64 with AVX-512 and AVX512_BF16), not " + precision + " on "
          + device.str().getString());
    }
    Map<String, long[]> actual = new LinkedHashMap<>();
    List<String> badTypes = new ArrayList<>();
    if (weights instanceof StreamedWeights streamed) {
      actual.putAll(streamed.shapes()); // dtypes were checked when the header was read
    } else {
      weights.forEach((name, t) -> {
        if (t == null || !t.defined()) {
          actual.put(name, null);
          badTypes.add(name + " (undefined)");
          return;
        }
        long[] s = new long[(int) t.dim()];
        for (int d = 0; d < s.length; d++) {
          s[d] = t.size(d);
        }
        actual.put(name, s);
        ScalarType st = t.scalar_type().intern();
        if (st != ScalarType.Float && st != ScalarType.Half && st != ScalarType.BFloat16 && st != ScalarType.Double) {
          badTypes.add(name + " (" + st + ")");
        }
      });
    }
    validate(config, actual, badTypes, config.source());
    Builder b = new Builder(weights, device, config);
    float scale;
    float bias;
    try (Tensor ls = b.weight("logit_scale"); Tensor lb = b.weight("logit_bias")) {
      scale = ls.item_float();
      bias = lb.item_float();
    }
    JitModule visual = null;
    JitModule visualHead = null;
    JitModule text = null;
    JitModule textHead = null;
    PackedTowers packed = null;
    Tensor pw = null;
    Tensor pb = null;
    boolean packedBlocks = packedRuns(device);
    try {
      if (packedBlocks) {
        SiglipConfig.Trunk v = config.vision();
        SiglipConfig.Text t = config.text();
        int family = dev.clip4j.internal.GemmPool.resolveKernels(kernels, bf16);
        packed = PackedTowers.blocksOnly(name -> b.weight(packedName(name)), Engine.ensureInitialized().blasThreads(),
            family, bf16, new PackedTowers.BlockStack("visual.trunk", v.depth(), v.heads(), v.width(), v.mlpWidth(),
                (float) v.normEps(), nativeGelu(v.activation())),
            new PackedTowers.BlockStack("text.transformer", t.layers(), t.heads(), t.width(), t.mlpWidth(),
                (float) t.normEps(), nativeGelu(t.activation())));
        visual = prepare(b.vision(true, false, false, "SiglipVisionEmbed"));
        visualHead = prepare(b.vision(false, false, true, "SiglipVisionHead"));
      } else {
        visual = prepare(b.vision(true, true, true, "SiglipVision"));
      }
      if (packedBlocks) {
        text = prepare(b.text(true, false, false, "SiglipTextEmbed"));
        textHead = prepare(b.text(false, false, true, "SiglipTextHead"));
      } else {
        text = prepare(b.text(true, true, true, "SiglipText"));
      }
      pw = b.weight("text.text_projection.weight");
      pb = b.weight("text.text_projection.bias");
    } catch (RuntimeException e) {
      for (AutoCloseable c : new AutoCloseable[] {visual, visualHead, text, textHead, packed, pw, pb}) {
        if (c != null) {
          try {
            c.close();
          } catch (Exception ignored) {
            // closing what was built so far
          }
        }
      }
      throw e instanceof Clip4jException c ? c
          : new InvalidModelException(config.source() + ": the SigLIP towers could not be built: "
              + TorchScriptModels.firstLine(e), e);
    }
    return new SiglipTowers(config, device, new State(visual, visualHead, text, textHead, packed, pw, pb), scale,
        bias);
  }

  /** The packed MLP epilogue's activation code for a GELU form. */
  static int nativeGelu(SiglipConfig.Gelu gelu) {
    return switch (gelu) {
      case ERF -> dev.clip4j.jni.Clip4jNative.CLIP4J_ACT_GELU;
      case TANH -> dev.clip4j.jni.Clip4jNative.CLIP4J_ACT_GELU_TANH;
    };
  }

  /** Where the packed kernels run: fp32 on an x86-64 CPU with AVX2 and FMA, unless clip4j.packedGemm=false. */
  private static boolean packedRuns(Device device) {
    return device.is_cpu() && dev.clip4j.internal.GemmPool.supported()
        && !"false".equalsIgnoreCase(System.getProperty(ClipTowers.PACKED_GEMM_PROPERTY));
  }

  /**
   * The SigLIP name of a block weight the packed stack asks for under open_clip's block names:
   * the text tower's are open_clip's already; timm's trunk calls them {@code blocks.i.norm1},
   * {@code attn.qkv}, {@code attn.proj}, {@code norm2}, {@code mlp.fc1}, {@code mlp.fc2}.
   */
  static String packedName(String name) {
    String p = "visual.trunk.resblocks.";
    if (!name.startsWith(p)) {
      return name;
    }
    return ("visual.trunk.blocks." + name.substring(p.length()))
        .replace(".ln_1.", ".norm1.").replace(".ln_2.", ".norm2.")
        .replace(".attn.in_proj_weight", ".attn.qkv.weight").replace(".attn.in_proj_bias", ".attn.qkv.bias")
        .replace(".attn.out_proj.", ".attn.proj.").replace(".mlp.c_fc.", ".mlp.fc1.").replace(".mlp.c_proj.", ".mlp.fc2.");
  }

  /** Every missing, unexpected, mis-shaped and non-floating tensor, in one message. */
  static void validate(SiglipConfig config, Map<String, long[]> actual, List<String> badTypes, String source) {
    long expected = config.expectedTensors();
    if (expected > actual.size() + ConfigBounds.SLACK) {
      throw new InvalidModelException(source + ": the configuration (" + config.vision().depth() + " image blocks, "
          + config.text().layers() + " text blocks) expects " + expected + " tensors but the weights hold "
          + actual.size());
    }
    Map<String, long[]> schema = config.schema();
    List<String> missing = new ArrayList<>();
    List<String> wrong = new ArrayList<>();
    List<String> unexpected = new ArrayList<>();
    schema.forEach((k, shape) -> {
      if (!actual.containsKey(k)) {
        missing.add(k + " " + java.util.Arrays.toString(shape));
      } else if (!java.util.Arrays.equals(actual.get(k), shape)) {
        wrong.add(k + " is " + java.util.Arrays.toString(actual.get(k)) + ", expected "
            + java.util.Arrays.toString(shape));
      }
    });
    actual.forEach((k, shape) -> {
      if (!schema.containsKey(k)) {
        unexpected.add(k + (shape == null ? "" : " " + java.util.Arrays.toString(shape)));
      }
    });
    List<String> problems = new ArrayList<>();
    Messages.addCounted(problems, missing, "missing", ", ");
    Messages.addCounted(problems, unexpected, "unexpected", ", ");
    Messages.addCounted(problems, wrong, "with the wrong shape", "; ");
    Messages.addCounted(problems, badTypes, "not floating point", ", ");
    if (problems.isEmpty()) {
      return;
    }
    StringBuilder sb = new StringBuilder(source).append(": the weights do not match an open_clip SigLIP with this"
        + " configuration (").append(config.describe()).append("; ").append(schema.size())
        .append(" tensors expected, ").append(actual.size()).append(" found).");
    if (actual.keySet().stream().anyMatch(k -> k.startsWith("vision_model.") || k.startsWith("text_model."))) {
      sb.append("\n  hint: the keys look like a Hugging Face transformers SiglipModel checkpoint (vision_model.*,"
          + " text_model.*), not open_clip's names: load its directory (config.json beside it), which clip4j reads"
          + " as transformers does");
    }
    for (String p : problems) {
      sb.append("\n  ").append(p);
    }
    throw new InvalidModelException(sb.toString());
  }

  private static JitModule prepare(JitModule m) {
    m.eval();
    JitModule frozen = torch.freeze(m);
    m.close();
    return frozen;
  }

  /** Generates the TorchScript modules and registers the weights as their parameters. */
  private static final class Builder {
    private final Map<String, Tensor> sd;
    private final Device device;
    private final SiglipConfig c;
    private final CompilationUnit cu = new CompilationUnit();
    private int params;

    Builder(Map<String, Tensor> sd, Device device, SiglipConfig c) {
      this.sd = sd;
      this.device = device;
      this.c = c;
    }

    Tensor weight(String name) {
      if (sd instanceof StreamedWeights) {
        try (Tensor src = sd.get(name); Tensor t = src.detach();
            MemoryFormatOptional keep = new MemoryFormatOptional();
            Tensor moved = t.to(device, ScalarType.Float, false, false, keep)) {
          return moved.contiguous();
        }
      }
      Tensor t = sd.get(name).detach();
      return t.to(device, ScalarType.Float, false, true, new MemoryFormatOptional()).contiguous();
    }

    /** Registers {@code name}'s tensor as a parameter of {@code m}; returns {@code self.<attr>}. */
    String param(JitModule m, String name) {
      String attr = "p" + (params++);
      m.register_parameter(attr, weight(name), false);
      return "self." + attr;
    }

    String linearArgs(JitModule m, String prefix) {
      return param(m, prefix + ".weight") + ", " + param(m, prefix + ".bias");
    }

    /** The block, LayerNorm, linear and attention methods shared by both towers. */
    String common(int heads, double eps, String gelu) {
      String e = java.math.BigDecimal.valueOf(eps).toPlainString();
      // GELU one sample at a time: ATen's element-wise loops run vectors from the tensor's start and
      // the remainder in scalar code, whose tanh/erf may differ in the last bit, so over a whole batch a
      // sample's elements would fall on either side depending on its position (when a sample's size is
      // not a multiple of the vector width, e.g. the MAP head's [1, F] rows with F = 52).
      return ""
          + "def act(self, h: Tensor) -> Tensor:\n"
          + "    rows: List[Tensor] = []\n"
          + "    for i in range(h.size(0)):\n"
          + "        s = h[i]\n"
          + "        rows.append(" + gelu + ")\n"
          + "    return torch.stack(rows)\n"
          + "\n"
          + "def lin(self, x: Tensor, w: Tensor, b: Tensor) -> Tensor:\n"
          + "    return torch.baddbmm(b, x, w.t().expand([x.size(0), w.size(1), w.size(0)]))\n"
          + "\n"
          + "def ln(self, x: Tensor, w: Tensor, b: Tensor) -> Tensor:\n"
          + "    return torch.layer_norm(x, [w.size(0)], w, b, " + e + ")\n"
          + "\n"
          + "def attn(self, x: Tensor, qkv_w: Tensor, qkv_b: Tensor, o_w: Tensor, o_b: Tensor) -> Tensor:\n"
          + "    n = x.size(0)\n"
          + "    l = x.size(1)\n"
          + "    d = x.size(2)\n"
          + "    qkv = self.lin(x, qkv_w, qkv_b).reshape([n, l, 3, " + heads + ", d // " + heads + "])"
          + ".permute([2, 0, 3, 1, 4])\n"
          + "    o = torch.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], None, 0.0, False)\n"
          + "    o = o.transpose(1, 2).reshape([n, l, d])\n"
          + "    return self.lin(o, o_w, o_b)\n"
          + "\n"
          + "def block(self, x: Tensor, n1w: Tensor, n1b: Tensor, qkv_w: Tensor, qkv_b: Tensor, o_w: Tensor,"
          + " o_b: Tensor, n2w: Tensor, n2b: Tensor, f1w: Tensor, f1b: Tensor, f2w: Tensor, f2b: Tensor) -> Tensor:\n"
          + "    x = x + self.attn(self.ln(x, n1w, n1b), qkv_w, qkv_b, o_w, o_b)\n"
          + "    h = self.lin(self.ln(x, n2w, n2b), f1w, f1b)\n"
          + "    h = self.act(h)\n"
          + "    return x + self.lin(h, f2w, f2b)\n";
    }

    private static String gelu(SiglipConfig.Gelu g) {
      return g == SiglipConfig.Gelu.TANH ? "torch.gelu(s, approximate='tanh')" : "torch.gelu(s)";
    }

    /** The image tower, or its part: embedding (pixels to tokens), blocks, head (final norm + MAP). */
    JitModule vision(boolean embed, boolean blocks, boolean head, String name) {
      SiglipConfig.Trunk v = c.vision();
      JitModule m = new JitModule(new QualifiedName("__torch__.clip4j." + name), cu, true);
      String p = "visual.trunk.";
      StringBuilder f = new StringBuilder("def forward(self, x: Tensor) -> Tensor:\n");
      if (embed) {
        String pos = param(m, p + "pos_embed");
        // The patch embedding (a conv2d with kernel = stride = patch) as one GEMM per sample over the
        // flattened patches, (channel, row, column) like the kernel: LibTorch's convolutions choose
        // their blocking by the batch size, so a conv2d would make a sample's bits depend on its batch.
        int ps = v.patchSize();
        int g = v.imageSize() / ps;
        String pw = param(m, p + "patch_embed.proj.weight");
        String pb = param(m, p + "patch_embed.proj.bias");
        f.append("    n = x.size(0)\n");
        if (g * ps != v.imageSize()) { // e.g. 384 px at patch 14: the convolution leaves the last 6 rows and columns out
          f.append("    x = x[:, :, 0:").append(g * ps).append(", 0:").append(g * ps).append("].contiguous()\n");
        }
        f.append("    x = x.reshape([n, 3, ").append(g).append(", ").append(ps).append(", ").append(g).append(", ")
            .append(ps).append("]).permute([0, 2, 4, 1, 3, 5]).reshape([n, ").append(g * g).append(", ")
            .append(3 * ps * ps).append("])\n");
        f.append("    x = self.lin(x, ").append(pw).append(".reshape([").append(v.width()).append(", ")
            .append(3 * ps * ps).append("]), ").append(pb).append(")\n");
        f.append("    x = x + ").append(pos).append("\n");
      }
      if (blocks) {
        for (int i = 0; i < v.depth(); i++) {
          f.append("    x = self.block(x, ").append(blockArgs(m, p + "blocks." + i + ".", "norm1", "attn.qkv",
              "attn.proj", "norm2", "mlp.fc1", "mlp.fc2")).append(")\n");
        }
      }
      if (head) {
        f.append("    n = x.size(0)\n");
        f.append("    x = self.ln(x, ").append(linearArgs(m, p + "norm")).append(")\n");
        // timm AttentionPoolLatent: latent query, q / kv projections, attention, proj, x + mlp(norm(x)).
        String a = p + "attn_pool.";
        String latent = param(m, a + "latent");
        int w = v.width();
        int h = v.heads();
        f.append("    q = self.lin(").append(latent).append(".expand([n, 1, ").append(w).append("]), ")
            .append(linearArgs(m, a + "q")).append(")\n");
        f.append("    q = q.reshape([n, 1, ").append(h).append(", ").append(w / h).append("]).transpose(1, 2)\n");
        f.append("    kv = self.lin(x, ").append(linearArgs(m, a + "kv")).append(")\n");
        f.append("    kv = kv.reshape([n, x.size(1), 2, ").append(h).append(", ").append(w / h)
            .append("]).permute([2, 0, 3, 1, 4])\n");
        f.append("    o = torch.scaled_dot_product_attention(q, kv[0], kv[1], None, 0.0, False)\n");
        f.append("    o = o.transpose(1, 2).reshape([n, 1, ").append(w).append("])\n");
        f.append("    o = self.lin(o, ").append(linearArgs(m, a + "proj")).append(")\n");
        f.append("    h = self.lin(self.ln(o, ").append(linearArgs(m, a + "norm")).append("), ")
            .append(linearArgs(m, a + "mlp.fc1")).append(")\n");
        f.append("    h = self.act(h)\n");
        f.append("    o = o + self.lin(h, ").append(linearArgs(m, a + "mlp.fc2")).append(")\n");
        f.append("    x = o[:, 0]\n");
      }
      f.append("    return x\n");
      m.define(common(v.heads(), v.normEps(), gelu(v.activation())) + "\n" + f);
      return m;
    }

    /** The text tower, or its part: embedding (ids to tokens), blocks, head (ln_final, last position). */
    JitModule text(boolean embed, boolean blocks, boolean head, String name) {
      SiglipConfig.Text t = c.text();
      JitModule m = new JitModule(new QualifiedName("__torch__.clip4j." + name), cu, true);
      StringBuilder f = new StringBuilder(embed ? "def forward(self, text: Tensor) -> Tensor:\n"
          : "def forward(self, x: Tensor) -> Tensor:\n");
      if (embed) {
        String tok = param(m, "text.token_embedding.weight");
        String pos = param(m, "text.positional_embedding");
        f.append("    l = text.size(1)\n");
        f.append("    x = torch.embedding(").append(tok).append(", text)\n");
        f.append("    x = x + ").append(pos).append("[:l]\n");
      }
      if (blocks) {
        for (int i = 0; i < t.layers(); i++) {
          f.append("    x = self.block(x, ").append(blockArgs(m, "text.transformer.resblocks." + i + ".", "ln_1",
              "attn.in_proj_", "attn.out_proj", "ln_2", "mlp.c_fc", "mlp.c_proj")).append(")\n");
        }
      }
      if (head) {
        f.append("    x = self.ln(x, ").append(linearArgs(m, "text.ln_final")).append(")\n");
        f.append("    x = x[:, -1]\n");
      }
      f.append("    return x\n");
      m.define(common(t.heads(), t.normEps(), gelu(t.activation())) + "\n" + f);
      return m;
    }

    private String blockArgs(JitModule m, String p, String n1, String qkv, String o, String n2, String f1, String f2) {
      String qkvArgs = qkv.endsWith("_")
          ? param(m, p + qkv + "weight") + ", " + param(m, p + qkv + "bias")
          : linearArgs(m, p + qkv);
      return String.join(", ", linearArgs(m, p + n1), qkvArgs, linearArgs(m, p + o), linearArgs(m, p + n2),
          linearArgs(m, p + f1), linearArgs(m, p + f2));
    }
  }

  /** The configuration. */
  public SiglipConfig config() {
    return config;
  }

  /** {@code logit_scale} (scores use exp of it). */
  public float logitScale() {
    return logitScale;
  }

  /** {@code logit_bias}. */
  public float logitBias() {
    return logitBias;
  }

  /** What batch invariance rests on, in one line (for {@code info()}). */
  public String invariance() {
    if (device.is_cuda()) {
      return "batch-invariant: each sample runs alone through the tower (the shapes of a batch of one)";
    }
    if (state.packed == null) {
      return "batch-invariant: one GEMM per sample on the CPU BLAS";
    }
    return "batch-invariant: image blocks" + (config.vision().activation() == SiglipConfig.Gelu.TANH
        ? " (GELU-tanh)" : "") + " and text blocks" + (config.text().activation() == SiglipConfig.Gelu.TANH
        ? " (GELU-tanh)" : "") + " on clip4j's packed CPU kernels (one fixed summation order"
        + (state.packed.kernelsName().endsWith("_bf16") ? ", bf16 weights, fp32 accumulation" : "")
        + "), the towers' ends as per-sample fp32 GEMMs";
  }

  /** A copy of {@code text.text_projection.weight}, float32 [embed, width] (nn.Linear layout). */
  public Tensor textProjectionWeight() {
    try (UseGuard.Use use = guard.enter()) {
      return state.textProjWeight.clone();
    }
  }

  /** A copy of {@code text.text_projection.bias}, float32 [embed]. */
  public Tensor textProjectionBias() {
    try (UseGuard.Use use = guard.enter()) {
      return state.textProjBias.clone();
    }
  }

  /**
   * The MAP head's pooled output, float32 [N, width], for {@code pixels} float32 [N, 3, S, S] on
   * the towers' device.
   */
  public Tensor encodeImageFeatures(Tensor pixels) {
    try (UseGuard.Use use = guard.enter()) {
      int s = config.vision().imageSize();
      String want = "pixels must be float32 [N, 3, " + s + ", " + s + "] on " + deviceName;
      require(pixels != null && pixels.defined(), want);
      require(pixels.dim() == 4 && pixels.size(0) >= 1 && pixels.size(1) == 3 && pixels.size(2) == s
          && pixels.size(3) == s, want + ", got " + TensorShapes.describe(pixels));
      require(pixels.scalar_type().intern() == ScalarType.Float, want + ", got " + pixels.scalar_type().intern());
      requireDevice(pixels, want);
      try (Engine.InferenceScope scope = Engine.inference()) {
        if (state.visualHead != null) {
          try (Tensor x = forward(state.visual, pixels); Tensor y = state.packed.runBlocks(true, x)) {
            return forward(state.visualHead, y);
          }
        }
        return run(state.visual, pixels);
      }
    }
  }

  /**
   * The text tower's features before the projection, float32 [N, width], for ids int64 [N, L] on
   * the towers' device, 1 &lt;= L &lt;= context length. The tower is not causal and pools the
   * last position: rows shorter than the context are padded with {@code padId} to the context
   * length first, as open_clip's tokenizer writes them (padding='max_length'). Ids must be in
   * range (checked by the caller).
   */
  public Tensor encodeTextFeatures(Tensor ids, long padId) {
    try (UseGuard.Use use = guard.enter()) {
      int ctx = config.text().contextLength();
      String want = "token ids must be int64 [N, L] with 1 <= L <= " + ctx + " on " + deviceName;
      require(ids != null && ids.defined(), want);
      require(ids.dim() == 2 && ids.size(0) >= 1 && ids.size(1) >= 1 && ids.size(1) <= ctx,
          want + ", got " + TensorShapes.describe(ids));
      require(ids.scalar_type().intern() == ScalarType.Long, want + ", got " + ids.scalar_type().intern());
      requireDevice(ids, want);
      try (Engine.InferenceScope scope = Engine.inference()) {
        if (ids.size(1) < ctx) {
          try (Scalar pad = new Scalar(padId);
              Tensor padded = torch.constant_pad_nd(ids, new long[] {0, ctx - ids.size(1)}, pad)) {
            return runText(padded);
          }
        }
        return runText(ids);
      }
    }
  }

  private Tensor runText(Tensor ids) {
    if (state.textHead != null) {
      try (Tensor x = forward(state.text, ids); Tensor y = state.packed.runBlocks(false, x)) {
        return forward(state.textHead, y);
      }
    }
    return run(state.text, ids);
  }

  /** The packed kernel family ("avx2", "avx512"), or "libtorch" where nothing runs packed. */
  public String cpuKernels() {
    return state.packed == null ? "libtorch" : state.packed.kernelsName();
  }

  /** Which parts run on the packed native kernels: "image and text blocks", or "none". */
  public String packedShare() {
    return state.packed == null ? "none" : "image and text blocks";
  }

  private Tensor run(JitModule m, Tensor input) {
    if (!device.is_cuda() || input.size(0) == 1) {
      return forward(m, input);
    }
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

  private static Tensor forward(JitModule m, Tensor input) {
    try (IValue in = new IValue(input); IValueVector args = new IValueVector(in); IValue out = m.forward(args)) {
      return new Tensor(out.toTensor());
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

  /** Waits for calls in flight, then releases the modules and weights. Idempotent. */
  @Override
  public void close() {
    guard.close(() -> {
      state.closedExplicitly = true;
      cleanable.clean();
    });
  }
}
