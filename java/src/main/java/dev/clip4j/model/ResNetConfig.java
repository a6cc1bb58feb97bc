package dev.clip4j.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.internal.UserFiles;
import dev.clip4j.preprocess.PreprocessConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * An open_clip CLIP whose image tower is OpenAI's ModifiedResNet (open_clip's {@code RN50},
 * {@code RN101}, {@code RN50x4}, {@code RN50x16}, {@code RN50x64} and their {@code -quickgelu}
 * names; OpenAI's {@code RN*.pt} archives): a 3-convolution stem with an average pool, four
 * stages of anti-aliased Bottleneck blocks (an average pool before each strided step), BatchNorm
 * with running statistics (eval mode), and an attention pool whose query is the mean of the final
 * feature map; the text tower is the causal CLIP text transformer ({@link TextConfig}).
 *
 * <p>Parsed from {@code model_cfg} when {@code vision_cfg.layers} is a list (open_clip's own
 * test). Strict: keys ModifiedResNet does not use must be absent or null, and the image size must
 * give the attention pool's grid ({@code image_size // 32}) after the stem and the three strided
 * stages, or open_clip itself would fail.
 *
 * @param embedDim width of the embeddings (the attention pool's {@code c_proj} output, {@code
 *     text_projection}'s columns)
 * @param quickGelu {@code model_cfg.quick_gelu} (the text MLPs' activation), null when absent
 * @param imageSize input side (square)
 * @param layers Bottleneck blocks of the four stages
 * @param width the stem's output width (stage widths are {@code width, 2w, 4w, 8w}, times 4 out)
 * @param headWidth attention-pool head width ({@code heads = width * 32 / headWidth})
 * @param text the text tower
 * @param preprocessCfg {@code preprocess_cfg} (a copy) or null
 * @param source where the configuration came from, for messages
 */
public record ResNetConfig(
    int embedDim,
    Boolean quickGelu,
    int imageSize,
    List<Integer> layers,
    int width,
    int headWidth,
    TextConfig text,
    ObjectNode preprocessCfg,
    String source) {

  private static final ObjectMapper JSON = new ObjectMapper();
  /** Largest block count of one stage (RN50x64 has 36). */
  static final int MAX_BLOCKS = 4096;
  /** Largest stem width (RN50x64 has 128). */
  static final int MAX_WIDTH = 1 << 14;

  private static final Set<String> MODEL_KEYS = Set.of(
      "embed_dim", "quick_gelu", "vision_cfg", "text_cfg", "cast_dtype", "init_logit_scale");
  private static final Set<String> VISION_KEYS = Set.of("image_size", "layers", "width", "head_width", "patch_size");

  public ResNetConfig {
    Objects.requireNonNull(layers, "layers");
    Objects.requireNonNull(text, "text");
    layers = List.copyOf(layers);
    preprocessCfg = preprocessCfg == null ? null : preprocessCfg.deepCopy();
  }

  /** {@code preprocess_cfg} (a copy) or null. */
  @Override
  public ObjectNode preprocessCfg() {
    return preprocessCfg == null ? null : preprocessCfg.deepCopy();
  }

  /** Width of the final feature map and of the attention pool, {@code width * 32}. */
  public int poolWidth() {
    return width * 32;
  }

  /** Attention-pool heads, {@code width * 32 // head_width} as open_clip computes them. */
  public int heads() {
    return poolWidth() / headWidth;
  }

  /** Side of the final feature map, {@code image_size // 32}. */
  public int grid() {
    return imageSize / 32;
  }

  /** A one-line description, e.g. for {@code info()}. */
  public String describe() {
    return String.format("ModifiedResNet %dpx, layers %s, width %d, attention pool %d wide, %d heads | text width %d,"
            + " %d layers, %d heads, context %d, vocab %d | embed %d",
        imageSize, layers, width, poolWidth(), heads(), text.width(), text.layers(), text.heads(), text.contextLength(),
        text.vocabSize(), embedDim);
  }

  /** The same configuration with {@code quick_gelu} set. */
  public ResNetConfig withQuickGelu(boolean quick) {
    return new ResNetConfig(embedDim, quick, imageSize, layers, width, headWidth, text, preprocessCfg, source);
  }

  /** The same configuration with another source (for messages). */
  ResNetConfig withSource(String s) {
    return new ResNetConfig(embedDim, quickGelu, imageSize, layers, width, headWidth, text, preprocessCfg, s);
  }

  /** True when {@code modelCfg} (open_clip's {@code model_cfg}) has a ModifiedResNet image tower. */
  static boolean describesResNet(JsonNode modelCfg) {
    JsonNode v = modelCfg == null ? null : modelCfg.get("vision_cfg");
    return v != null && v.isObject() && v.path("layers").isArray();
  }

  /**
   * Reads a configuration file ({@code open_clip_config.json} or a bare model config) when it
   * describes a ResNet CLIP; null when it does not (then {@link ModelConfig#parse(Path)} applies).
   */
  static ResNetConfig parseIfResNet(Path file) {
    UserFiles.requireRegularFile(file, InvalidModelException::new);
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new InvalidModelException(file + " cannot be read: " + e.getMessage(), e);
    }
    return parseIfResNet(text, file.toString());
  }

  /** {@link #parseIfResNet(Path)} on JSON text. */
  static ResNetConfig parseIfResNet(String json, String source) {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      return null; // ModelConfig.parse reports it
    }
    if (root == null || !root.isObject()) {
      return null;
    }
    JsonNode modelCfg = root.has("model_cfg") ? root.get("model_cfg") : root;
    if (!describesResNet(modelCfg)) {
      return null;
    }
    ObjectNode preprocess = null;
    JsonNode p = root.get("preprocess_cfg");
    if (root.has("model_cfg") && p != null && !p.isNull()) {
      if (!p.isObject()) {
        throw new InvalidModelException(source + ": preprocess_cfg must be an object");
      }
      preprocess = (ObjectNode) p;
    }
    return fromModelCfg(modelCfg, preprocess, source);
  }

  /** Parses a ResNet CLIP's {@code model_cfg}. */
  static ResNetConfig fromModelCfg(JsonNode modelCfg, ObjectNode preprocessCfg, String source) {
    ModelConfig.Reader m = new ModelConfig.Reader(modelCfg, "model_cfg", source);
    List<String> unknown = unknownKeys(modelCfg, MODEL_KEYS);
    if (!unknown.isEmpty()) {
      throw new InvalidModelException(source + ": model_cfg has keys clip4j does not implement for ResNet CLIPs: "
          + unknown + " (it implements open_clip's CLIP with a ModifiedResNet image tower and the causal text"
          + " transformer); the model is not loaded");
    }
    int embedDim = m.positiveInt("embed_dim", null);
    Boolean quickGelu = m.present("quick_gelu") ? m.bool("quick_gelu", false) : null;
    ModelConfig.Reader v = new ModelConfig.Reader(m.object("vision_cfg"), "model_cfg.vision_cfg", source);
    JsonNode vision = m.object("vision_cfg");
    List<String> notUsed = new ArrayList<>();
    for (Iterator<String> it = vision.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!VISION_KEYS.contains(k) && !vision.get(k).isNull()) {
        notUsed.add(k);
      }
    }
    if (v.present("patch_size")) {
      notUsed.add("patch_size");
    }
    if (!notUsed.isEmpty()) {
      throw v.invalid("keys " + notUsed + " are set, but open_clip's ModifiedResNet image tower (layers is a list)"
          + " does not use them; clip4j refuses a configuration that may mean another tower (set them to null or"
          + " remove them)");
    }
    JsonNode layersNode = vision.get("layers");
    List<Integer> layers = new ArrayList<>();
    if (layersNode.size() != 4) {
      throw v.invalid("layers must list the blocks of 4 stages, got " + layersNode);
    }
    for (JsonNode n : layersNode) {
      if (!n.canConvertToExactIntegral() || !n.canConvertToInt() || n.asInt() < 1 || n.asInt() > MAX_BLOCKS) {
        throw v.invalid("layers must be 4 integers in [1, " + MAX_BLOCKS + "], got " + layersNode);
      }
      layers.add(n.asInt());
    }
    int width = v.positiveInt("width", 64);
    if (width > MAX_WIDTH) {
      throw v.invalid("width " + width + " is larger than " + MAX_WIDTH);
    }
    int headWidth = v.positiveInt("head_width", 64);
    int imageSize = v.squareSize("image_size", 224);
    int poolWidth = width * 32;
    int heads = poolWidth / headWidth;
    if (heads < 1 || poolWidth % heads != 0) {
      throw v.invalid("the attention pool's width " + poolWidth + " (width * 32) and head_width " + headWidth + " give "
          + heads + " heads, which do not divide it (multi-head attention requires it)");
    }
    int got = featureSide(imageSize);
    if (imageSize > OpenAiCheckpoints.MAX_IMAGE || got < 1 || got != imageSize / 32) {
      throw v.invalid("image_size " + imageSize + " gives a " + got + "x" + got + " final feature map but the attention"
          + " pool's positional embedding is sized for image_size // 32 = " + imageSize / 32 + " (open_clip fails"
          + " on it too); use the size the model was trained with");
    }
    TextConfig text = ModelConfig.text(m.object("text_cfg"), source);
    if (preprocessCfg != null) {
      try {
        PreprocessConfig.fromOpenClip(preprocessCfg, imageSize);
      } catch (IllegalArgumentException e) {
        throw new InvalidModelException(source + ": preprocess_cfg: " + e.getMessage(), e);
      }
    }
    return new ResNetConfig(embedDim, quickGelu, imageSize, layers, width, headWidth, text, preprocessCfg, source);
  }

  /** The side of ModifiedResNet's final feature map for an input side (stem stride 2, then 4 halvings). */
  static int featureSide(int imageSize) {
    long s = (imageSize - 1) / 2 + 1; // conv 3x3, stride 2, padding 1
    for (int i = 0; i < 4; i++) { // the stem's avgpool(2), then layer2-4's avgpool(2)
      s /= 2;
    }
    return (int) s;
  }

  private static List<String> unknownKeys(JsonNode node, Set<String> known) {
    List<String> unknown = new ArrayList<>();
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!known.contains(k) && !node.get(k).isNull() && !(k.equals("custom_text") && !node.get(k).asBoolean(true))) {
        unknown.add(k);
      }
    }
    return unknown;
  }

  /** This configuration as open_clip's {@code model_cfg} JSON. */
  public ObjectNode toModelCfgJson() {
    ObjectNode m = JSON.createObjectNode();
    m.put("embed_dim", embedDim);
    if (quickGelu != null) {
      m.put("quick_gelu", quickGelu);
    }
    ObjectNode v = m.putObject("vision_cfg");
    v.put("image_size", imageSize);
    layers.forEach(v.putArray("layers")::add);
    v.put("width", width);
    v.put("head_width", headWidth);
    v.putNull("patch_size");
    ObjectNode t = m.putObject("text_cfg");
    t.put("context_length", text.contextLength());
    t.put("vocab_size", text.vocabSize());
    t.put("width", text.width());
    t.put("heads", text.heads());
    t.put("layers", text.layers());
    t.put("mlp_ratio", text.mlpRatio());
    return m;
  }
}
