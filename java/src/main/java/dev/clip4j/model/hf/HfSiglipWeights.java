package dev.clip4j.model.hf;

import dev.clip4j.InvalidModelException;
import dev.clip4j.internal.Messages;
import dev.clip4j.model.SiglipConfig;
import dev.clip4j.model.io.DType;
import dev.clip4j.model.io.LazyTensor;
import dev.clip4j.model.io.TensorData;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The tensor names of a Hugging Face transformers {@code SiglipModel} and clip4j's SigLIP names
 * (open_clip's: {@code visual.trunk.*} as timm names them, {@code text.*}), for one {@link
 * HfSiglipConfig}: a table of which transformers tensors make each clip4j tensor, checked against
 * transformers' {@code modeling_siglip.py}.
 *
 * <table>
 *   <caption>transformers to clip4j (N: a block)</caption>
 *   <tr><td>{@code vision_model.embeddings.patch_embedding.{weight,bias}}</td><td>{@code visual.trunk.patch_embed.proj.*}</td></tr>
 *   <tr><td>{@code vision_model.embeddings.position_embedding.weight} [P, w]</td><td>{@code visual.trunk.pos_embed} [1, P, w]</td></tr>
 *   <tr><td>{@code vision_model.encoder.layers.N.self_attn.{q,k,v}_proj.*}</td>
 *       <td>{@code visual.trunk.blocks.N.attn.qkv.*}: q, k, v concatenated along dim 0</td></tr>
 *   <tr><td>{@code ...layers.N.{layer_norm1, self_attn.out_proj, layer_norm2, mlp.fc1, mlp.fc2}}</td>
 *       <td>{@code ...blocks.N.{norm1, attn.proj, norm2, mlp.fc1, mlp.fc2}}</td></tr>
 *   <tr><td>{@code vision_model.post_layernorm.*}</td><td>{@code visual.trunk.norm.*}</td></tr>
 *   <tr><td>{@code vision_model.head.probe} [1, 1, w]</td><td>{@code visual.trunk.attn_pool.latent}</td></tr>
 *   <tr><td>{@code vision_model.head.attention.in_proj_{weight,bias}} [3w, ...] (nn.MultiheadAttention: q, k, v rows)</td>
 *       <td>rows [0, w) {@code attn_pool.q.*}, rows [w, 3w) {@code attn_pool.kv.*} (k then v, as timm splits kv)</td></tr>
 *   <tr><td>{@code vision_model.head.{attention.out_proj, layernorm, mlp.fc1, mlp.fc2}}</td>
 *       <td>{@code attn_pool.{proj, norm, mlp.fc1, mlp.fc2}}</td></tr>
 *   <tr><td>{@code text_model.embeddings.{token_embedding.weight, position_embedding.weight}}</td>
 *       <td>{@code text.token_embedding.weight}, {@code text.positional_embedding}</td></tr>
 *   <tr><td>{@code text_model.encoder.layers.N.*}</td><td>{@code text.transformer.resblocks.N.{ln_1, attn.in_proj_*
 *       (q, k, v concatenated), attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}}</td></tr>
 *   <tr><td>{@code text_model.final_layer_norm.*}</td><td>{@code text.ln_final.*}</td></tr>
 *   <tr><td>{@code text_model.head.{weight,bias}} (Linear, on the last position)</td><td>{@code text.text_projection.*}</td></tr>
 *   <tr><td>{@code logit_scale}, {@code logit_bias} [1]</td><td>{@code logit_scale}, {@code logit_bias} [] (scalars)</td></tr>
 * </table>
 *
 * <p>The {@code position_ids} buffers older checkpoints carry are accepted and ignored. Every other
 * key is checked: missing, unexpected, mis-shaped and non-floating-point tensors are all listed in
 * one {@link InvalidModelException}. Renames and slices are views; fused tensors are read part by
 * part when a {@link LazyTensor} is loaded. Immutable and thread-safe.
 */
public final class HfSiglipWeights {
  /** Buffers transformers registered persistent in some versions; ignored on reading. */
  public static final Set<String> IGNORED = Set.of(
      "vision_model.embeddings.position_ids", "text_model.embeddings.position_ids");

  private enum Op { RENAME, CONCAT_QKV, ROWS, RESHAPE }

  /** One row: clip4j's name and shape, how it is made, from which transformers tensors of which shape. */
  private record Mapping(String name, long[] shape, Op op, List<String> hfNames, long[] hfShape, long rowStart) {}

  private final SiglipConfig config;
  private final List<Mapping> mappings = new ArrayList<>();
  private final Map<String, long[]> hfShapes = new LinkedHashMap<>();

  private HfSiglipWeights(SiglipConfig config) {
    this.config = config;
  }

  /** The table for {@code config} (a transformers SigLIP: see {@link HfSiglipConfig}). */
  public static HfSiglipWeights of(SiglipConfig config) {
    Objects.requireNonNull(config, "config");
    HfSiglipWeights w = new HfSiglipWeights(config);
    w.build();
    return w;
  }

