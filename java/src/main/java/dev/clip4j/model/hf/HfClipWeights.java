package dev.clip4j.model.hf;

import dev.clip4j.InvalidModelException;
import dev.clip4j.model.TextConfig;
import dev.clip4j.model.VisionConfig;
import dev.clip4j.model.io.DType;
import dev.clip4j.model.io.LazyTensor;
import dev.clip4j.model.io.TensorData;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The tensor names of a Hugging Face transformers CLIP and open_clip's, both ways, for one
 * {@link HfClipConfig}: a table (llama.cpp/gguf style) of which transformers tensors make each
 * open_clip tensor.
 *
 * <table>
 *   <caption>transformers to open_clip (per tower; text blocks have no {@code visual.} prefix)</caption>
 *   <tr><td>{@code vision_model.embeddings.patch_embedding.weight}</td><td>{@code visual.conv1.weight}</td></tr>
 *   <tr><td>{@code vision_model.embeddings.class_embedding}</td><td>{@code visual.class_embedding}</td></tr>
 *   <tr><td>{@code vision_model.embeddings.position_embedding.weight}</td><td>{@code visual.positional_embedding}</td></tr>
 *   <tr><td>{@code vision_model.pre_layrnorm.*}</td><td>{@code visual.ln_pre.*}</td></tr>
 *   <tr><td>{@code *.encoder.layers.N.self_attn.{q,k,v}_proj.{weight,bias}}</td>
 *       <td>{@code *.transformer.resblocks.N.attn.in_proj_{weight,bias}}: q, k, v concatenated along dim 0</td></tr>
 *   <tr><td>{@code *.self_attn.out_proj.*}, {@code layer_norm1/2}, {@code mlp.fc1/fc2}</td>
 *       <td>{@code attn.out_proj.*}, {@code ln_1/ln_2}, {@code mlp.c_fc/c_proj}</td></tr>
 *   <tr><td>{@code vision_model.post_layernorm.*}</td><td>{@code visual.ln_post.*}</td></tr>
 *   <tr><td>{@code visual_projection.weight} [embed, width]</td><td>{@code visual.proj} [width, embed], transposed</td></tr>
 *   <tr><td>{@code text_model.embeddings.token_embedding.weight}, {@code position_embedding.weight}</td>
 *       <td>{@code token_embedding.weight}, {@code positional_embedding}</td></tr>
 *   <tr><td>{@code text_model.final_layer_norm.*}</td><td>{@code ln_final.*}</td></tr>
 *   <tr><td>{@code text_projection.weight} [embed, width]</td><td>{@code text_projection} [width, embed], transposed</td></tr>
 *   <tr><td>{@code logit_scale}</td><td>{@code logit_scale} (CLIPModel only)</td></tr>
 * </table>
 *
 * <p>The {@code position_ids} buffers older checkpoints carry ({@code
 * vision_model.embeddings.position_ids}, {@code text_model.embeddings.position_ids}) are accepted
 * and ignored. Every other key is checked: missing, unexpected, mis-shaped and non-floating-point
 * tensors are all listed in one {@link InvalidModelException}. Renamed tensors are views of the
 * source (no copy); fused and transposed ones are new buffers, made one at a time when a {@link
 * LazyTensor} is loaded, so a model converts tensor by tensor without a second copy of it.
 *
 * <p>Immutable and thread-safe.
 *
 * <pre>{@code
 * HfClipWeights w = HfClipWeights.of(HfClipConfig.parse(dir.resolve("config.json")));
 * try (StateDict hf = CheckpointReader.read(dir.resolve("model.safetensors"))) {
 *   for (LazyTensor t : w.toOpenClip(hf.tensors(), hf.source().toString())) {
 *     TensorData data = t.load();   // open_clip name; fused/transposed only now
 *     ...
 *   }
 * }
 * }</pre>
 */
public final class HfClipWeights {
  /** The buffers transformers registered persistent before 4.31; ignored on reading. */
  public static final Set<String> IGNORED = Set.of(
      "vision_model.embeddings.position_ids", "text_model.embeddings.position_ids");

  /** How an open_clip tensor is made from transformers tensors. */
  public enum Op {
    /** One tensor, renamed. */
    RENAME,
    /** q, k and v (in that order) concatenated along dim 0. */
    CONCAT_QKV,
    /** One 2-D tensor, transposed. */
    TRANSPOSE
  }

