package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import dev.clip4j.internal.Messages;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The exact state dict an open_clip 2.20 {@code CLIP} with a given {@link ModelConfig} has: every
 * key (open_clip's names), its shape, and that it holds floating-point values. Validation is
 * strict, like {@code load_state_dict(strict=True)} plus shapes, and reports every missing,
 * unexpected and mis-shaped key at once; when the keys look like another known layout (Hugging
 * Face transformers, a DataParallel wrapper, a training checkpoint, an unsupported tower) the
 * message says so.
 *
 * <p>Immutable and thread-safe.
 */
public final class StateDictSchema {
  private static final Pattern BLOCK = Pattern.compile("^(visual\\.)?transformer\\.resblocks\\.(\\d+)\\.");

  private final ModelConfig config;
  private final Map<String, long[]> shapes;

  private StateDictSchema(ModelConfig config, Map<String, long[]> shapes) {
    this.config = config;
    this.shapes = Collections.unmodifiableMap(shapes);
  }

  /** The schema of {@code config}'s model. */
  public static StateDictSchema of(ModelConfig config) {
    Objects.requireNonNull(config, "config");
    Map<String, long[]> s = new LinkedHashMap<>();
    VisionConfig v = config.vision();
    TextConfig t = config.text();
    long e = config.embedDim();
    // Image tower.
    s.put("visual.class_embedding", dims(v.width()));
    s.put("visual.positional_embedding", dims(v.tokens(), v.width()));
    s.put("visual.proj", dims(v.width(), e));
    s.put("visual.conv1.weight", dims(v.width(), 3, v.patchSize(), v.patchSize()));
    if (v.lnPre()) {
      layerNorm(s, "visual.ln_pre", v.width());
    }
    for (int i = 0; i < v.layers(); i++) {
      block(s, "visual.transformer.resblocks." + i, v.width(), v.mlpWidth(), v.layerScale());
    }
    layerNorm(s, "visual.ln_post", v.width());
    // Text tower (CLIP keeps its parts at the top level).
    s.put("token_embedding.weight", dims(t.vocabSize(), t.width()));
    s.put("positional_embedding", dims(t.contextLength(), t.width()));
    for (int i = 0; i < t.layers(); i++) {
      block(s, "transformer.resblocks." + i, t.width(), t.mlpWidth(), t.layerScale());
    }
    layerNorm(s, "ln_final", t.width());
    s.put("text_projection", dims(t.width(), e));
    s.put("logit_scale", dims());
    return new StateDictSchema(config, s);
  }

  static void block(Map<String, long[]> s, String p, int w, int mlp, boolean layerScale) {
    layerNorm(s, p + ".ln_1", w);
    s.put(p + ".attn.in_proj_weight", dims(3L * w, w));
    s.put(p + ".attn.in_proj_bias", dims(3L * w));
    s.put(p + ".attn.out_proj.weight", dims(w, w));
    s.put(p + ".attn.out_proj.bias", dims(w));
    if (layerScale) {
      s.put(p + ".ls_1.gamma", dims(w));
    }
    layerNorm(s, p + ".ln_2", w);
    s.put(p + ".mlp.c_fc.weight", dims(mlp, w));
    s.put(p + ".mlp.c_fc.bias", dims(mlp));
    s.put(p + ".mlp.c_proj.weight", dims(w, mlp));
    s.put(p + ".mlp.c_proj.bias", dims(w));
    if (layerScale) {
      s.put(p + ".ls_2.gamma", dims(w));
    }
  }

  static void layerNorm(Map<String, long[]> s, String p, int w) {
    s.put(p + ".weight", dims(w));
    s.put(p + ".bias", dims(w));
  }

  private static long[] dims(long... d) {
    return d;
  }

  /** The configuration this schema describes. */
  public ModelConfig config() {
    return config;
  }

  /** Expected keys in open_clip's order, with their shapes (copies). */
  public Map<String, long[]> shapes() {
    Map<String, long[]> copy = new LinkedHashMap<>();
    shapes.forEach((k, v) -> copy.put(k, v.clone()));
    return copy;
  }

  /** Number of expected keys. */
  public int size() {
    return shapes.size();
  }

  /** Total number of weights. */
  public long parameterCount() {
    return parameterCount(shapes);
  }

  /** Total number of elements of tensors with these shapes. */
  static long parameterCount(Map<String, long[]> shapes) {
    long n = 0;
    for (long[] s : shapes.values()) {
      long c = 1;
      for (long d : s) {
        c *= d;
      }
      n += c;
    }
    return n;
  }

  /**
   * Validates tensors by name: keys, shapes, and a floating-point dtype (float32, float16,
   * bfloat16 or float64; clip4j computes in float32).
   *
   * @param source names the checkpoint in the message
   * @throws InvalidModelException listing every problem
   */
  public void validate(Map<String, Tensor> stateDict, String source) {
    Objects.requireNonNull(stateDict, "stateDict");
    Map<String, long[]> actual = new LinkedHashMap<>();
    List<String> badTypes = new ArrayList<>();
    stateDict.forEach((name, t) -> {
      if (t == null || !t.defined()) {
        badTypes.add(name + " (undefined tensor)");
        actual.put(name, null);
        return;
      }
      long[] s = new long[(int) t.dim()];
      for (int d = 0; d < s.length; d++) {
        s[d] = t.size(d);
      }
      actual.put(name, s);
      ScalarType st = t.scalar_type().intern();
      if (shapes.containsKey(name) && st != ScalarType.Float && st != ScalarType.Half && st != ScalarType.BFloat16
          && st != ScalarType.Double) {
        badTypes.add(name + " (" + st + ")");
      }
    });
    List<String> problems = problems(actual);
    Messages.addCounted(problems, badTypes, "not floating point", ", ");
    fail(problems, actual, source);
  }

  /**
   * Validates key names and shapes (e.g. read from a file's header without loading the data).
   * A null shape counts as a mismatch.
   *
   * @throws InvalidModelException listing every missing, unexpected and mis-shaped key
   */
  public void validateShapes(Map<String, long[]> actual, String source) {
    Objects.requireNonNull(actual, "actual");
    fail(problems(actual), actual, source);
  }

  private List<String> problems(Map<String, long[]> actual) {
    List<String> missing = new ArrayList<>();
    List<String> wrong = new ArrayList<>();
    List<String> unexpected = new ArrayList<>();
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      if (!actual.containsKey(e.getKey())) {
        missing.add(e.getKey() + " " + Arrays.toString(e.getValue()));
      } else if (actual.get(e.getKey()) != null && !Arrays.equals(actual.get(e.getKey()), e.getValue())) {
        wrong.add(e.getKey() + " is " + Arrays.toString(actual.get(e.getKey())) + ", expected "
            + Arrays.toString(e.getValue()));
      }
    }
    for (Map.Entry<String, long[]> e : actual.entrySet()) {
      if (!shapes.containsKey(e.getKey())) {
        unexpected.add(e.getKey() + (e.getValue() == null ? "" : " " + Arrays.toString(e.getValue())));
      }
    }
    List<String> problems = new ArrayList<>();
    Messages.addCounted(problems, blocksLast(missing), "missing", ", ");
    Messages.addCounted(problems, blocksLast(unexpected), "unexpected", ", ");
    Messages.addCounted(problems, blocksLast(wrong), "with the wrong shape", "; ");
    return problems;
  }

  /**
   * {@code items} (each starting with a key) with the keys outside the transformer blocks first,
   * in order: each of those is its own cause, while block keys repeat layer after layer (the
   * hints count the blocks), so a capped listing still names every distinct tensor.
   */
  private static List<String> blocksLast(List<String> items) {
    List<String> out = new ArrayList<>(items.size());
    List<String> blocks = new ArrayList<>();
    for (String item : items) {
      (BLOCK.matcher(item).find() ? blocks : out).add(item);
    }
    out.addAll(blocks);
    return out;
  }


  private void fail(List<String> problems, Map<String, long[]> actual, String source) {
    if (problems.isEmpty()) {
      return;
    }
    StringBuilder sb = new StringBuilder();
    sb.append(source).append(": the weights do not match an open_clip CLIP with this configuration (")
        .append(config.describe()).append("; ").append(shapes.size()).append(" tensors expected, ")
        .append(actual.size()).append(" found).");
    for (String h : hints(actual)) {
      sb.append("\n  hint: ").append(h);
    }
    for (String p : problems) {
      sb.append("\n  ").append(p);
    }
    throw new InvalidModelException(sb.toString());
  }

  /** What the keys look like, when they resemble a layout clip4j recognises. */
  private List<String> hints(Map<String, long[]> actual) {
    List<String> hints = new ArrayList<>();
    int n = actual.size();
    if (n == 0) {
      hints.add("the state dict is empty");
      return hints;
    }
    List<String> hf = withPrefix(actual, "text_model.", "vision_model.");
    if (hf.size() * 2 > n) {
      hints.add("the keys look like a Hugging Face transformers CLIPModel checkpoint (text_model.*,"
          + " vision_model.*), not open_clip's names; use the open_clip checkpoint of this model"
          + " (open_clip_model.safetensors or open_clip_pytorch_model.bin)");
    } else if (!hf.isEmpty()) {
      hints.add(hf.size() + " key(s) use Hugging Face transformers CLIPModel names (e.g. " + hf.get(0)
          + ") inside an otherwise open_clip checkpoint");
    }
    if (allWithPrefix(actual, "module.")) {
      hints.add("every key starts with 'module.': the weights were saved from a DataParallel /"
          + " DistributedDataParallel wrapper; strip the 'module.' prefix (open_clip's training"
          + " checkpoints need that) and save the state dict again");
    }
    if (actual.containsKey("state_dict") || actual.containsKey("optimizer") || actual.containsKey("epoch")
        || allWithPrefix(actual, "state_dict.")) {
      hints.add("this looks like an open_clip training checkpoint (a 'state_dict' entry next to"
          + " 'epoch'/'optimizer'); save its 'state_dict' entry on its own");
    }
    if (actual.containsKey("input_resolution") || actual.containsKey("context_length")
        || actual.containsKey("vocab_size")) {
      hints.add("input_resolution/context_length/vocab_size entries are metadata of OpenAI's original"
          + " CLIP checkpoints, which open_clip removes before loading; convert with open_clip first");
    }
    if (!withPrefix(actual, "visual.trunk.").isEmpty()) {
      hints.add("visual.trunk.* are the weights of a timm image tower: clip4j runs them only as SigLIP models"
          + " (an open_clip hub directory whose config has custom_text and init_logit_bias)");
    }
    if (!withPrefix(actual, "visual.layer1.", "visual.attnpool.").isEmpty()) {
      hints.add("visual.layer1.*/visual.attnpool.* are the weights of a ModifiedResNet image tower,"
          + " which clip4j does not implement");
    }
    if (!withPrefix(actual, "visual.attn_pool.").isEmpty()) {
      hints.add("visual.attn_pool.* is an attentional pooler, which clip4j does not implement");
    }
    if (!withPrefix(actual, "text_decoder.").isEmpty()) {
      hints.add("text_decoder.* belongs to a CoCa model, which clip4j does not implement");
    }
    if (!withPrefix(actual, "text.").isEmpty()) {
      hints.add("text.* keys are open_clip's CustomTextCLIP layout (custom_text or a Hugging Face text"
          + " tower), which clip4j does not implement");
    }
    if (actual.containsKey("logit_bias")) {
      hints.add("logit_bias belongs to a sigmoid-loss (SigLIP-style) model: clip4j reads those from open_clip hub"
          + " directories whose config has custom_text and init_logit_bias, not as a ViT CLIP");
    }
    if (actual.containsKey("cls_emb")) {
      hints.add("cls_emb is a text class token (embed_cls), which clip4j does not implement");
    }
    for (String bias : new String[] {"visual.proj.bias", "text_projection.bias", "text_projection.weight"}) {
      if (actual.containsKey(bias)) {
        hints.add(bias + ": the projection is an nn.Linear with a bias; open_clip's CLIP projections are"
            + " bias-free matrices (visual.proj, text_projection), and clip4j does not add a bias");
        break;
      }
    }
    layerCountHint(actual, "visual.", config.vision().layers(), "vision").ifPresent(hints::add);
    layerCountHint(actual, "", config.text().layers(), "text").ifPresent(hints::add);
    long[] pos = actual.get("visual.positional_embedding");
    if (pos != null && pos.length == 2 && pos[0] != config.vision().tokens()) {
      hints.add("visual.positional_embedding has " + pos[0] + " tokens but image_size "
          + config.vision().imageSize() + " / patch_size " + config.vision().patchSize() + " needs "
          + config.vision().tokens() + "; open_clip can interpolate positional embeddings, clip4j does not:"
          + " use the image_size the weights were trained with");
    }
    return hints;
  }

  private static java.util.Optional<String> layerCountHint(
      Map<String, long[]> actual, String prefix, int expected, String tower) {
    TreeSet<Integer> seen = new TreeSet<>();
    for (String k : actual.keySet()) {
      Matcher m = BLOCK.matcher(k);
      if (m.find() && prefix.equals(m.group(1) == null ? "" : m.group(1))) {
        seen.add(Integer.parseInt(m.group(2)));
      }
    }
    if (seen.isEmpty() || seen.last() + 1 == expected) {
      return java.util.Optional.empty();
    }
    return java.util.Optional.of("the checkpoint has " + (seen.last() + 1) + " " + tower
        + " transformer blocks, the configuration says " + expected);
  }

  private static List<String> withPrefix(Map<String, long[]> actual, String... prefixes) {
    List<String> out = new ArrayList<>();
    for (String k : actual.keySet()) {
      for (String p : prefixes) {
        if (k.startsWith(p)) {
          out.add(k);
          break;
        }
      }
    }
    return out;
  }

  private static boolean allWithPrefix(Map<String, long[]> actual, String prefix) {
    return !actual.isEmpty() && withPrefix(actual, prefix).size() == actual.size();
  }
}
