package dev.clip4j.model.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.preprocess.CropRounding;
import dev.clip4j.preprocess.Interpolation;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.preprocess.ResizeMode;
import dev.clip4j.preprocess.RgbConversion;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * A Hugging Face {@code preprocessor_config.json} of {@code CLIPImageProcessor} (or its older
 * name {@code CLIPFeatureExtractor}) as a {@link PreprocessConfig} that makes clip4j compute what
 * transformers' processor (the PIL one) computes: {@code convert("RGB")} first ({@link
 * RgbConversion#BEFORE_RESIZE}), a resize with Pillow, the center crop offset floored ({@link
 * CropRounding#FLOOR}), {@code x * rescale_factor} in float64 rounded to float32, then {@code (x -
 * mean) / std} in float32 (equal to open_clip's {@code x / 255} for {@code rescale_factor = 1/255},
 * checked for all 256 values).
 *
 * <p>Keys: {@code do_resize} (must be true), {@code size} ({@code {"shortest_edge": n}}, an int
 * meaning the same, or {@code {"height": n, "width": n}} = squash), {@code resample} (0 nearest, 2
 * bilinear, 3 bicubic; Pillow's LANCZOS, BOX and HAMMING are refused), {@code do_center_crop},
 * {@code crop_size} ({@code {"height", "width"}} or an int), {@code do_rescale} (must be true)
 * and {@code rescale_factor}, {@code do_normalize} (false: mean 0, std 1), {@code
 * image_mean}/{@code image_std} (3 numbers or one), {@code do_convert_rgb} (false is accepted:
 * it changes nothing for RGB images and transformers cannot run a non-RGB one then), plus
 * informational keys ({@code image_processor_type}, {@code feature_extractor_type}, {@code
 * processor_class}). clip4j produces a square {@code size x size} input, so the crop must equal
 * the resized short side (or be switched off only for a square squash). Anything else, an
 * unknown key included, is an {@link InvalidModelException} naming it.
 *
 * <pre>{@code
 * PreprocessConfig pre = HfPreprocessorConfig.read(dir.resolve("preprocessor_config.json"));
 * ImagePreprocessor p = new ImagePreprocessor(pre);   // equal to CLIPImageProcessor's pixel_values
 * }</pre>
 */
public final class HfPreprocessorConfig {
  /** The file name in a Hugging Face directory. */
  public static final String FILE = "preprocessor_config.json";

  private static final Set<String> KNOWN = Set.of(
      "do_resize", "size", "resample", "do_center_crop", "crop_size", "do_rescale", "rescale_factor", "do_normalize",
      "image_mean", "image_std", "do_convert_rgb", "image_processor_type", "feature_extractor_type",
      "processor_class", "_processor_class", "_valid_processor_keys");
  private static final Set<String> TYPES = Set.of("CLIPImageProcessor", "CLIPFeatureExtractor");
  private static final Set<String> SIGLIP_KNOWN = Set.of(
      "do_resize", "size", "resample", "do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std",
      "do_convert_rgb", "image_processor_type", "processor_class", "_processor_class", "_valid_processor_keys");

  private HfPreprocessorConfig() {}

  /**
   * Reads {@code preprocessor_config.json} (at most 4 MiB).
   *
   * @throws InvalidModelException naming the file and the key of the first problem
   */
  public static PreprocessConfig read(Path file) {
    Objects.requireNonNull(file, "file");
    return parse(HfJson.readObject(file), file.toString());
  }

  /**
   * Reads the {@code preprocessor_config.json} of a transformers SigLIP ({@code
   * SiglipImageProcessor}, the PIL one): {@code size {"height", "width"}} (default 224 x 224; a
   * squash resize, no crop), {@code resample} (default 3, bicubic), {@code rescale_factor} (1/255),
   * {@code image_mean} / {@code image_std} (default 0.5). Keys the processor does not have ({@code
   * do_center_crop}, {@code crop_size}, ...) and the Fast processor (torchvision's resize kernels)
   * are refused by name. Its {@code do_convert_rgb} defaults to no conversion, which changes
   * nothing for RGB images; clip4j converts other images to RGB first, where transformers' model
   * would refuse them.
   *
   * @throws InvalidModelException naming the file and the key of the first problem
   */
  public static PreprocessConfig readSiglip(Path file) {
    Objects.requireNonNull(file, "file");
    return parseSiglip(HfJson.readObject(file), file.toString());
  }

  /** Parses SiglipImageProcessor json bytes; {@code source} names them in messages. */
  public static PreprocessConfig parseSiglip(byte[] json, String source) {
    Objects.requireNonNull(json, "json");
    return parseSiglip(HfJson.parseObject(json, source), source);
  }

  private static PreprocessConfig parseSiglip(JsonNode root, String source) {
    HfJson.Obj o = new HfJson.Obj(root, "", source);
    List<String> unknown = o.unknownKeys(SIGLIP_KNOWN);
    if (!unknown.isEmpty()) {
      throw new InvalidModelException(source + ": keys SiglipImageProcessor does not have or clip4j does not know: "
          + unknown + (unknown.contains("do_center_crop") || unknown.contains("crop_size") ? " (SigLIP's processor"
          + " squashes the image to size without cropping; a crop would be a different preprocessing)" : "")
          + "; the model is not loaded (not implemented)");
    }
    String type = o.string("image_processor_type", null);
    if (type != null && !type.equals("SiglipImageProcessor")) {
      throw o.invalid("image_processor_type", "is '" + HfJson.abbreviate(type) + "': clip4j implements"
          + " SiglipImageProcessor (the PIL one)" + (type.equals("SiglipImageProcessorFast") ? "; the Fast one resizes"
          + " with torchvision's tensor kernels, which give other pixels" : ""));
    }
    o.string("processor_class", null);
    if (!o.bool("do_resize", true)) {
      throw o.invalid("do_resize", "is false: clip4j always resizes to the model's input size (not implemented)");
    }
    if (!o.bool("do_rescale", true)) {
      throw o.invalid("do_rescale", "is false: the model would see pixel values in [0, 255]; clip4j rescales to [0, 1]"
          + " (not implemented)");
    }
    o.bool("do_convert_rgb", false);
    int side = 224;
    JsonNode size = o.get("size");
    if (size != null && !size.isNull()) {
      if (!size.isObject()) {
        throw o.invalid("size", "must be {\"height\": n, \"width\": n} for SiglipImageProcessor, got "
            + HfJson.abbreviate(size.toString()));
      }
      HfJson.Obj s = new HfJson.Obj(size, "size", source);
      if (!s.unknownKeys(Set.of("height", "width")).isEmpty() || !s.present("height") || !s.present("width")) {
        throw o.invalid("size", "must hold exactly height and width (SiglipImageProcessor resizes to them), got "
            + HfJson.abbreviate(size.toString()));
      }
      int h = s.positiveInt("height", s.get("height"), HfClipConfig.MAX_IMAGE);
      int w = s.positiveInt("width", s.get("width"), HfClipConfig.MAX_IMAGE);
      if (h != w) {
        throw o.invalid("size", "is " + h + "x" + w + ": clip4j produces square inputs (not implemented)");
      }
      side = h;
    }
    PreprocessConfig.Builder b = PreprocessConfig.builder()
        .cropRounding(CropRounding.FLOOR)
        .rgbConversion(RgbConversion.BEFORE_RESIZE)
        .imageSize(side)
        .resizeMode(ResizeMode.SQUASH);
    resample(o, b);
    double factor = o.number("rescale_factor", 1.0 / 255);
    if (!rescalesLikeDivisionBy255(factor)) {
      throw o.invalid("rescale_factor", "is " + factor + ": clip4j computes x / 255, which equals x * rescale_factor"
          + " (float64, then float32) only for rescale_factor = 1/255");
    }
    float[] half = {0.5f, 0.5f, 0.5f};
    if (o.bool("do_normalize", true)) {
      b.mean(triple(o, "image_mean", half));
      b.std(triple(o, "image_std", half));
    } else {
      triple(o, "image_mean", half);
      triple(o, "image_std", half);
      b.mean(new float[] {0f, 0f, 0f}).std(new float[] {1f, 1f, 1f});
    }
    try {
      return b.build();
    } catch (IllegalArgumentException e) {
      throw new InvalidModelException(source + ": " + e.getMessage(), e);
    }
  }

  private static void resample(HfJson.Obj o, PreprocessConfig.Builder b) {
    int resample = o.integer("resample", 3);
    switch (resample) {
      case 0:
        b.interpolation(Interpolation.NEAREST);
        break;
      case 2:
        b.interpolation(Interpolation.BILINEAR);
        break;
      case 3:
        b.interpolation(Interpolation.BICUBIC);
        break;
      default:
        throw o.invalid("resample", "is " + resample + (resample == 1 ? " (LANCZOS)" : resample == 4 ? " (BOX)"
            : resample == 5 ? " (HAMMING)" : "") + ": clip4j resizes with Pillow's NEAREST (0), BILINEAR (2) or"
            + " BICUBIC (3) only");
    }
  }

  /** Parses preprocessor_config.json bytes; {@code source} names them in messages. */
  public static PreprocessConfig parse(byte[] json, String source) {
    Objects.requireNonNull(json, "json");
    return parse(HfJson.parseObject(json, source), source);
  }

  private static PreprocessConfig parse(JsonNode root, String source) {
    HfJson.Obj o = new HfJson.Obj(root, "", source);
    List<String> unknown = o.unknownKeys(KNOWN);
    if (!unknown.isEmpty()) {
      throw new InvalidModelException(source + ": keys clip4j does not know: " + unknown + "; they may change the"
          + " preprocessing, so the model is not loaded (not implemented)");
    }
    for (String k : new String[] {"image_processor_type", "feature_extractor_type"}) {
      String type = o.string(k, null);
      if (type != null && !TYPES.contains(type)) {
        throw o.invalid(k, "is '" + HfJson.abbreviate(type) + "': clip4j implements CLIPImageProcessor (the PIL one;"
            + (type.equals("CLIPImageProcessorFast") ? " the Fast one resizes with torchvision's tensor kernels, which"
            + " give other pixels;" : "") + " also named CLIPFeatureExtractor)");
      }
    }
    o.string("processor_class", null);
    if (!o.bool("do_resize", true)) {
      throw o.invalid("do_resize", "is false: clip4j always resizes to the model's input size (not implemented)");
    }
    if (!o.bool("do_rescale", true)) {
      throw o.invalid("do_rescale", "is false: the model would see pixel values in [0, 255]; clip4j rescales to [0, 1]"
          + " (not implemented)");
    }
    o.bool("do_convert_rgb", true);
    PreprocessConfig.Builder b = PreprocessConfig.builder()
        .cropRounding(CropRounding.FLOOR)
        .rgbConversion(RgbConversion.BEFORE_RESIZE);

    // size: {"shortest_edge": n} | {"height": h, "width": w} | n (= shortest_edge, get_size_dict).
    JsonNode size = o.get("size");
    int side;
    ResizeMode mode;
    if (size == null || size.isNull()) {
      side = 224;
      mode = ResizeMode.SHORTEST;
    } else if (size.isNumber()) {
      side = o.positiveInt("size", size, HfClipConfig.MAX_IMAGE);
      mode = ResizeMode.SHORTEST;
    } else if (size.isObject()) {
      HfJson.Obj s = new HfJson.Obj(size, "size", source);
      List<String> extra = s.unknownKeys(Set.of("shortest_edge", "longest_edge", "height", "width"));
      if (!extra.isEmpty()) {
        throw o.invalid("size", "has keys clip4j does not know: " + extra);
      }
      if (s.present("longest_edge")) {
        throw s.invalid("longest_edge", "is set: a cap on the longer side is not implemented");
      }
      if (s.present("shortest_edge")) {
        if (s.present("height") || s.present("width")) {
          throw o.invalid("size", "gives both shortest_edge and height/width");
        }
        side = s.positiveInt("shortest_edge", s.get("shortest_edge"), HfClipConfig.MAX_IMAGE);
        mode = ResizeMode.SHORTEST;
      } else if (s.present("height") && s.present("width")) {
        int h = s.positiveInt("height", s.get("height"), HfClipConfig.MAX_IMAGE);
        int w = s.positiveInt("width", s.get("width"), HfClipConfig.MAX_IMAGE);
        if (h != w) {
          throw o.invalid("size", "is " + h + "x" + w + ": clip4j produces square inputs (not implemented)");
        }
        side = h;
        mode = ResizeMode.SQUASH;
      } else {
        throw o.invalid("size", "must hold shortest_edge, or height and width");
      }
    } else {
      throw o.invalid("size", "must be an integer or an object, got " + HfJson.abbreviate(size.toString()));
    }

    boolean crop = o.bool("do_center_crop", true);
    JsonNode cropSize = o.get("crop_size");
    int cropSide = 224;
    if (cropSize != null && !cropSize.isNull()) {
      if (cropSize.isNumber()) {
        cropSide = o.positiveInt("crop_size", cropSize, HfClipConfig.MAX_IMAGE);
      } else if (cropSize.isObject()) {
        HfJson.Obj c = new HfJson.Obj(cropSize, "crop_size", source);
        List<String> extra = c.unknownKeys(Set.of("height", "width"));
        if (!extra.isEmpty() || !c.present("height") || !c.present("width")) {
          throw o.invalid("crop_size", "must hold exactly height and width, got " + HfJson.abbreviate(cropSize.toString()));
        }
        int h = c.positiveInt("height", c.get("height"), HfClipConfig.MAX_IMAGE);
        int w = c.positiveInt("width", c.get("width"), HfClipConfig.MAX_IMAGE);
        if (h != w) {
          throw o.invalid("crop_size", "is " + h + "x" + w + ": clip4j produces square inputs (not implemented)");
        }
        cropSide = h;
      } else {
        throw o.invalid("crop_size", "must be an integer or an object, got " + HfJson.abbreviate(cropSize.toString()));
      }
    }
    if (crop && cropSide != side) {
      throw o.invalid("crop_size", "(" + cropSide + ") differs from the resized size (" + side + "): resizing to one"
          + " size and cropping another is not implemented (clip4j resizes the short side to the input size)");
    }
    if (!crop && mode == ResizeMode.SHORTEST) {
      throw o.invalid("do_center_crop", "is false with a shortest_edge resize: the input would not be square"
          + " (not implemented)");
    }
    b.imageSize(side).resizeMode(mode);

    resample(o, b);

    double factor = o.number("rescale_factor", 1.0 / 255);
    if (!rescalesLikeDivisionBy255(factor)) {
      throw o.invalid("rescale_factor", "is " + factor + ": clip4j computes x / 255, which equals x * rescale_factor"
          + " (float64, then float32) only for rescale_factor = 1/255");
    }
    if (o.bool("do_normalize", true)) {
      b.mean(triple(o, "image_mean", PreprocessConfig.OPENAI_MEAN));
      b.std(triple(o, "image_std", PreprocessConfig.OPENAI_STD));
    } else {
      triple(o, "image_mean", PreprocessConfig.OPENAI_MEAN); // still checked
      triple(o, "image_std", PreprocessConfig.OPENAI_STD);
      b.mean(new float[] {0f, 0f, 0f}).std(new float[] {1f, 1f, 1f});
    }
    try {
      return b.build();
    } catch (IllegalArgumentException e) {
      throw new InvalidModelException(source + ": " + e.getMessage(), e);
    }
  }

  /** Whether float32(x * factor), in float64 as numpy computes it, is float32(x) / 255 for every byte. */
  static boolean rescalesLikeDivisionBy255(double factor) {
    for (int x = 0; x < 256; x++) {
      if (Float.floatToRawIntBits((float) (x * factor)) != Float.floatToRawIntBits((float) x / 255f)) {
        return false;
      }
    }
    return true;
  }

  private static float[] triple(HfJson.Obj o, String key, float[] dflt) {
    JsonNode n = o.get(key);
    if (n == null || n.isNull()) {
      return dflt.clone();
    }
    if (n.isNumber() && Double.isFinite(n.asDouble())) {
      float v = (float) n.asDouble();
      return new float[] {v, v, v};
    }
    if (n.isArray() && n.size() == 3) {
      float[] out = new float[3];
      for (int i = 0; i < 3; i++) {
        if (!n.get(i).isNumber() || !Double.isFinite(n.get(i).asDouble())) {
          throw o.invalid(key, "must be 3 finite numbers or one, got " + HfJson.abbreviate(n.toString()));
        }
        out[i] = (float) n.get(i).asDouble(); // numpy's float32 of a Python float
      }
      return out;
    }
    throw o.invalid(key, "must be 3 finite numbers or one (RGB), got " + HfJson.abbreviate(n.toString()));
  }

  private static final double[] CANONICAL = {
    0.48145466, 0.4578275, 0.40821073, 0.26862954, 0.26130258, 0.27577711, // OpenAI
    0.485, 0.456, 0.406, 0.229, 0.224, 0.225, 0.5 // ImageNet, Inception
  };

  /**
   * A number that numpy's float32 (and Java's (float)) reads back as exactly {@code f}: the usual
   * published constant when {@code f} is one, else {@code f}'s exact value as a double (JSON
   * writes its shortest representation, which reads back to that double, whose float32 is f).
   */
  static double decimal(float f) {
    for (double d : CANONICAL) {
      if ((float) d == f) {
        return d;
      }
    }
    return f;
  }

  /**
   * The {@code preprocessor_config.json} of a {@code CLIPImageProcessor} closest to {@code
   * config}: shortest_edge or squash size, the crop, resample, mean and std. The processor
   * always floors the crop offset and converts to RGB before resizing, so an open_clip
   * configuration ({@link CropRounding#HALF_EVEN}, {@link RgbConversion#AFTER_RESIZE}) written
   * here preprocesses some images differently under transformers: those whose resized long side
   * exceeds the input size by 3 modulo 4 pixels, and images that are not RGB.
   *
   * @throws Clip4jException with {@link ErrorCode#UNSUPPORTED} for {@link ResizeMode#LONGEST}
   *     (padding), which the processor cannot do
   */
  public static ObjectNode toJson(PreprocessConfig config) {
    Objects.requireNonNull(config, "config");
    ObjectNode root = new ObjectMapper().createObjectNode();
    int s = config.imageSize();
    switch (config.resizeMode()) {
      case SHORTEST:
        root.putObject("size").put("shortest_edge", s);
        break;
      case SQUASH:
        root.putObject("size").put("height", s).put("width", s);
        break;
      default:
        throw new Clip4jException(ErrorCode.UNSUPPORTED, "resize mode " + config.resizeMode() + " (pad to a square) has"
            + " no CLIPImageProcessor equivalent");
    }
    root.putObject("crop_size").put("height", s).put("width", s);
    root.put("do_center_crop", true);
    root.put("do_convert_rgb", true);
    root.put("do_normalize", true);
    root.put("do_rescale", true);
    root.put("do_resize", true);
    root.put("rescale_factor", 1.0 / 255);
    switch (config.interpolation()) {
      case NEAREST:
        root.put("resample", 0);
        break;
      case BILINEAR:
        root.put("resample", 2);
        break;
      default:
        root.put("resample", 3);
    }
    ArrayNode mean = root.putArray("image_mean");
    ArrayNode std = root.putArray("image_std");
    for (int c = 0; c < 3; c++) {
      mean.add(decimal(config.mean()[c]));
      std.add(decimal(config.std()[c]));
    }
    root.put("image_processor_type", "CLIPImageProcessor");
    root.put("processor_class", "CLIPProcessor");
    return root;
  }
}
