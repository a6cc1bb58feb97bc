package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.Tensor;

/**
 * Bounds a configuration's sizes by the weights it is compared with, before {@link
 * StateDictSchema#of} expands them into names: a config is a few bytes of JSON, and {@code
 * vision_cfg.layers = 10^9} would otherwise build twelve billion expected keys (and an error
 * message listing them) before finding that the file holds a few hundred tensors. Counted in
 * {@code long}/{@code double} arithmetic from the config alone, in time independent of its
 * values.
 *
 * <p>The rule: the schema is expanded only when it expects at most {@link #SLACK} tensors more
 * than the weights hold (beyond that, thousands of keys are missing whatever else is wrong, and
 * the listing would be capped anyway); otherwise a short error compares the two, per tower.
 */
final class ConfigBounds {
  /** How many more tensors than the weights hold a config may expect and still be listed. */
  static final long SLACK = 4096;

  private static final Pattern BLOCK = Pattern.compile("^(visual\\.)?transformer\\.resblocks\\.(\\d{1,9})\\.");

  private ConfigBounds() {}

  /** Tensors of one residual block (StateDictSchema.block). */
  private static long blockTensors(boolean layerScale) {
    return 12 + (layerScale ? 2 : 0);
  }

  /** The number of tensors {@link StateDictSchema#of} would expect, without expanding names. */
  static long expectedTensors(ModelConfig c) {
    VisionConfig v = c.vision();
    TextConfig t = c.text();
    long visual = 4 + (v.lnPre() ? 2 : 0) + 2 + (long) v.layers() * blockTensors(v.layerScale());
    long text = 2 + (long) t.layers() * blockTensors(t.layerScale()) + 2 + 2;
    return visual + text;
  }

  /** The number of weights the config describes (a double: it may exceed any long). */
  static double expectedElements(ModelConfig c) {
    VisionConfig v = c.vision();
    TextConfig t = c.text();
    double e = c.embedDim();
    double vw = v.width();
    double grid = (double) v.imageSize() / v.patchSize();
    double tokens = Math.floor(grid) * Math.floor(grid) + 1;
    double visual = vw + tokens * vw + vw * e + vw * 3.0 * v.patchSize() * v.patchSize()
        + (v.lnPre() ? 2 * vw : 0) + 2 * vw
        + v.layers() * blockElements(vw, Math.floor(vw * v.mlpRatio()), v.layerScale());
    double tw = t.width();
    double text = (double) t.vocabSize() * tw + (double) t.contextLength() * tw
        + t.layers() * blockElements(tw, Math.floor(tw * t.mlpRatio()), t.layerScale())
        + 2 * tw + tw * e + 1;
    return visual + text;
  }

  private static double blockElements(double w, double mlp, boolean layerScale) {
    return 2 * w + 3 * w * w + 3 * w + w * w + w + 2 * w + mlp * w + mlp + w * mlp + w
        + (layerScale ? 2 * w : 0);
  }

  /** {@link #check(ModelConfig, Map, String)} for tensors already in memory. */
  static void checkTensors(ModelConfig config, Map<String, Tensor> stateDict, String source) {
    long elements = 0;
    for (Tensor t : stateDict.values()) {
      if (t != null && t.defined()) {
        elements += t.numel();
      }
    }
    check(config, stateDict.keySet(), stateDict.size(), elements, source);
  }

  /**
   * Refuses {@code config} before any name is expanded when it expects more than {@link #SLACK}
   * tensors beyond those in {@code actual} (name to shape, as read from the file's header).
   *
   * @throws InvalidModelException a few lines comparing the config with the weights
   */
  static void check(ModelConfig config, Map<String, long[]> actual, String source) {
    long elements = 0;
    for (long[] s : actual.values()) {
      long n = 1;
      for (long d : s == null ? new long[] {0} : s) {
        n = d < 0 ? 0 : saturatingMultiply(n, d);
      }
      elements = saturatingAdd(elements, n);
    }
    check(config, actual.keySet(), actual.size(), elements, source);
  }

  private static void check(ModelConfig config, Iterable<String> names, long tensors, long elements,
      String source) {
    long expected = expectedTensors(config);
    if (expected <= tensors + SLACK) {
      return;
    }
    TreeSet<Integer> visual = new TreeSet<>();
    TreeSet<Integer> text = new TreeSet<>();
    for (String k : names) {
      Matcher m = BLOCK.matcher(k);
      if (m.find()) {
        (m.group(1) == null ? text : visual).add(Integer.parseInt(m.group(2)));
      }
    }
    throw new InvalidModelException(String.format(
        "%s: the configuration cannot describe these weights: it needs %,d tensors and about %.3g"
            + " weights (vision_cfg.layers %,d, text_cfg.layers %,d; %s), the weights hold %,d tensors"
            + " and %,d weights (%s vision and %s text transformer blocks). The names were not"
            + " expanded; fix the configuration or use the weights it belongs to.",
        source, expected, expectedElements(config), config.vision().layers(), config.text().layers(),
        config.describe(), tensors, elements, blocks(visual), blocks(text)));
  }

  private static String blocks(TreeSet<Integer> seen) {
    return seen.isEmpty() ? "no" : String.valueOf(seen.last() + 1);
  }

  private static long saturatingMultiply(long a, long b) {
    long hi = Math.multiplyHigh(a, b);
    long lo = a * b;
    return hi != 0 || lo < 0 ? Long.MAX_VALUE : lo;
  }

  private static long saturatingAdd(long a, long b) {
    long s = a + b;
    return s < 0 ? Long.MAX_VALUE : s;
  }
}
