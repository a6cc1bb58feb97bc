package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import dev.clip4j.internal.Messages;
import dev.clip4j.model.io.DType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The exact state dict of an open_clip {@code CLIP} with a ModifiedResNet image tower ({@link
 * ResNetConfig}): every key under open_clip's (and OpenAI's) names, its shape, and its element
 * type: floating point for weights and BatchNorm's {@code running_mean}/{@code running_var},
 * int64 scalars for BatchNorm's {@code num_batches_tracked}. Validation lists every missing,
 * unexpected, mis-shaped and mis-typed tensor at once.
 *
 * <p>{@code num_batches_tracked} (a training counter eval mode never reads) must be present for
 * every BatchNorm or for none: PyTorch's {@code BatchNorm._load_from_state_dict} fills it in when a
 * state dict without version metadata lacks it (a safetensors file stripped of integer buffers),
 * so open_clip loads such files; a partial set is refused as a damaged file.
 *
 * <p>Immutable and thread-safe.
 */
final class ResNetSchema {
  private static final String NBT = ".num_batches_tracked";
  private static final Pattern BLOCK = Pattern.compile("^(visual\\.layer\\d\\.\\d+\\.|transformer\\.resblocks\\.\\d+\\.)");

  /** Element kinds the schema tells apart. */
  enum Kind {
    FLOAT,
    INT64
  }

  private final ResNetConfig config;
  private final Map<String, long[]> shapes;
  private final Map<String, Kind> kinds;

  private ResNetSchema(ResNetConfig config, Map<String, long[]> shapes, Map<String, Kind> kinds) {
    this.config = config;
    this.shapes = Collections.unmodifiableMap(shapes);
    this.kinds = Collections.unmodifiableMap(kinds);
  }

  /** The number of tensors the schema of {@code c} has, counted without expanding names. */
  static long expectedTensors(ResNetConfig c) {
    long blocks = 0;
    for (int n : c.layers()) {
      blocks += n;
    }
    long visual = 3 * 6 + blocks * 18 + 4 * 6 + 9; // stem, blocks, one downsample per stage, attnpool
    long text = 2 + (long) c.text().layers() * (12 + (c.text().layerScale() ? 2 : 0)) + 2 + 2;
    return visual + text;
  }

  /** The schema of {@code config}'s model. */
  static ResNetSchema of(ResNetConfig config) {
    Objects.requireNonNull(config, "config");
    Map<String, long[]> s = new LinkedHashMap<>();
    Map<String, Kind> k = new LinkedHashMap<>();
    int w = config.width();
    conv(s, "visual.conv1", w / 2, 3, 3);
    bn(s, k, "visual.bn1", w / 2);
    conv(s, "visual.conv2", w / 2, w / 2, 3);
    bn(s, k, "visual.bn2", w / 2);
    conv(s, "visual.conv3", w, w / 2, 3);
    bn(s, k, "visual.bn3", w);
    long inplanes = w;
    for (int stage = 0; stage < 4; stage++) {
      long planes = (long) w << stage;
      for (int b = 0; b < config.layers().get(stage); b++) {
        String p = "visual.layer" + (stage + 1) + "." + b;
        conv(s, p + ".conv1", planes, inplanes, 1);
        bn(s, k, p + ".bn1", planes);
        conv(s, p + ".conv2", planes, planes, 3);
        bn(s, k, p + ".bn2", planes);
        conv(s, p + ".conv3", planes * 4, planes, 1);
        bn(s, k, p + ".bn3", planes * 4);
        if (b == 0 && (stage > 0 || inplanes != planes * 4)) {
          conv(s, p + ".downsample.0", planes * 4, inplanes, 1);
          bn(s, k, p + ".downsample.1", planes * 4);
        }
        inplanes = planes * 4;
      }
    }
    long pw = config.poolWidth();
    long grid = config.grid();
    s.put("visual.attnpool.positional_embedding", new long[] {grid * grid + 1, pw});
    for (String proj : new String[] {"k_proj", "q_proj", "v_proj"}) {
      s.put("visual.attnpool." + proj + ".weight", new long[] {pw, pw});
      s.put("visual.attnpool." + proj + ".bias", new long[] {pw});
    }
    s.put("visual.attnpool.c_proj.weight", new long[] {config.embedDim(), pw});
    s.put("visual.attnpool.c_proj.bias", new long[] {config.embedDim()});
    TextConfig t = config.text();
    s.put("token_embedding.weight", new long[] {t.vocabSize(), t.width()});
    s.put("positional_embedding", new long[] {t.contextLength(), t.width()});
    for (int i = 0; i < t.layers(); i++) {
      StateDictSchema.block(s, "transformer.resblocks." + i, t.width(), t.mlpWidth(), t.layerScale());
    }
    StateDictSchema.layerNorm(s, "ln_final", t.width());
    s.put("text_projection", new long[] {t.width(), config.embedDim()});
    s.put("logit_scale", new long[] {});
    for (String name : s.keySet()) {
      k.putIfAbsent(name, Kind.FLOAT);
    }
    return new ResNetSchema(config, s, k);
  }

  private static void conv(Map<String, long[]> s, String p, long out, long in, long kernel) {
    s.put(p + ".weight", new long[] {out, in, kernel, kernel});
  }