  /** Tensors the table expects, counted without expanding names (to bound a config first). */
  static long expectedHfTensors(SiglipConfig c) {
    return 24 + 16L * c.vision().depth() + 16L * c.text().layers();
  }

  private void build() {
    SiglipConfig.Trunk v = config.vision();
    long w = v.width();
    String h = "vision_model.";
    String p = "visual.trunk.";
    rename(p + "patch_embed.proj.weight", h + "embeddings.patch_embedding.weight", w, 3, v.patchSize(), v.patchSize());
    rename(p + "patch_embed.proj.bias", h + "embeddings.patch_embedding.bias", w);
    add(p + "pos_embed", dims(1, v.tokens(), w), Op.RESHAPE, List.of(h + "embeddings.position_embedding.weight"),
        dims(v.tokens(), w), 0);
    for (int i = 0; i < v.depth(); i++) {
      String b = p + "blocks." + i + ".";
      String l = h + "encoder.layers." + i + ".";
      block(b, l, w, v.mlpWidth(), "norm1", "attn.qkv.", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2");
    }
    norm(p + "norm", h + "post_layernorm", w);
    String a = p + "attn_pool.";
    String hd = h + "head.";
    rename(a + "latent", hd + "probe", 1, 1, w);
    add(a + "q.weight", dims(w, w), Op.ROWS, List.of(hd + "attention.in_proj_weight"), dims(3 * w, w), 0);
    add(a + "q.bias", dims(w), Op.ROWS, List.of(hd + "attention.in_proj_bias"), dims(3 * w), 0);
    add(a + "kv.weight", dims(2 * w, w), Op.ROWS, List.of(hd + "attention.in_proj_weight"), dims(3 * w, w), w);
    add(a + "kv.bias", dims(2 * w), Op.ROWS, List.of(hd + "attention.in_proj_bias"), dims(3 * w), w);
    linear(a + "proj", hd + "attention.out_proj", w, w);
    norm(a + "norm", hd + "layernorm", w);
    linear(a + "mlp.fc1", hd + "mlp.fc1", v.mlpWidth(), w);
    linear(a + "mlp.fc2", hd + "mlp.fc2", w, v.mlpWidth());

    SiglipConfig.Text t = config.text();
    long tw = t.width();
    String th = "text_model.";
    rename("text.token_embedding.weight", th + "embeddings.token_embedding.weight", t.vocabSize(), tw);
    rename("text.positional_embedding", th + "embeddings.position_embedding.weight", t.contextLength(), tw);
    for (int i = 0; i < t.layers(); i++) {
      block("text.transformer.resblocks." + i + ".", th + "encoder.layers." + i + ".", tw, t.mlpWidth(), "ln_1",
          "attn.in_proj_", "attn.out_proj", "ln_2", "mlp.c_fc", "mlp.c_proj");
    }
    norm("text.ln_final", th + "final_layer_norm", tw);
    linear("text.text_projection", th + "head", config.embedDim(), tw);
    add("logit_scale", dims(), Op.RESHAPE, List.of("logit_scale"), dims(1), 0);
    add("logit_bias", dims(), Op.RESHAPE, List.of("logit_bias"), dims(1), 0);
  }

  private void block(String b, String l, long w, long mlp, String n1, String qkv, String out, String n2, String f1,
      String f2) {
    norm(b + n1, l + "layer_norm1", w);
    String a = l + "self_attn.";
    add(b + qkv + "weight", dims(3 * w, w), Op.CONCAT_QKV,
        List.of(a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"), dims(w, w), 0);
    add(b + qkv + "bias", dims(3 * w), Op.CONCAT_QKV,
        List.of(a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"), dims(w), 0);
    linear(b + out, a + "out_proj", w, w);
    norm(b + n2, l + "layer_norm2", w);
    linear(b + f1, l + "mlp.fc1", mlp, w);
    linear(b + f2, l + "mlp.fc2", w, mlp);
  }

  private void add(String name, long[] shape, Op op, List<String> hf, long[] hfShape, long rowStart) {
    mappings.add(new Mapping(name, shape, op, hf, hfShape, rowStart));
    for (String n : hf) {
      hfShapes.put(n, hfShape);
    }
  }

  private void rename(String name, String hf, long... shape) {
    add(name, shape, Op.RENAME, List.of(hf), shape, 0);
  }

  private void norm(String name, String hf, long w) {
    rename(name + ".weight", hf + ".weight", w);
    rename(name + ".bias", hf + ".bias", w);
  }

  private void linear(String name, String hf, long out, long in) {
    rename(name + ".weight", hf + ".weight", out, in);
    rename(name + ".bias", hf + ".bias", out);
  }

  private static long[] dims(long... d) {
    return d;
  }

  /** Expected transformers names and shapes (copies), {@link #IGNORED} not included. */
  public Map<String, long[]> hfShapes() {
    Map<String, long[]> c = new LinkedHashMap<>();
    hfShapes.forEach((k, v) -> c.put(k, v.clone()));
    return c;
  }

  /**
   * Checks a transformers state dict: every expected name with its shape and a floating-point
   * dtype, q/k/v of a block in one dtype, nothing else but {@link #IGNORED}.
   *
   * @throws InvalidModelException listing every missing, unexpected, mis-shaped and non-float tensor
   */
  public void validate(Map<String, TensorData> hf, String source) {
    Objects.requireNonNull(hf, "hf");
    long expected = expectedHfTensors(config);
    if (expected > hf.size() + 4096) {
      throw new InvalidModelException(source + ": the configuration (" + config.vision().depth() + " image blocks, "
          + config.text().layers() + " text blocks) expects " + expected + " tensors but the weights hold " + hf.size()
          + "; the names were not expanded");
    }
    List<String> missing = new ArrayList<>();
    List<String> wrong = new ArrayList<>();
    List<String> unexpected = new ArrayList<>();
    List<String> notFloat = new ArrayList<>();
    List<String> mixed = new ArrayList<>();
    hfShapes.forEach((k, shape) -> {
      TensorData t = hf.get(k);
      if (t == null) {
        missing.add(k + " " + Arrays.toString(shape));
        return;
      }
      if (!Arrays.equals(t.shape(), shape)) {
        wrong.add(k + " is " + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(shape));
      }
      if (!HfClipWeights.isFloat(t.dtype())) {
        notFloat.add(k + " (" + t.dtype() + ")");
      }
    });
    hf.forEach((k, t) -> {
      if (!hfShapes.containsKey(k) && !IGNORED.contains(k)) {
        unexpected.add(k + " " + Arrays.toString(t.shape()));
      }
    });
    for (Mapping m : mappings) {
      if (m.op() == Op.CONCAT_QKV) {
        List<DType> types = m.hfNames().stream().map(n -> hf.get(n) == null ? null : hf.get(n).dtype()).toList();
        if (types.stream().filter(Objects::nonNull).distinct().count() > 1) {
          mixed.add(m.hfNames() + " are " + types);
        }
      }
    }
    List<String> problems = new ArrayList<>();
    Messages.addCounted(problems, missing, "missing", ", ");
    Messages.addCounted(problems, unexpected, "unexpected", ", ");
    Messages.addCounted(problems, wrong, "with the wrong shape", "; ");
    Messages.addCounted(problems, notFloat, "not floating point", ", ");
    Messages.addCounted(problems, mixed, "attention projection(s) whose q, k and v differ in dtype", "; ");
    if (problems.isEmpty()) {
      return;
    }
    StringBuilder sb = new StringBuilder(source).append(": the weights do not match a transformers SiglipModel with"
        + " this configuration (").append(config.describe()).append("; ").append(hfShapes.size())
        .append(" tensors expected, ").append(hf.size()).append(" found).");
    long openClip = hf.keySet().stream().filter(k -> k.startsWith("visual.") || k.startsWith("text.")).count();
    if (openClip * 2 > hf.size()) {
      sb.append("\n  hint: the keys look like open_clip names (visual.trunk.*, text.*), not transformers'");
    }
    for (String p : problems) {
      sb.append("\n  ").append(p);
    }
    throw new InvalidModelException(sb.toString());
  }

  /**
   * clip4j's SigLIP tensors of a transformers state dict, in clip4j's order, after {@link
   * #validate}; each made when loaded. {@code hf} must stay open while they are loaded.
   */
  public List<LazyTensor> toSiglip(Map<String, TensorData> hf, String source) {
    validate(hf, source);
    List<LazyTensor> out = new ArrayList<>(mappings.size());
    for (Mapping m : mappings) {
      TensorData first = hf.get(m.hfNames().get(0));
      switch (m.op()) {
        case RENAME:
          out.add(LazyTensor.of(m.name(), first));
          break;
        case RESHAPE:
          out.add(new LazyTensor(m.name(), first.dtype(), m.shape(),
              () -> TensorData.of(m.name(), first.dtype(), m.shape(), first.data())));
          break;
        case ROWS:
          out.add(new LazyTensor(m.name(), first.dtype(), m.shape(), () -> rows(first, m)));
          break;
        default:
          out.add(new LazyTensor(m.name(), first.dtype(), m.shape(), () -> TensorData.concat(m.name(), m.shape(),
              List.of(first, hf.get(m.hfNames().get(1)), hf.get(m.hfNames().get(2))))));
      }
    }
    return out;
  }

  /** Rows [rowStart, rowStart + shape[0]) of a tensor, as a view. */
  private static TensorData rows(TensorData t, Mapping m) {
    long rowBytes = t.byteSize() / t.shape()[0];
    ByteBuffer b = t.data();
    b.position(Math.toIntExact(m.rowStart() * rowBytes));
    b.limit(Math.toIntExact((m.rowStart() + m.shape()[0]) * rowBytes));
    return TensorData.of(m.name(), t.dtype(), m.shape(), b);
  }
}