  /**
   * One row of the table.
   *
   * @param openClipName open_clip's name
   * @param openClipShape its shape
   * @param op how it is made
   * @param hfNames the transformers tensors (one, or q, k, v)
   * @param hfShape the shape of each transformers tensor
   */
  public record Mapping(String openClipName, long[] openClipShape, Op op, List<String> hfNames, long[] hfShape) {
    public Mapping {
      openClipShape = openClipShape.clone();
      hfNames = List.copyOf(hfNames);
      hfShape = hfShape.clone();
    }

    @Override
    public long[] openClipShape() {
      return openClipShape.clone();
    }

    @Override
    public long[] hfShape() {
      return hfShape.clone();
    }
  }

  private final HfClipConfig config;
  private final List<Mapping> mappings;
  private final Map<String, long[]> hfShapes;
  private final Map<String, long[]> openClipShapes;

  private HfClipWeights(HfClipConfig config, List<Mapping> mappings) {
    this.config = config;
    this.mappings = List.copyOf(mappings);
    Map<String, long[]> hf = new LinkedHashMap<>();
    Map<String, long[]> oc = new LinkedHashMap<>();
    for (Mapping m : mappings) {
      oc.put(m.openClipName(), m.openClipShape());
      for (String n : m.hfNames()) {
        hf.put(n, m.hfShape());
      }
    }
    this.hfShapes = Collections.unmodifiableMap(hf);
    this.openClipShapes = Collections.unmodifiableMap(oc);
  }

  /** The table for {@code config}'s towers. */
  public static HfClipWeights of(HfClipConfig config) {
    Objects.requireNonNull(config, "config");
    List<Mapping> m = new ArrayList<>();
    long e = config.projectionDim();
    if (config.vision() != null) {
      VisionConfig v = config.vision().config();
      long w = v.width();
      String h = "vision_model.";
      rename(m, "visual.class_embedding", h + "embeddings.class_embedding", w);
      rename(m, "visual.positional_embedding", h + "embeddings.position_embedding.weight", v.tokens(), w);
      m.add(new Mapping("visual.proj", dims(w, e), Op.TRANSPOSE, List.of("visual_projection.weight"), dims(e, w)));
      rename(m, "visual.conv1.weight", h + "embeddings.patch_embedding.weight", w, 3, v.patchSize(), v.patchSize());
      layerNorm(m, "visual.ln_pre", h + "pre_layrnorm", w);
      for (int i = 0; i < v.layers(); i++) {
        block(m, "visual.transformer.resblocks." + i, h + "encoder.layers." + i, w, v.mlpWidth());
      }
      layerNorm(m, "visual.ln_post", h + "post_layernorm", w);
    }
    if (config.text() != null) {
      TextConfig t = config.text().config();
      long w = t.width();
      String h = "text_model.";
      rename(m, "token_embedding.weight", h + "embeddings.token_embedding.weight", t.vocabSize(), w);
      rename(m, "positional_embedding", h + "embeddings.position_embedding.weight", t.contextLength(), w);
      for (int i = 0; i < t.layers(); i++) {
        block(m, "transformer.resblocks." + i, h + "encoder.layers." + i, w, t.mlpWidth());
      }
      layerNorm(m, "ln_final", h + "final_layer_norm", w);
      m.add(new Mapping("text_projection", dims(w, e), Op.TRANSPOSE, List.of("text_projection.weight"), dims(e, w)));
    }
    if (config.kind() == HfClipConfig.Kind.CLIP_MODEL) {
      rename(m, "logit_scale", "logit_scale");
    }
    return new HfClipWeights(config, m);
  }

  private static void rename(List<Mapping> m, String oc, String hf, long... shape) {
    m.add(new Mapping(oc, shape, Op.RENAME, List.of(hf), shape));
  }

  private static void layerNorm(List<Mapping> m, String oc, String hf, long w) {
    rename(m, oc + ".weight", hf + ".weight", w);
    rename(m, oc + ".bias", hf + ".bias", w);
  }