  private static void bn(Map<String, long[]> s, Map<String, Kind> k, String p, long c) {
    s.put(p + ".weight", new long[] {c});
    s.put(p + ".bias", new long[] {c});
    s.put(p + ".running_mean", new long[] {c});
    s.put(p + ".running_var", new long[] {c});
    s.put(p + NBT, new long[] {});
    k.put(p + NBT, Kind.INT64);
  }

  /** Expected keys with their shapes, in open_clip's order (copies). */
  Map<String, long[]> shapes() {
    Map<String, long[]> copy = new LinkedHashMap<>();
    shapes.forEach((k, v) -> copy.put(k, v.clone()));
    return copy;
  }

  /** The element kind of each expected key (copies). */
  Map<String, Kind> kinds() {
    return new LinkedHashMap<>(kinds);
  }

  /** Total number of elements (weights and BatchNorm buffers). */
  long parameterCount() {
    return StateDictSchema.parameterCount(shapes);
  }

  /** The kind of a checkpoint dtype. */
  static String kindOf(DType t) {
    switch (t) {
      case F32:
      case F16:
      case BF16:
      case F64:
        return Kind.FLOAT.name();
      case I64:
        return Kind.INT64.name();
      default:
        return t.name();
    }
  }

  /** The kind of a LibTorch dtype. */
  static String kindOf(ScalarType t) {
    switch (t) {
      case Float:
      case Half:
      case BFloat16:
      case Double:
        return Kind.FLOAT.name();
      case Long:
        return Kind.INT64.name();
      default:
        return t.name();
    }
  }

  /** Validates tensors already in memory (see {@link #validate(Map, Map, String)}). */
  void validateTensors(Map<String, Tensor> sd, String source) {
    Map<String, long[]> s = new LinkedHashMap<>();
    Map<String, String> k = new LinkedHashMap<>();
    sd.forEach((name, t) -> {
      if (t == null || !t.defined()) {
        s.put(name, null);
        k.put(name, "undefined");
      } else {
        s.put(name, t.sizes().vec().get());
        k.put(name, kindOf(t.scalar_type().intern()));
      }
    });
    validate(s, k, source);
  }

  /**
   * Validates names, shapes and element kinds ({@link #kindOf}) as read from a file's header.
   *
   * @throws InvalidModelException listing every problem
   */
  void validate(Map<String, long[]> actual, Map<String, String> actualKinds, String source) {
    List<String> missing = new ArrayList<>();
    List<String> wrong = new ArrayList<>();
    List<String> badKinds = new ArrayList<>();
    List<String> unexpected = new ArrayList<>();
    long nbtPresent = actual.keySet().stream().filter(n -> n.endsWith(NBT) && shapes.containsKey(n)).count();
    boolean nbtNone = nbtPresent == 0;
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      String name = e.getKey();
      if (!actual.containsKey(name)) {
        if (!(nbtNone && name.endsWith(NBT))) {
          missing.add(name + " " + Arrays.toString(e.getValue()));
        }
        continue;
      }
      long[] got = actual.get(name);
      if (got != null && !Arrays.equals(got, e.getValue())) {
        wrong.add(name + " is " + Arrays.toString(got) + ", expected " + Arrays.toString(e.getValue()));
      }
      String kind = actualKinds.get(name);
      if (kind != null && !kind.equals(kinds.get(name).name())) {
        badKinds.add(name + " is " + kind + ", expected " + (kinds.get(name) == Kind.FLOAT ? "floating point" : "int64"));
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
    Messages.addCounted(problems, blocksLast(badKinds), "with the wrong element type", "; ");
    if (problems.isEmpty()) {
      return;
    }
    StringBuilder sb = new StringBuilder(source).append(": the weights do not match an open_clip ResNet CLIP with this"
        + " configuration (").append(config.describe()).append("; ").append(shapes.size()).append(" tensors expected, ")
        .append(actual.size()).append(" found).");
    if (actual.containsKey("visual.proj") || actual.containsKey("visual.class_embedding")) {
      sb.append("\n  hint: visual.proj / visual.class_embedding are the weights of a ViT image tower: this is a ViT"
          + " CLIP, not a ResNet one; load it with a ViT configuration");
    }
    if (!actual.isEmpty() && actual.keySet().stream().allMatch(n -> n.startsWith("module."))) {
      sb.append("\n  hint: every key starts with 'module.' (a DataParallel wrapper); strip the prefix");
    }
    for (String p : problems) {
      sb.append("\n  ").append(p);
    }
    throw new InvalidModelException(sb.toString());
  }

  /** Keys outside repeated blocks first, so a capped listing still names every distinct tensor. */
  private static List<String> blocksLast(List<String> items) {
    List<String> out = new ArrayList<>(items.size());
    List<String> blocks = new ArrayList<>();
    for (String item : items) {
      (BLOCK.matcher(item).find() ? blocks : out).add(item);
    }
    out.addAll(blocks);
    return out;
  }

  /**
   * Refuses a configuration that expects far more tensors than the weights hold before names are
   * expanded (as {@link ConfigBounds} does for ViT CLIPs).
   */
  static void checkBounds(ResNetConfig c, int tensors, String source) {
    long expected = expectedTensors(c);
    if (expected > tensors + ConfigBounds.SLACK) {
      throw new InvalidModelException(String.format("%s: the configuration cannot describe these weights: it needs about"
          + " %,d tensors (%s), the weights hold %,d. The names were not expanded; fix the configuration or use the"
          + " weights it belongs to.", source, expected, c.describe(), tensors));
    }
  }
}
