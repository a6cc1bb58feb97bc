package dev.clip4j.preprocess;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;

/**
 * open_clip's eval preprocessing parameters ({@code PreprocessCfg}): square image size, per-channel
 * mean and std, interpolation, resize mode and fill colour; plus the two points where Hugging Face
 * transformers' {@code CLIPImageProcessor} differs from open_clip ({@link #cropRounding()}, {@link
 * #rgbConversion()}; open_clip's behaviour by default). Immutable and thread-safe.
 *
 * <pre>{@code
 * PreprocessConfig cfg = PreprocessConfig.defaults();                 // OpenAI CLIP, 224 px
 * PreprocessConfig cfg2 = PreprocessConfig.fromOpenClipConfig(root);  // open_clip_config.json
 * PreprocessConfig cfg3 = PreprocessConfig.builder().imageSize(336).build();
 * }</pre>
 */
public final class PreprocessConfig {
  /** open_clip's OPENAI_DATASET_MEAN. */
  public static final float[] OPENAI_MEAN = {0.48145466f, 0.4578275f, 0.40821073f};
  /** open_clip's OPENAI_DATASET_STD. */
  public static final float[] OPENAI_STD = {0.26862954f, 0.26130258f, 0.27577711f};

  private static final PreprocessConfig DEFAULTS = builder().build();

  private final int imageSize;
  private final float[] mean;
  private final float[] std;
  private final Interpolation interpolation;
  private final ResizeMode resizeMode;
  private final int fillColor;
  private final CropRounding cropRounding;
  private final RgbConversion rgbConversion;

  private PreprocessConfig(Builder b) {
    if (b.imageSize < 1 || b.imageSize > 16384) {
      throw new IllegalArgumentException("imageSize must be in [1, 16384], got " + b.imageSize);
    }
    if (b.mean.length != 3 || b.std.length != 3) {
      throw new IllegalArgumentException("mean and std need 3 values each");
    }
    for (int c = 0; c < 3; c++) {
      if (!Float.isFinite(b.mean[c]) || !Float.isFinite(b.std[c]) || b.std[c] == 0f) {
        throw new IllegalArgumentException(
            "mean must be finite and std finite and non-zero: " + Arrays.toString(b.mean) + " "
                + Arrays.toString(b.std));
      }
    }
    if (b.fillColor < 0 || b.fillColor > 255) {
      throw new IllegalArgumentException("fillColor must be in [0, 255], got " + b.fillColor);
    }
    this.imageSize = b.imageSize;
    this.mean = b.mean.clone();
    this.std = b.std.clone();
    this.interpolation = Objects.requireNonNull(b.interpolation, "interpolation");
    this.resizeMode = Objects.requireNonNull(b.resizeMode, "resizeMode");
    this.fillColor = b.fillColor;
    this.cropRounding = Objects.requireNonNull(b.cropRounding, "cropRounding");
    this.rgbConversion = Objects.requireNonNull(b.rgbConversion, "rgbConversion");
  }

  /**
   * open_clip's defaults: 224, OpenAI mean/std, bicubic, shortest, fill 0, crop offsets rounded
   * half to even, RGB conversion after the resize.
   */
  public static PreprocessConfig defaults() {
    return DEFAULTS;
  }