  private static void block(List<Mapping> m, String oc, String hf, long w, long mlp) {
    layerNorm(m, oc + ".ln_1", hf + ".layer_norm1", w);
    String a = hf + ".self_attn.";
    m.add(new Mapping(oc + ".attn.in_proj_weight", dims(3 * w, w), Op.CONCAT_QKV,
        List.of(a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"), dims(w, w)));
    m.add(new Mapping(oc + ".attn.in_proj_bias", dims(3 * w), Op.CONCAT_QKV,
        List.of(a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"), dims(w)));
    rename(m, oc + ".attn.out_proj.weight", a + "out_proj.weight", w, w);
    rename(m, oc + ".attn.out_proj.bias", a + "out_proj.bias", w);
    layerNorm(m, oc + ".ln_2", hf + ".layer_norm2", w);
    rename(m, oc + ".mlp.c_fc.weight", hf + ".mlp.fc1.weight", mlp, w);
    rename(m, oc + ".mlp.c_fc.bias", hf + ".mlp.fc1.bias", mlp);
    rename(m, oc + ".mlp.c_proj.weight", hf + ".mlp.fc2.weight", w, mlp);
    rename(m, oc + ".mlp.c_proj.bias", hf + ".mlp.fc2.bias", w);
  }

  private static long[] dims(long... d) {
    return d;
  }

  /** The configuration. */
  public HfClipConfig config() {
    return config;
  }

  /** The table, in open_clip's state-dict order. */
  public List<Mapping> mappings() {
    return mappings;
  }

  /** Expected transformers names and shapes (copies), {@link #IGNORED} not included. */
  public Map<String, long[]> hfShapes() {
    Map<String, long[]> c = new LinkedHashMap<>();
    hfShapes.forEach((k, v) -> c.put(k, v.clone()));
    return c;
  }

  /** Expected open_clip names and shapes (copies), in open_clip's order. */
  public Map<String, long[]> openClipShapes() {
    Map<String, long[]> c = new LinkedHashMap<>();
    openClipShapes.forEach((k, v) -> c.put(k, v.clone()));
    return c;
  }

  // ------------------------------------------------------------------------------------ checks

  /**
   * Checks a transformers state dict: every expected name present with its shape and a
   * floating-point dtype (F32, F16, BF16, F64), q/k/v of a block in one dtype, nothing else but
   * {@link #IGNORED}.
   *
   * @param source names the checkpoint in the message
   * @throws InvalidModelException listing every missing, unexpected, mis-shaped and non-float tensor
   */
  public void validateHf(Map<String, TensorData> hf, String source) {
    Objects.requireNonNull(hf, "hf");
    List<String> problems = problems(hfShapes, hf, IGNORED);
    List<String> mixed = new ArrayList<>();
    for (Mapping m : mappings) {
      if (m.op() == Op.CONCAT_QKV) {
        DType first = null;
        for (String n : m.hfNames()) {
          TensorData t = hf.get(n);
          if (t != null && first != null && t.dtype() != first) {
            mixed.add(m.hfNames() + " are " + m.hfNames().stream().map(x -> hf.get(x) == null ? "-" : hf.get(x).dtype().toString()).toList());
            break;
          }
          first = t == null ? first : t.dtype();
        }
      }
    }
    if (!mixed.isEmpty()) {
      problems.add(mixed.size() + " attention projection(s) whose q, k and v differ in dtype: " + String.join("; ", mixed));
    }
    fail(problems, hf, source, "a transformers " + config.kind().architecture());
  }

  /**
   * Checks an open_clip state dict for this configuration's towers (names, shapes, float dtypes).
   *
   * @throws InvalidModelException listing every problem
   */
  public void validateOpenClip(Map<String, TensorData> openClip, String source) {
    Objects.requireNonNull(openClip, "openClip");
    fail(problems(openClipShapes, openClip, Set.of()), openClip, source, "an open_clip CLIP with these towers");
  }

  private static List<String> problems(Map<String, long[]> expected, Map<String, TensorData> actual, Set<String> ignored) {
    List<String> missing = new ArrayList<>();
    List<String> wrong = new ArrayList<>();
    List<String> unexpected = new ArrayList<>();
    List<String> notFloat = new ArrayList<>();
    for (Map.Entry<String, long[]> e : expected.entrySet()) {
      TensorData t = actual.get(e.getKey());
      if (t == null) {
        missing.add(e.getKey() + " " + Arrays.toString(e.getValue()));
        continue;
      }
      if (!Arrays.equals(t.shape(), e.getValue())) {
        wrong.add(e.getKey() + " is " + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(e.getValue()));
      }
      if (!isFloat(t.dtype())) {
        notFloat.add(e.getKey() + " (" + t.dtype() + ")");
      }
    }
    for (Map.Entry<String, TensorData> e : actual.entrySet()) {
      if (!expected.containsKey(e.getKey()) && !ignored.contains(e.getKey())) {
        unexpected.add(e.getKey() + " " + Arrays.toString(e.getValue().shape()));
      }
    }
    List<String> problems = new ArrayList<>();
    if (!missing.isEmpty()) {
      problems.add(missing.size() + " missing: " + String.join(", ", missing));
    }
    if (!unexpected.isEmpty()) {
      problems.add(unexpected.size() + " unexpected: " + String.join(", ", unexpected));
    }
    if (!wrong.isEmpty()) {
      problems.add(wrong.size() + " with the wrong shape: " + String.join("; ", wrong));
    }
    if (!notFloat.isEmpty()) {
      problems.add(notFloat.size() + " not floating point: " + String.join(", ", notFloat));
    }
    return problems;
  }

  static boolean isFloat(DType d) {
    return d == DType.F32 || d == DType.F16 || d == DType.BF16 || d == DType.F64;
  }

  private void fail(List<String> problems, Map<String, TensorData> actual, String source, String what) {
    if (problems.isEmpty()) {
      return;
    }
    StringBuilder sb = new StringBuilder(source).append(": the weights do not match ").append(what)
        .append(" with this configuration (").append(describe()).append("; ")
        .append(what.startsWith("a transformers") ? hfShapes.size() : openClipShapes.size())
        .append(" tensors expected, ").append(actual.size()).append(" found).");
    for (String h : hints(actual.keySet())) {
      sb.append("\n  hint: ").append(h);
    }
    for (String p : problems) {
      sb.append("\n  ").append(p);
    }
    throw new InvalidModelException(sb.toString());
  }

  private String describe() {
    StringBuilder sb = new StringBuilder(config.kind().architecture());
    if (config.vision() != null) {
      VisionConfig v = config.vision().config();
      sb.append(", ViT ").append(v.imageSize()).append("px/").append(v.patchSize()).append(" width ").append(v.width())
          .append(" x").append(v.layers());
    }
    if (config.text() != null) {
      TextConfig t = config.text().config();
      sb.append(", text width ").append(t.width()).append(" x").append(t.layers()).append(" vocab ").append(t.vocabSize())
          .append(" context ").append(t.contextLength());
    }
    return sb.append(", projection ").append(config.projectionDim()).toString();
  }

  private List<String> hints(Set<String> names) {
    List<String> hints = new ArrayList<>();
    long openClip = names.stream().filter(n -> n.startsWith("visual.") || n.startsWith("transformer.resblocks.")
        || n.equals("token_embedding.weight")).count();
    long hf = names.stream().filter(n -> n.startsWith("vision_model.") || n.startsWith("text_model.")).count();
    if (openClip * 2 > names.size()) {
      hints.add("the keys look like open_clip names (visual.*, transformer.resblocks.*), not transformers'");
    } else if (hf * 2 > names.size() && (config.vision() == null) != names.stream().noneMatch(n -> n.startsWith("vision_model."))) {
      hints.add(config.vision() == null ? "the checkpoint holds an image tower (vision_model.*) the config does not describe"
          : "the checkpoint holds no image tower (vision_model.*)");
    }
    if (!names.isEmpty() && names.stream().allMatch(n -> n.startsWith("module."))) {
      hints.add("every key starts with 'module.': saved from a DataParallel wrapper; strip the prefix");
    }
    if (names.stream().anyMatch(n -> n.startsWith("clip.") || n.startsWith("model."))) {
      hints.add("keys under 'clip.' or 'model.' belong to a wrapper around the CLIP (a fine-tuning framework);"
          + " save the CLIPModel itself");
    }
    return hints;
  }

  // ------------------------------------------------------------------------------------ mapping

  /**
   * The open_clip tensors of a transformers state dict, in open_clip's order, after {@link
   * #validateHf}. Each {@link LazyTensor} makes its tensor when loaded: a view of {@code hf}'s
   * data for a rename, a new buffer for a fused or transposed one. The dtype is the
   * checkpoint's. {@code hf} must stay open while the tensors are loaded.
   */
  public List<LazyTensor> toOpenClip(Map<String, TensorData> hf, String source) {
    validateHf(hf, source);
    List<LazyTensor> out = new ArrayList<>(mappings.size());
    for (Mapping m : mappings) {
      DType dtype = hf.get(m.hfNames().get(0)).dtype();
      switch (m.op()) {
        case RENAME:
          out.add(LazyTensor.of(m.openClipName(), hf.get(m.hfNames().get(0))));
          break;
        case TRANSPOSE:
          out.add(new LazyTensor(m.openClipName(), dtype, m.openClipShape(),
              () -> transpose(hf.get(m.hfNames().get(0)), m.openClipName())));
          break;
        default:
          out.add(new LazyTensor(m.openClipName(), dtype, m.openClipShape(),
              () -> concat(m.openClipName(), m.openClipShape(), hf.get(m.hfNames().get(0)), hf.get(m.hfNames().get(1)),
                  hf.get(m.hfNames().get(2)))));
      }
    }
    return out;
  }

  /**
   * The transformers tensors of an open_clip state dict, after {@link #validateOpenClip}: for each
   * row of the table, q, k, v as zero-copy thirds of {@code in_proj_*}, projections as new
   * transposed buffers (made when loaded), the rest renamed views. {@code openClip} must stay
   * open while the tensors are loaded.
   */
  public List<LazyTensor> toHf(Map<String, TensorData> openClip, String source) {
    validateOpenClip(openClip, source);
    List<LazyTensor> out = new ArrayList<>();
    for (Mapping m : mappings) {
      TensorData src = openClip.get(m.openClipName());
      switch (m.op()) {
        case RENAME:
          out.add(LazyTensor.of(m.hfNames().get(0), src));
          break;
        case TRANSPOSE:
          out.add(new LazyTensor(m.hfNames().get(0), src.dtype(), m.hfShape(), () -> transpose(src, m.hfNames().get(0))));
          break;
        default:
          long third = src.byteSize() / 3;
          for (int i = 0; i < 3; i++) {
            ByteBuffer b = src.data();
            b.position((int) (i * third)).limit((int) ((i + 1) * third));
            out.add(LazyTensor.of(m.hfNames().get(i), TensorData.of(m.hfNames().get(i), src.dtype(), m.hfShape(), b)));
          }
      }
    }
    return out;
  }

  /** Loads every tensor of {@code lazy} into a map (for tests and small models: no streaming). */
  public static Map<String, TensorData> materialize(List<LazyTensor> lazy) {
    Map<String, TensorData> out = new LinkedHashMap<>();
    for (LazyTensor t : lazy) {
      out.put(t.name(), t.load());
    }
    return out;
  }

  /** A 2-D tensor transposed into a new buffer. */
  static TensorData transpose(TensorData t, String name) {
    long[] s = t.shape();
    if (s.length != 2) {
      throw new IllegalArgumentException(t.name() + " is not 2-D: " + Arrays.toString(s));
    }
    int rows = Math.toIntExact(s[0]);
    int cols = Math.toIntExact(s[1]);
    int es = t.dtype().byteSize();
    ByteBuffer src = t.data();
    ByteBuffer dst = ByteBuffer.allocateDirect(Math.toIntExact(t.byteSize())).order(ByteOrder.LITTLE_ENDIAN);
    byte[] row = new byte[cols * es];
    for (int r = 0; r < rows; r++) {
      src.get(r * row.length, row);
      for (int c = 0; c < cols; c++) {
        dst.put((c * rows + r) * es, row, c * es, es);
      }
    }
    return TensorData.of(name, t.dtype(), new long[] {cols, rows}, dst);
  }

  /** q, k, v concatenated along dim 0 into a new buffer. */
  static TensorData concat(String name, long[] shape, TensorData q, TensorData k, TensorData v) {
    ByteBuffer dst = ByteBuffer.allocateDirect(Math.toIntExact(q.byteSize() + k.byteSize() + v.byteSize()))
        .order(ByteOrder.LITTLE_ENDIAN);
    dst.put(q.data()).put(k.data()).put(v.data()).flip();
    return TensorData.of(name, q.dtype(), shape, dst);
  }
}
