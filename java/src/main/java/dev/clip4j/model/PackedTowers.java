package dev.clip4j.model;

import dev.clip4j.head.Activation;
import dev.clip4j.internal.GemmPool;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The open_clip ViT towers run op by op from Java, every linear layer (and the patch embedding,
 * as the GEMM it is) through clip4j's packed batch-invariant GEMM ({@link PackedLinear}); the
 * other operators are LibTorch's, the same ones the TorchScript sources call (layer_norm,
 * scaled_dot_product_attention, gelu / x * sigmoid(1.702 x), embedding), so the results are the
 * TorchScript towers' up to the GEMMs' rounding, and each sample's bits do not depend on the
 * batch it is in. fp32 on x86-64 CPUs with AVX2 and FMA ({@link GemmPool#supported()}).
 *
 * <p>Ownership: everything here (packed weights, LayerNorm parameters, embeddings, the GEMM
 * worker threads) is owned by this object and released by {@link #close()}; the state dict it
 * was built from stays the caller's. Thread safety: the encode methods may run concurrently;
 * {@code close()} must not (ClipTowers' guard waits for calls in flight).
 */
final class PackedTowers implements AutoCloseable {
  private final GemmPool pool;
  private final Activation activation;
  private final List<AutoCloseable> owned = new ArrayList<>();
  // Arguments made once: creating them per call would allocate native memory per request.
  private final TensorOptional noMask = own(new TensorOptional());
  private final DoubleOptional defaultScale = own(new DoubleOptional());
  private final LongOptional lastDim = own(new LongOptional(-1));
  private final Scalar quickGeluAlpha = own(new Scalar(1.702));
  private final TensorOptions floats = own(new TensorOptions(ScalarType.Float));
  private final MemoryFormatOptional contiguous = own(new MemoryFormatOptional(torch.MemoryFormat.Contiguous));

  // Vision tower.
  private final int patch;
  private final int grid;
  private final int visionWidth;
  private final PackedLinear patchEmbedding;
  private final Tensor classEmbedding;
  private final Tensor visionPositions;
  private final Norm lnPre;
  private final Block[] visionBlocks;
  private final Norm lnPost;
  private final boolean globalAveragePool;

  // Text tower.
  private final Tensor tokenEmbedding;
  private final Tensor textPositions;
  private final Block[] textBlocks;
  private final Norm lnFinal;
  private final int textWidth;

  /**
   * Builds both towers from float32 CPU tensors given by open_clip name ({@code weights} returns
   * a tensor the caller owns; it is closed after use here).
   */
  PackedTowers(ModelConfig config, Activation activation, Function<String, Tensor> weights, int threads) {
    this.activation = activation;
    boolean ok = false;
    try {
      VisionConfig v = config.vision();
      this.patch = v.patchSize();
      this.grid = v.imageSize() / v.patchSize();
      this.visionWidth = v.width();
      try (Tensor conv = weights.apply("visual.conv1.weight");
          Tensor flat = conv.reshape(v.width(), 3L * patch * patch)) {
        this.patchEmbedding = own(new PackedLinear(flat, null));
      }
      try (Tensor cls = weights.apply("visual.class_embedding")) {
        this.classEmbedding = own(cls.reshape(1, 1, v.width()).clone());
      }
      this.visionPositions = own(weights.apply("visual.positional_embedding"));
      this.lnPre = v.lnPre() ? own(new Norm(weights, "visual.ln_pre")) : null;
      this.visionBlocks = blocks(weights, "visual.transformer", v.layers(), v.heads(), v.width(), v.layerScale());
      this.lnPost = own(new Norm(weights, "visual.ln_post"));
      this.globalAveragePool = v.globalAveragePool();

      TextConfig t = config.text();
      this.textWidth = t.width();
      this.tokenEmbedding = own(weights.apply("token_embedding.weight"));
      this.textPositions = own(weights.apply("positional_embedding"));
      this.textBlocks = blocks(weights, "transformer", t.layers(), t.heads(), t.width(), t.layerScale());
      this.lnFinal = own(new Norm(weights, "ln_final"));
      this.pool = own(new GemmPool(threads));
      ok = true;
    } finally {
      if (!ok) {
        close();
      }
    }
  }

  private Block[] blocks(Function<String, Tensor> weights, String prefix, int layers, int heads, int width,
      boolean layerScale) {
    Block[] b = new Block[layers];
    for (int i = 0; i < layers; i++) {
      b[i] = own(new Block(weights, prefix + ".resblocks." + i, heads, width, layerScale));
    }
    return b;
  }

  private <T extends AutoCloseable> T own(T resource) {
    owned.add(resource);
    return resource;
  }

  /** Threads of the GEMM pool. */
  int threads() {
    return pool.threads();
  }

  /** pixels float32 [N, 3, S, S] on the CPU; returns [N, vision width] (before ln_post's projection). */
  Tensor encodeImage(Tensor pixels) {
    long n = pixels.size(0);
    long tokens = (long) grid * grid;
    Tensor x = torch.empty(new long[] {n, tokens + 1, visionWidth}, floats, contiguous);
    try {
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
        head.copy_(classEmbedding); // returns this same object: not closed
        rest.copy_(emb); // returns this same object: not closed
      }
      x.add_(visionPositions); // returns this same object: not closed
      if (lnPre != null) {
        Tensor y = lnPre.apply(x);
        x.close();
        x = y;
      }
      for (Block b : visionBlocks) {
        b.forward(x, false);
      }
      try (Tensor pooled = globalAveragePool ? x.mean(1L) : x.select(1, 0)) {
        return lnPost.apply(pooled);
      }
    } finally {
      x.close();
    }
  }

  /** ids int64 [N, L] on the CPU (validated by the caller); returns [N, text width] at the EOT tokens. */
  Tensor encodeText(Tensor ids) {
    long n = ids.size(0);
    long l = ids.size(1);
    try (Tensor x = torch.embedding(tokenEmbedding, ids)) {
      try (Tensor pos = textPositions.narrow(0, 0, l)) {
        x.add_(pos); // returns this same object: not closed
      }
      for (Block b : textBlocks) {
        b.forward(x, true);
      }
      try (Tensor y = lnFinal.apply(x);
          Tensor rows = y.reshape(n * l, textWidth);
          Tensor at = ids.argmax(lastDim, false)) {
        // Row i pools at its end-of-text token (the largest id), as open_clip: x[arange(N), argmax].
        LongPointer p = new LongPointer(at.data_ptr());
        for (long i = 0; i < n; i++) {
          p.put(i, p.get(i) + i * l);
        }
        return torch.index_select(rows, 0, at);
      }
    }
  }

  /** LayerNorm over the last dimension, eps 1e-5, as open_clip's (fp32). */
  private static final class Norm implements AutoCloseable {
    final Tensor weight;
    final Tensor bias;
    final TensorOptional w;
    final TensorOptional b;
    final long[] shape;

    Norm(Function<String, Tensor> weights, String prefix) {
      weight = weights.apply(prefix + ".weight");
      bias = weights.apply(prefix + ".bias");
      w = new TensorOptional(weight);
      b = new TensorOptional(bias);
      shape = new long[] {weight.size(0)};
    }

    Tensor apply(Tensor x) {
      return torch.layer_norm(x, shape, w, b, 1e-5, true);
    }

    @Override
    public void close() {
      w.close();
      b.close();
      weight.close();
      bias.close();
    }
  }

  /** open_clip's ResidualAttentionBlock, updating x [N, L, D] in place. */
  private final class Block implements AutoCloseable {
    final Norm ln1;
    final Norm ln2;
    final PackedLinear qkv;
    final PackedLinear out;
    final PackedLinear fc;
    final PackedLinear proj;
    final Tensor ls1;
    final Tensor ls2;
    final int heads;
    final int width;

    Block(Function<String, Tensor> weights, String p, int heads, int width, boolean layerScale) {
      this.heads = heads;
      this.width = width;
      ln1 = new Norm(weights, p + ".ln_1");
      ln2 = new Norm(weights, p + ".ln_2");
      qkv = linear(weights, p + ".attn.in_proj_weight", p + ".attn.in_proj_bias");
      out = linear(weights, p + ".attn.out_proj.weight", p + ".attn.out_proj.bias");
      fc = linear(weights, p + ".mlp.c_fc.weight", p + ".mlp.c_fc.bias");
      proj = linear(weights, p + ".mlp.c_proj.weight", p + ".mlp.c_proj.bias");
      ls1 = layerScale ? weights.apply(p + ".ls_1.gamma") : null;
      ls2 = layerScale ? weights.apply(p + ".ls_2.gamma") : null;
    }

    private PackedLinear linear(Function<String, Tensor> weights, String w, String b) {
      try (Tensor wt = weights.apply(w); Tensor bt = weights.apply(b)) {
        return new PackedLinear(wt, bt);
      }
    }

    void forward(Tensor x, boolean causal) {
      long n = x.size(0);
      long l = x.size(1);
      try (Tensor h = ln1.apply(x);
          Tensor q3 = qkv.forward(pool, h);
          Tensor q5 = q3.reshape(n, l, 3, heads, width / heads);
          Tensor qp = q5.permute(2, 0, 3, 1, 4);
          Tensor q = qp.select(0, 0);
          Tensor k = qp.select(0, 1);
          Tensor v = qp.select(0, 2);
          Tensor o = torch.scaled_dot_product_attention(q, k, v, noMask, 0.0, causal, defaultScale, false);
          Tensor ot = o.transpose(1, 2);
          Tensor oc = ot.contiguous();
          Tensor o3 = oc.reshape(n, l, width);
          Tensor a = out.forward(pool, o3)) {
        if (ls1 != null) {
          a.mul_(ls1); // returns this same object: not closed
        }
        x.add_(a); // returns this same object: not closed
      }
      try (Tensor h = ln2.apply(x); Tensor f = fc.forward(pool, h)) {
        if (activation == Activation.QUICK_GELU) {
          // x * sigmoid(1.702 * x), the same three LibTorch kernels as open_clip's QuickGELU.
          try (Tensor s = f.mul(quickGeluAlpha)) {
            s.sigmoid_(); // returns this same object: not closed
            f.mul_(s); // returns this same object: not closed
          }
        } else {
          torch.gelu_(f); // returns f itself: not closed
        }
        try (Tensor m = proj.forward(pool, f)) {
          if (ls2 != null) {
            m.mul_(ls2); // returns this same object: not closed
          }
          x.add_(m); // returns this same object: not closed
        }
      }
    }

    @Override
    public void close() {
      ln1.close();
      ln2.close();
      qkv.close();
      out.close();
      fc.close();
      proj.close();
      if (ls1 != null) {
        ls1.close();
        ls2.close();
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