  /** A builder starting from the defaults. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder starting from this configuration. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.imageSize = imageSize;
    b.mean = mean.clone();
    b.std = std.clone();
    b.interpolation = interpolation;
    b.resizeMode = resizeMode;
    b.fillColor = fillColor;
    b.cropRounding = cropRounding;
    b.rgbConversion = rgbConversion;
    return b;
  }

  /**
   * From an open_clip {@code preprocess_cfg} object: keys {@code size} (an int, or [h, w] with h
   * == w), {@code mode} ("RGB"), {@code mean}, {@code std} (3 numbers or one), {@code
   * interpolation} ("bicubic", "bilinear", "random" = bicubic at eval), {@code resize_mode}
   * ("shortest", "longest", "squash") and {@code fill_color}. Missing keys keep the defaults;
   * a missing size becomes {@code defaultImageSize} (the vision tower's {@code image_size}).
   *
   * @throws IllegalArgumentException for values open_clip would reject or clip4j cannot honour
   */
  public static PreprocessConfig fromOpenClip(JsonNode preprocessCfg, int defaultImageSize) {
    Builder b = builder().imageSize(defaultImageSize);
    if (preprocessCfg == null || preprocessCfg.isNull() || preprocessCfg.isMissingNode()) {
      return b.build();
    }
    if (!preprocessCfg.isObject()) {
      throw new IllegalArgumentException("preprocess_cfg must be a JSON object");
    }
    JsonNode size = preprocessCfg.get("size");
    if (size != null && !size.isNull()) {
      if (size.isInt()) {
        b.imageSize(size.intValue());
      } else if (size.isArray() && size.size() == 2 && size.get(0).isInt()
          && size.get(0).intValue() == size.get(1).intValue()) {
        b.imageSize(size.get(0).intValue());
      } else if (size.isArray() && size.size() == 1 && size.get(0).isInt()) {
        b.imageSize(size.get(0).intValue());
      } else {
        throw new IllegalArgumentException("only square image sizes are supported, got size " + size);
      }
    }
    JsonNode mode = preprocessCfg.get("mode");
    if (mode != null && !mode.isNull() && !"RGB".equals(mode.asText())) {
      throw new IllegalArgumentException("preprocess_cfg mode must be RGB, got " + mode);
    }
    float[] mean = triple(preprocessCfg.get("mean"), "mean");
    if (mean != null) {
      b.mean(mean);
    }
    float[] std = triple(preprocessCfg.get("std"), "std");
    if (std != null) {
      b.std(std);
    }
    JsonNode interp = preprocessCfg.get("interpolation");
    if (interp != null && !interp.isNull()) {
      switch (interp.asText().toLowerCase(Locale.ROOT)) {
        case "bicubic":
        case "random": // open_clip uses bicubic at eval time for "random"
          b.interpolation(Interpolation.BICUBIC);
          break;
        case "bilinear":
          b.interpolation(Interpolation.BILINEAR);
          break;
        default:
          throw new IllegalArgumentException("unsupported interpolation " + interp);
      }
    }
    JsonNode resize = preprocessCfg.get("resize_mode");
    if (resize != null && !resize.isNull()) {
      switch (resize.asText().toLowerCase(Locale.ROOT)) {
        case "shortest":
          b.resizeMode(ResizeMode.SHORTEST);
          break;
        case "longest":
          b.resizeMode(ResizeMode.LONGEST);
          break;
        case "squash":
          b.resizeMode(ResizeMode.SQUASH);
          break;
        default:
          throw new IllegalArgumentException("unsupported resize_mode " + resize);
      }
    }
    JsonNode fill = preprocessCfg.get("fill_color");
    if (fill != null && !fill.isNull()) {
      if (!fill.isInt()) {
        throw new IllegalArgumentException("fill_color must be an integer, got " + fill);
      }
      b.fillColor(fill.intValue());
    }
    return b.build();
  }

  /**
   * From a whole {@code open_clip_config.json} tree: its {@code preprocess_cfg}, with the size
   * defaulting to {@code model_cfg.vision_cfg.image_size} (224 when absent).
   */
  public static PreprocessConfig fromOpenClipConfig(JsonNode root) {
    int size = root.path("model_cfg").path("vision_cfg").path("image_size").asInt(224);
    return fromOpenClip(root.get("preprocess_cfg"), size);
  }

  /** {@link #fromOpenClipConfig(JsonNode)} from JSON text. */
  public static PreprocessConfig fromOpenClipConfigJson(String json) {
    try {
      return fromOpenClipConfig(new ObjectMapper().readTree(json));
    } catch (IOException e) {
      throw new IllegalArgumentException("not valid JSON: " + e.getMessage(), e);
    }
  }

  private static float[] triple(JsonNode n, String name) {
    if (n == null || n.isNull()) {
      return null;
    }
    if (n.isNumber()) {
      float v = (float) n.doubleValue();
      return new float[] {v, v, v};
    }
    if (n.isArray() && n.size() == 3 && n.get(0).isNumber() && n.get(1).isNumber() && n.get(2).isNumber()) {
      // Python floats become float32 exactly as torch.as_tensor(..., dtype=float32) rounds them.
      return new float[] {
        (float) n.get(0).doubleValue(), (float) n.get(1).doubleValue(), (float) n.get(2).doubleValue()
      };
    }
    throw new IllegalArgumentException(name + " must be a number or 3 numbers, got " + n);
  }

  /**
   * This configuration as open_clip's {@code preprocess_cfg} JSON ({@code size}, {@code mode},
   * {@code mean}, {@code std}, {@code interpolation}, {@code resize_mode}, {@code fill_color}),
   * which {@link #fromOpenClip} parses back to an equal configuration.
   */
  public com.fasterxml.jackson.databind.node.ObjectNode toOpenClipJson() {
    com.fasterxml.jackson.databind.node.ObjectNode o = new ObjectMapper().createObjectNode();
    o.put("size", imageSize);
    o.put("mode", "RGB");
    com.fasterxml.jackson.databind.node.ArrayNode m = o.putArray("mean");
    for (float f : mean) {
      m.add((double) f);
    }
    com.fasterxml.jackson.databind.node.ArrayNode sd = o.putArray("std");
    for (float f : std) {
      sd.add((double) f);
    }
    o.put("interpolation", interpolation.name().toLowerCase(Locale.ROOT));
    o.put("resize_mode", resizeMode.name().toLowerCase(Locale.ROOT));
    o.put("fill_color", fillColor);
    return o;
  }

