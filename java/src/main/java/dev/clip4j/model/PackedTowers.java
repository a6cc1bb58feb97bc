package dev.clip4j.model;

import dev.clip4j.head.Activation;
import dev.clip4j.internal.GemmPool;
import dev.clip4j.internal.NativeLib;
import dev.clip4j.jni.Clip4jNative;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.function.Function;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The open_clip ViT towers on clip4j's batch-invariant CPU kernels: every residual block runs
 * in native code (LayerNorm, the packed GEMMs with bias, activation, LayerScale and the residual
 * add fused into their epilogue, and multi-head attention), on workspace buffers reused from
 * call to call; the towers' ends (patch gathering, class and positional embeddings, token
 * embedding, pooling) are LibTorch operators. Each sample's result is bitwise independent of
 * the batch it is in. The linear layers run one kernel family ({@link GemmPool#resolveKernels}):
 * fp32 weights on AVX2 or AVX-512 (the same bits; within float rounding of open_clip), or bf16
 * weights on AVX-512 with AVX512_BF16 (each GEMM's input rows rounded to bf16, fp32 accumulation;
 * LayerNorm, attention, the residual stream and the towers' ends stay fp32).
 *
 * <p>Ownership: everything here (packed weights, LayerNorm parameters, embeddings, workspaces,
 * the worker threads) is owned by this object and released by {@link #close()}; the state dict
 * it was built from stays the caller's. Thread safety: the encode methods may run concurrently
 * (each call takes its own workspace); {@code close()} must not (ClipTowers' guard waits for calls
 * in flight).
 */
final class PackedTowers implements AutoCloseable {
  /** Workspaces kept per tower between calls (more are made under concurrency, then dropped). */
  private static final int KEPT_WORKSPACES = 2;

  private final GemmPool pool;
  private final int kernels;
  private final boolean bf16;
  private final int mlpActivation;
  private final List<AutoCloseable> owned = new ArrayList<>();
  // Arguments made once: creating them per call would allocate native memory per request.
  private final LongOptional lastDim = own(new LongOptional(-1));
  private final TensorOptions floats = own(new TensorOptions(ScalarType.Float));
  private final MemoryFormatOptional contiguous = own(new MemoryFormatOptional(torch.MemoryFormat.Contiguous));

  private final Tower vision;
  private final Tower text;

  // Vision tower ends.
  private final int patch;
  private final int grid;
  private final PackedLinear patchEmbedding;
  private final Tensor classEmbedding;
  private final Tensor visionPositions;
  private final Norm lnPre;
  private final Norm lnPost;
  private final boolean globalAveragePool;

  // Text tower ends.
  private final Tensor tokenEmbedding;
  private final Tensor textPositions;
  private final Norm lnFinal;

  /**
   * Builds both towers from float32 CPU tensors given by open_clip name ({@code weights} returns
   * a tensor the caller owns; it is closed after use here, or kept and owned).
   */
  PackedTowers(ModelConfig config, Activation activation, Function<String, Tensor> weights, int threads, int kernels,
      boolean bf16) {
    this(config.vision(), config.text(), activation, weights, threads, kernels, bf16);
  }

  /**
   * The causal CLIP text tower alone (token and positional embeddings, the blocks, ln_final), for
   * towers whose image side runs elsewhere (ResNet CLIPs); {@link #encodeImage} is then refused.
   */
  static PackedTowers textOnly(TextConfig text, Activation activation, Function<String, Tensor> weights, int threads,
      int kernels, boolean bf16) {
    return new PackedTowers(null, text, activation, weights, threads, kernels, bf16);
  }

  private PackedTowers(VisionConfig v, TextConfig t, Activation activation, Function<String, Tensor> weights,
      int threads, int kernels, boolean bf16) {
    this.kernels = kernels;
    this.bf16 = bf16;
    this.mlpActivation = activation == Activation.QUICK_GELU
        ? Clip4jNative.CLIP4J_ACT_QUICK_GELU : Clip4jNative.CLIP4J_ACT_GELU;
    boolean ok = false;
    try {
      if (v != null) {
        this.patch = v.patchSize();
        this.grid = v.imageSize() / v.patchSize();
        try (Tensor conv = weights.apply("visual.conv1.weight");
            Tensor flat = conv.reshape(v.width(), 3L * patch * patch)) {
          this.patchEmbedding = own(new PackedLinear(flat, null, kernels, bf16));
        }
        try (Tensor cls = weights.apply("visual.class_embedding")) {
          this.classEmbedding = own(cls.reshape(1, 1, v.width()).clone());
        }
        this.visionPositions = own(weights.apply("visual.positional_embedding"));
        this.lnPre = v.lnPre() ? own(new Norm(weights, "visual.ln_pre")) : null;
        this.vision = own(new Tower(weights, "visual.transformer", v.layers(), v.heads(), v.width(), v.mlpWidth(),
            v.layerScale(), false));
        this.lnPost = own(new Norm(weights, "visual.ln_post"));
        this.globalAveragePool = v.globalAveragePool();
      } else {
        this.patch = 0;
        this.grid = 0;
        this.patchEmbedding = null;
        this.classEmbedding = null;
        this.visionPositions = null;
        this.lnPre = null;
        this.vision = null;
        this.lnPost = null;
        this.globalAveragePool = false;
      }

      this.tokenEmbedding = own(weights.apply("token_embedding.weight"));
      this.textPositions = own(weights.apply("positional_embedding"));
      this.text = own(new Tower(weights, "transformer", t.layers(), t.heads(), t.width(), t.mlpWidth(),
          t.layerScale(), true));
      this.lnFinal = own(new Norm(weights, "ln_final"));
      this.pool = own(new GemmPool(threads));
      ok = true;
    } finally {
      if (!ok) {
        close();
      }
    }
  }

  /**
   * One tower's residual blocks for {@link #blocksOnly}: weights under {@code prefix.resblocks.i.*}
   * (open_clip's block names, as {@code weights} answers them), LayerNorm {@code eps}, the MLP's
   * native activation code.
   */
  record BlockStack(String prefix, int layers, int heads, int width, int mlpWidth, float eps, int activation) {}

  /**
   * Residual blocks only (for towers whose ends run elsewhere, e.g. SigLIP's timm trunk): {@code
   * vision} and/or {@code text} (either may be null), run by {@link #runBlocks}; {@code bf16}:
   * the GEMMs on bf16-rounded weights (LayerNorm, attention and the residual stream stay fp32).
   */
  static PackedTowers blocksOnly(Function<String, Tensor> weights, int threads, int kernels, boolean bf16,
      BlockStack vision, BlockStack text) {
    return new PackedTowers(weights, threads, kernels, bf16, vision, text);
  }

  private PackedTowers(Function<String, Tensor> weights, int threads, int kernels, boolean bf16, BlockStack v,
      BlockStack t) {
    this.kernels = kernels;
    this.bf16 = bf16;
    this.mlpActivation = Clip4jNative.CLIP4J_ACT_GELU;
    boolean ok = false;
    try {
      this.patch = 0;
      this.grid = 0;
      this.patchEmbedding = null;
      this.classEmbedding = null;
      this.visionPositions = null;
      this.lnPre = null;
      this.lnPost = null;
      this.globalAveragePool = false;
      this.tokenEmbedding = null;
      this.textPositions = null;
      this.lnFinal = null;
      this.vision = v == null ? null : own(new Tower(weights, v.prefix(), v.layers(), v.heads(), v.width(),
          v.mlpWidth(), false, false, v.eps(), v.activation()));
      this.text = t == null ? null : own(new Tower(weights, t.prefix(), t.layers(), t.heads(), t.width(),
          t.mlpWidth(), false, false, t.eps(), t.activation()));
      this.pool = own(new GemmPool(threads));
      ok = true;
    } finally {
      if (!ok) {
        close();
      }
    }
  }

  /**
   * Runs the vision (or text) block stack, non-causal, on {@code x} float32 [N, L, W] on the CPU;
   * returns a new [N, L, W] tensor (x is not changed).
   */
  Tensor runBlocks(boolean visionStack, Tensor x) {
    Tower tower = visionStack ? vision : text;
    if (tower == null) {
      throw new IllegalStateException("no " + (visionStack ? "vision" : "text") + " block stack");
    }
    long n = x.size(0);
    long l = x.size(1);
    Workspace w = tower.take(n * l);
    try {
      try (Tensor view = w.x(n, l)) {
        view.copy_(x);
      }
      tower.forward(w, n, l);
      try (Tensor view = w.x(n, l)) {
        return view.clone();
      }
    } finally {
      tower.give(w);
    }
  }

  private <T extends AutoCloseable> T own(T resource) {
    owned.add(resource);
    return resource;
  }

  /** The kernel family that runs the towers: "avx2", "avx512" or "avx512_bf16". */
  String kernelsName() {
    return GemmPool.kernelsName(kernels, bf16);
  }

  /** Threads of the kernels' pool. */
  int threads() {
    return pool.threads();
  }

  /** pixels float32 [N, 3, S, S] on the CPU (validated by the caller); returns [N, vision width]. */
  Tensor encodeImage(Tensor pixels) {
    if (vision == null) {
      throw new IllegalStateException("these packed towers hold the text tower only");
    }
    long n = pixels.size(0);
    long tokens = (long) grid * grid;
    long l = tokens + 1;
    Workspace w = vision.take(n * l);
    try {
      try (Tensor x = w.x(n, l)) {
        // conv1 (kernel = stride = patch, no bias) is a GEMM over the patches, each flattened as
        // (channel, row, column) like the kernel [width, 3, P, P].
        try (Tensor px = pixels.contiguous();
            Tensor r = px.reshape(n, 3, grid, patch, grid, patch);
            Tensor pr = r.permute(0, 2, 4, 1, 3, 5);
            Tensor pc = pr.contiguous();
            Tensor patches = pc.reshape(n, tokens, 3L * patch * patch);
            Tensor emb = patchEmbedding.forward(pool, patches);
            Tensor head = x.narrow(1, 0, 1);
            Tensor rest = x.narrow(1, 1, tokens)) {
          head.copy_(classEmbedding); // in-place ops return this same Java object: never closed here
          rest.copy_(emb);
        }
        x.add_(visionPositions);
      }
      if (lnPre != null) {
        lnPre.apply(pool, w.xPtr, n * l, vision.width, w.xPtr, vision.width);
      }
      vision.forward(w, n, l);
      Tensor out = torch.empty(new long[] {n, vision.width}, floats, contiguous);
      FloatPointer o = new FloatPointer(out.data_ptr());
      if (globalAveragePool) {
        try (Tensor x = w.x(n, l); Tensor mean = x.mean(1L)) {
          lnPost.apply(pool, new FloatPointer(mean.data_ptr()), n, vision.width, o, vision.width);
        }
      } else {
        // The class token of each sample: rows 0, L, 2L, ...
        lnPost.apply(pool, w.xPtr, n, l * vision.width, o, vision.width);
      }
      return out;
    } finally {
      vision.give(w);
    }
  }

  /** ids int64 [N, L] on the CPU (validated by the caller); returns [N, text width] at the EOT tokens. */
  Tensor encodeText(Tensor ids) {
    long n = ids.size(0);
    long l = ids.size(1);
    Workspace w = text.take(n * l);
    try {
      try (Tensor x = w.x(n, l); Tensor e = torch.embedding(tokenEmbedding, ids);
          Tensor pos = textPositions.narrow(0, 0, l)) {
        x.copy_(e);
        x.add_(pos);
      }
      text.forward(w, n, l);
      try (Tensor x = w.x(n, l);
          Tensor rows = x.reshape(n * l, text.width);
          Tensor at = ids.argmax(lastDim, false)) {
        // Row i pools at its end-of-text token (the largest id), as open_clip: x[arange(N), argmax].
        LongPointer p = new LongPointer(at.data_ptr());
        for (long i = 0; i < n; i++) {
          p.put(i, p.get(i) + i * l);
        }
        Tensor out = torch.index_select(rows, 0, at);
        FloatPointer o = new FloatPointer(out.data_ptr());
        // LayerNorm is row by row: the pooled rows normalised are the normalised rows pooled.
        lnFinal.apply(pool, o, n, text.width, o, text.width);
        return out;
      }
    } finally {
      text.give(w);
    }
  }

  /** LayerNorm over the last dimension, eps 1e-5 as open_clip's CLIP unless stated (fp32). */
  private static final class Norm implements AutoCloseable {
    final Tensor weight;
    final Tensor bias;
    final FloatPointer w;
    final FloatPointer b;
    final long width;
    final float eps;

    Norm(Function<String, Tensor> weights, String prefix) {
      this(weights, prefix, 1e-5f);
    }

    Norm(Function<String, Tensor> weights, String prefix, float eps) {
      this.eps = eps;
      weight = weights.apply(prefix + ".weight");
      bias = weights.apply(prefix + ".bias");
      w = new FloatPointer(weight.data_ptr());
      b = new FloatPointer(bias.data_ptr());
      width = weight.size(0);
    }

    void apply(GemmPool pool, FloatPointer x, long m, long ldx, FloatPointer y, long ldy) {
      NativeLib.check(Clip4jNative.clip4j_layer_norm_f32(pool.handle(), x, m, width, ldx, w, b, eps, y, ldy));
    }

    @Override
    public void close() {
      weight.close();
      bias.close();
    }
  }

  /** Buffers for one forward of up to {@code rows} = N * L tokens through one tower. */
  private final class Workspace implements AutoCloseable {
    final long rows;
    final long width;
    final Tensor buffer;
    final FloatPointer xPtr; // residual stream [rows, W]
    final FloatPointer hPtr; // LayerNorm output [rows, W]
    final FloatPointer qkvPtr; // [rows, 3W]
    final FloatPointer attnPtr; // [rows, W]
    final FloatPointer fPtr; // MLP hidden [rows, F]
    final FloatPointer partialPtr; // partial sums of the accumulating GEMMs [rows, W]

    Workspace(long rows, long width, long mlpWidth) {
      this.rows = rows;
      this.width = width;
      long perRow = 7 * width + mlpWidth;
      this.buffer = torch.empty(new long[] {rows * perRow}, floats, contiguous);
      FloatPointer base = new FloatPointer(buffer.data_ptr());
      long off = 0;
      xPtr = slice(base, off);
      off += rows * width;
      hPtr = slice(base, off);
      off += rows * width;
      qkvPtr = slice(base, off);
      off += rows * 3 * width;
      attnPtr = slice(base, off);
      off += rows * width;
      fPtr = slice(base, off);
      off += rows * mlpWidth;
      partialPtr = slice(base, off);
    }

    private FloatPointer slice(FloatPointer base, long offset) {
      // A view at `offset` floats (JavaCPP passes address + position to native code).
      return new FloatPointer(base).position(offset);
    }

    /** The residual stream as a [n, l, W] tensor view (the caller closes the view). */
    Tensor x(long n, long l) {
      try (Tensor flat = buffer.narrow(0, 0, n * l * width)) {
        return flat.reshape(n, l, width);
      }
    }

    @Override
    public void close() {
      buffer.close();
    }
  }

  /** One tower's residual blocks, and its workspaces. */
  private final class Tower implements AutoCloseable {
    final Block[] blocks;
    final long width;
    final long mlpWidth;
    final int heads;
    final boolean causal;
    final float eps;
    final int activation;
    final ConcurrentLinkedDeque<Workspace> spare = new ConcurrentLinkedDeque<>();

    Tower(Function<String, Tensor> weights, String prefix, int layers, int heads, int width, int mlpWidth,
        boolean layerScale, boolean causal) {
      this(weights, prefix, layers, heads, width, mlpWidth, layerScale, causal, 1e-5f, mlpActivation);
    }

    Tower(Function<String, Tensor> weights, String prefix, int layers, int heads, int width, int mlpWidth,
        boolean layerScale, boolean causal, float eps, int activation) {
      this.eps = eps;
      this.activation = activation;
      this.width = width;
      this.mlpWidth = mlpWidth;
      this.heads = heads;
      this.causal = causal;
      this.blocks = new Block[layers];
      for (int i = 0; i < layers; i++) {
        blocks[i] = new Block(weights, prefix + ".resblocks." + i, layerScale);
      }
    }

    /** A workspace of at least {@code rows} rows: a kept one when it is large enough. */
    Workspace take(long rows) {
      Workspace w = spare.pollFirst();
      if (w != null && w.rows >= rows) {
        return w;
      }
      if (w != null) {
        w.close();
      }
      return new Workspace(rows, width, mlpWidth);
    }

    void give(Workspace w) {
      spare.addFirst(w);
      while (spare.size() > KEPT_WORKSPACES) {
        Workspace extra = spare.pollLast();
        if (extra != null) {
          extra.close();
        }
      }
    }

    void forward(Workspace w, long n, long l) {
      if (n * l > w.rows) {
        throw new IllegalStateException("workspace of " + w.rows + " rows for " + n + " x " + l);
      }
      for (Block b : blocks) {
        b.forward(w, n, l);
      }
    }

    /** open_clip's ResidualAttentionBlock on the workspace's residual stream, in place. */
    private final class Block {
      final Norm ln1;
      final Norm ln2;
      final PackedLinear qkv;
      final PackedLinear out;
      final PackedLinear fc;
      final PackedLinear proj;
      final Tensor ls1;
      final Tensor ls2;
      final FloatPointer ls1Ptr;
      final FloatPointer ls2Ptr;

      Block(Function<String, Tensor> weights, String p, boolean layerScale) {
        ln1 = own(new Norm(weights, p + ".ln_1", eps));
        ln2 = own(new Norm(weights, p + ".ln_2", eps));
        qkv = own(linear(weights, p + ".attn.in_proj_weight", p + ".attn.in_proj_bias"));
        out = own(linear(weights, p + ".attn.out_proj.weight", p + ".attn.out_proj.bias"));
        fc = own(linear(weights, p + ".mlp.c_fc.weight", p + ".mlp.c_fc.bias"));
        proj = own(linear(weights, p + ".mlp.c_proj.weight", p + ".mlp.c_proj.bias"));
        ls1 = layerScale ? own(weights.apply(p + ".ls_1.gamma")) : null;
        ls2 = layerScale ? own(weights.apply(p + ".ls_2.gamma")) : null;
        ls1Ptr = ls1 == null ? null : new FloatPointer(ls1.data_ptr());
        ls2Ptr = ls2 == null ? null : new FloatPointer(ls2.data_ptr());
      }

      private PackedLinear linear(Function<String, Tensor> weights, String w, String b) {
        try (Tensor wt = weights.apply(w); Tensor bt = weights.apply(b)) {
          return new PackedLinear(wt, bt, kernels, bf16);
        }
      }

      void forward(Workspace w, long n, long l) {
        long m = n * l;
        // x = x + out_proj(attention(ln_1(x))) * ls_1
        ln1.apply(pool, w.xPtr, m, width, w.hPtr, width);
        qkv.apply(pool, w.hPtr, m, width, Clip4jNative.CLIP4J_ACT_IDENTITY, null, false, null, 0, w.qkvPtr, 3 * width);
        NativeLib.check(Clip4jNative.clip4j_attention_f32(pool.handle(), w.qkvPtr, n, l, heads, width / heads,
            causal ? 1 : 0, w.attnPtr));
        out.apply(pool, w.attnPtr, m, width, Clip4jNative.CLIP4J_ACT_IDENTITY, ls1Ptr, true, w.partialPtr, width,
            w.xPtr, width);
        // x = x + c_proj(act(c_fc(ln_2(x)))) * ls_2
        ln2.apply(pool, w.xPtr, m, width, w.hPtr, width);
        fc.apply(pool, w.hPtr, m, width, activation, null, false, null, 0, w.fPtr, mlpWidth);
        proj.apply(pool, w.fPtr, m, mlpWidth, Clip4jNative.CLIP4J_ACT_IDENTITY, ls2Ptr, true, w.partialPtr, width,
            w.xPtr, width);
      }
    }

    @Override
    public void close() {
      for (Workspace w; (w = spare.pollFirst()) != null; ) {
        w.close();
      }
    }
  }

  @Override
  public void close() {
    for (int i = owned.size() - 1; i >= 0; i--) {
      try {
        owned.get(i).close();
      } catch (Exception e) {
        throw new IllegalStateException("closing " + owned.get(i), e);
      }
    }
    owned.clear();
  }
}