  /** Side of the square model input in pixels. */
  public int imageSize() {
    return imageSize;
  }

  /** Per-channel mean (RGB), a copy. */
  public float[] mean() {
    return mean.clone();
  }

  /** Per-channel standard deviation (RGB), a copy. */
  public float[] std() {
    return std.clone();
  }

  /** The resize filter (palette and bilevel images always use NEAREST, as Pillow). */
  public Interpolation interpolation() {
    return interpolation;
  }

  /** How the image is brought to the square size. */
  public ResizeMode resizeMode() {
    return resizeMode;
  }

  /** Padding colour of {@link ResizeMode#LONGEST} (a gray level, or a palette index for P). */
  public int fillColor() {
    return fillColor;
  }

  /**
   * How the center crop's offset is rounded: {@link CropRounding#HALF_EVEN} for open_clip
   * (torchvision), {@link CropRounding#FLOOR} for Hugging Face transformers' processor. Only
   * {@link ResizeMode#SHORTEST} crops.
   */
  public CropRounding cropRounding() {
    return cropRounding;
  }

  /**
   * When non-RGB images become RGB: {@link RgbConversion#AFTER_RESIZE} for open_clip, {@link
   * RgbConversion#BEFORE_RESIZE} for Hugging Face transformers' processor.
   */
  public RgbConversion rgbConversion() {
    return rgbConversion;
  }

  /** Floats per preprocessed image: 3 * imageSize * imageSize. */
  public int floatsPerImage() {
    return 3 * imageSize * imageSize;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof PreprocessConfig)) {
      return false;
    }
    PreprocessConfig c = (PreprocessConfig) o;
    return imageSize == c.imageSize && Arrays.equals(mean, c.mean) && Arrays.equals(std, c.std)
        && interpolation == c.interpolation && resizeMode == c.resizeMode && fillColor == c.fillColor
        && cropRounding == c.cropRounding && rgbConversion == c.rgbConversion;
  }

  @Override
  public int hashCode() {
    return Objects.hash(imageSize, Arrays.hashCode(mean), Arrays.hashCode(std), interpolation, resizeMode, fillColor,
        cropRounding, rgbConversion);
  }

  @Override
  public String toString() {
    return "PreprocessConfig[size=" + imageSize + ", mean=" + Arrays.toString(mean) + ", std="
        + Arrays.toString(std) + ", " + interpolation + ", " + resizeMode + ", fill=" + fillColor
        + (cropRounding == CropRounding.HALF_EVEN ? "" : ", crop " + cropRounding)
        + (rgbConversion == RgbConversion.AFTER_RESIZE ? "" : ", RGB " + rgbConversion) + "]";
  }

  /** Builder of {@link PreprocessConfig}; not thread-safe. */
  public static final class Builder {
    private int imageSize = 224;
    private float[] mean = OPENAI_MEAN.clone();
    private float[] std = OPENAI_STD.clone();
    private Interpolation interpolation = Interpolation.BICUBIC;
    private ResizeMode resizeMode = ResizeMode.SHORTEST;
    private int fillColor = 0;
    private CropRounding cropRounding = CropRounding.HALF_EVEN;
    private RgbConversion rgbConversion = RgbConversion.AFTER_RESIZE;

    private Builder() {}

    /** Side of the square model input, in [1, 16384]. */
    public Builder imageSize(int size) {
      this.imageSize = size;
      return this;
    }

    /** Per-channel mean, 3 values. */
    public Builder mean(float[] mean) {
      this.mean = mean.clone();
      return this;
    }

    /** Per-channel std, 3 finite non-zero values. */
    public Builder std(float[] std) {
      this.std = std.clone();
      return this;
    }

    /** Resize filter. */
    public Builder interpolation(Interpolation interpolation) {
      this.interpolation = interpolation;
      return this;
    }

    /** Resize mode. */
    public Builder resizeMode(ResizeMode resizeMode) {
      this.resizeMode = resizeMode;
      return this;
    }

    /** Padding colour for {@link ResizeMode#LONGEST}, in [0, 255]. */
    public Builder fillColor(int fillColor) {
      this.fillColor = fillColor;
      return this;
    }

    /** Rounding of the center crop's offset (default {@link CropRounding#HALF_EVEN}, open_clip's). */
    public Builder cropRounding(CropRounding cropRounding) {
      this.cropRounding = cropRounding;
      return this;
    }

    /** When non-RGB images become RGB (default {@link RgbConversion#AFTER_RESIZE}, open_clip's). */
    public Builder rgbConversion(RgbConversion rgbConversion) {
      this.rgbConversion = rgbConversion;
      return this;
    }

    /** Validates and builds. */
    public PreprocessConfig build() {
      return new PreprocessConfig(this);
    }
  }
}
