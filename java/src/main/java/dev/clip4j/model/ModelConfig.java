package dev.clip4j.model;

import dev.clip4j.internal.UserFiles;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
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
 * An open_clip CLIP configuration as clip4j implements it: a ViT image tower and a causal text
 * tower, parsed from {@code open_clip_config.json} (the hub layout {@code {"model_cfg": ...,
 * "preprocess_cfg": ...}}) or from a bare open_clip model config ({@code {"embed_dim": ...}}).
 *
 * <p>Parsing is strict, with open_clip 2.20.0's defaults for absent keys. A feature clip4j does
 * not implement (timm or ResNet image towers, Hugging Face text towers, CoCa, attentional
 * pooling, a class token in the text tower, projection biases, ...) and any key open_clip's
 * {@code CLIP} would not understand is refused with an {@link InvalidModelException} naming it:
 * clip4j never computes something other than what the configuration says.
 *
 * @param embedDim width of the embeddings (columns of {@code visual.proj} and {@code
 *     text_projection})
 * @param quickGelu {@code model_cfg.quick_gelu}, or null when the key is absent (see {@link
 *     MlpActivation#resolve})
 * @param vision the image tower
 * @param text the text tower
 * @param castDtype {@code model_cfg.cast_dtype} if present (informational), else null
 * @param preprocessCfg {@code preprocess_cfg} as found (a copy), or null when absent; read by the
 *     preprocessing code
 * @param source where the configuration came from, for messages
 */
public record ModelConfig(
    int embedDim,
    Boolean quickGelu,
    VisionConfig vision,
    TextConfig text,
    String castDtype,
    ObjectNode preprocessCfg,
    String source) {

  private static final ObjectMapper JSON = new ObjectMapper();

  public ModelConfig {
    Objects.requireNonNull(vision, "vision");
    Objects.requireNonNull(text, "text");
    preprocessCfg = preprocessCfg == null ? null : preprocessCfg.deepCopy();
  }

  /** {@code preprocess_cfg} (a copy, so callers cannot change this config), or null. */
  @Override
  public ObjectNode preprocessCfg() {
    return preprocessCfg == null ? null : preprocessCfg.deepCopy();
  }

  /** Keys of {@code model_cfg}. */
  private static final Set<String> MODEL_KEYS = Set.of(
      "embed_dim", "quick_gelu", "vision_cfg", "text_cfg", "cast_dtype", "custom_text",
      "multimodal_cfg", "init_logit_scale", "init_logit_bias", "nonscalar_logit_scale");

  /** Keys of {@code vision_cfg} clip4j knows (open_clip 2.20 plus later ones it can check). */
  private static final Set<String> VISION_KEYS = Set.of(
      "layers", "width", "head_width", "mlp_ratio", "patch_size", "image_size", "ls_init_value",
      "patch_dropout", "input_patchnorm", "global_average_pool", "attentional_pool", "n_queries",
      "attn_pooler_queries", "attn_pooler_heads", "output_tokens", "timm_model_name",
      "timm_model_pretrained", "timm_pool", "timm_proj", "timm_proj_bias", "timm_drop",
      "timm_drop_path", "timm_model_kwargs", "no_ln_pre", "pos_embed_type", "final_ln_after_pool",
      "pool_type", "act_kwargs", "norm_kwargs", "image_seq_len", "block_type", "qk_norm",
      "scaled_cosine_attn", "scale_heads", "scale_attn_inner", "scale_attn", "scale_fc");

  /** Keys of {@code text_cfg} clip4j knows (open_clip 2.20 plus later ones it can check). */
  private static final Set<String> TEXT_KEYS = Set.of(
      "context_length", "vocab_size", "width", "heads", "layers", "mlp_ratio", "ls_init_value",
      "hf_model_name", "hf_tokenizer_name", "hf_model_pretrained", "proj", "pooler_type",
      "hf_proj_type", "hf_pooler_type", "hf_model_config", "embed_cls", "pad_id", "bos_id",
      "eos_id", "output_tokens", "text_arch", "tokenizer_type", "tokenizer_mode",
      "tokenizer_kwargs", "tiktoken_name", "variable_text", "no_causal_mask",
      "final_ln_after_pool", "pool_type", "proj_bias", "proj_type", "act_kwargs", "norm_kwargs",
      "norm_type", "block_type", "qk_norm", "scaled_cosine_attn", "scale_heads",
      "scale_attn_inner", "scale_attn", "scale_fc", "attention_bias", "mlp_bias");

  /**
   * Reads a configuration file: {@code open_clip_config.json} (hub layout) or a bare open_clip
   * model config.
   *
   * @throws InvalidModelException if the file cannot be read, is not JSON, or describes a model
   *     clip4j does not implement (the message names the feature)
   */
  public static ModelConfig parse(Path file) {
    Objects.requireNonNull(file, "file");
    UserFiles.requireRegularFile(file, InvalidModelException::new);
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new InvalidModelException(file + " cannot be read: " + e.getMessage(), e);
    }
    return parse(text, file.toString());
  }

  /**
   * Parses configuration JSON text; {@code source} names it in messages.
   *
   * @see #parse(Path)
   */
  public static ModelConfig parse(String json, String source) {
    Objects.requireNonNull(json, "json");
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new InvalidModelException(source + " is not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new InvalidModelException(source + ": expected a JSON object");
    }
    JsonNode modelCfg;
    ObjectNode preprocess = null;
    if (root.has("model_cfg")) {
      modelCfg = root.get("model_cfg");
      JsonNode p = root.get("preprocess_cfg");
      if (p != null && !p.isNull()) {
        if (!p.isObject()) {
          throw new InvalidModelException(source + ": preprocess_cfg must be an object");
        }
        preprocess = (ObjectNode) p;
      }
    } else if (root.has("embed_dim")) {
      modelCfg = root;
    } else {
      throw new InvalidModelException(
          source + ": neither an open_clip hub config (no \"model_cfg\") nor an open_clip model config"
              + " (no \"embed_dim\")");
    }
    return fromModelCfg(modelCfg, preprocess, source);
  }

  /** Builds a configuration from a {@code model_cfg} object (and an optional {@code preprocess_cfg}). */
  public static ModelConfig fromModelCfg(JsonNode modelCfg, ObjectNode preprocessCfg, String source) {
    Reader m = new Reader(modelCfg, "model_cfg", source);
    m.checkKeys(MODEL_KEYS);
    if (m.present("multimodal_cfg")) {
      throw m.unsupported("multimodal_cfg", "CoCa (a multimodal text decoder)");
    }
    if (m.bool("custom_text", false)) {
      throw m.unsupported("custom_text", "open_clip's CustomTextCLIP (a text tower under 'text.') as a ViT CLIP"
          + " (SigLIP configs, custom_text with init_logit_bias, load from open_clip hub directories)");
    }
    if (m.present("init_logit_bias")) {
      throw m.unsupported("init_logit_bias", "a logit bias (SigLIP-style sigmoid loss models) in a ViT CLIP"
          + " (SigLIP configs, custom_text with init_logit_bias, load from open_clip hub directories)");
    }
    if (m.bool("nonscalar_logit_scale", false)) {
      throw m.unsupported("nonscalar_logit_scale", "a non-scalar logit_scale");
    }
    int embedDim = m.positiveInt("embed_dim", null);
    Boolean quickGelu = m.present("quick_gelu") ? m.bool("quick_gelu", false) : null;
    String castDtype = m.present("cast_dtype") ? m.string("cast_dtype", null) : null;
    VisionConfig vision = vision(m.object("vision_cfg"), source);
    TextConfig text = text(m.object("text_cfg"), source);
    if (preprocessCfg != null) {
      // Checked here so a bad preprocess_cfg fails at load, typed (found by fuzzing: it used to
      // surface later as IllegalArgumentException from ModelMetadata.preprocessConfig()).
      try {
        PreprocessConfig.fromOpenClip(preprocessCfg, vision.imageSize());
      } catch (IllegalArgumentException e) {
        throw new InvalidModelException(source + ": preprocess_cfg: " + e.getMessage(), e);
      }
    }
    return new ModelConfig(embedDim, quickGelu, vision, text, castDtype, preprocessCfg, source);
  }

  private static VisionConfig vision(JsonNode node, String source) {
    Reader v = new Reader(node, "model_cfg.vision_cfg", source);
    // Tower types first: their other keys mean something else.
    String timm = v.string("timm_model_name", null);
    if (timm != null && !timm.isEmpty()) {
      throw v.unsupported("timm_model_name", "timm image towers ('" + timm + "')");
    }
    if (v.present("layers") && v.node("layers").isArray()) {
      throw new InvalidModelException(source + ": model_cfg.vision_cfg.layers is a list: a ResNet CLIP (ModifiedResNet"
          + " image tower); ModelConfig (ViT CLIPs) does not implement it, ResNetConfig does (ClipModel.load reads"
          + " both)");
    }
    v.checkKeys(VISION_KEYS);
    if (v.bool("input_patchnorm", false)) {
      throw v.unsupported("input_patchnorm", "dual patchnorm (input_patchnorm)");
    }
    if (v.bool("attentional_pool", false)) {
      throw v.unsupported("attentional_pool", "attentional pooling");
    }
    if (v.bool("output_tokens", false)) {
      throw v.unsupported("output_tokens", "token outputs (CoCa-style output_tokens)");
    }
    v.requireNullOrEmpty("act_kwargs", "activation arguments");
    v.requireNullOrEmpty("norm_kwargs", "LayerNorm arguments");
    v.requireNull("image_seq_len", "a fixed image sequence length");
    v.requireString("pos_embed_type", "learnable", "non-learnable positional embeddings");
    v.requireBlockDefaults();
    boolean gap = v.bool("global_average_pool", false);
    String pool = v.string("pool_type", "tok");
    if (!pool.equals("tok")) {
      throw v.unsupported("pool_type",
          "pool_type '" + pool + "' (open_clip >= 2.21 pooling; clip4j implements 'tok' and 2.20's"
              + " global_average_pool)");
    }
    if (gap && v.present("final_ln_after_pool")) {
      throw v.unsupported("final_ln_after_pool",
          "final_ln_after_pool together with global_average_pool (mixes open_clip versions)");
    }
    int width = v.positiveInt("width", 768);
    int headWidth = v.positiveInt("head_width", 64);
    int heads = width / headWidth;
    if (heads < 1 || width % heads != 0) {
      throw v.invalid("width " + width + " and head_width " + headWidth + " give " + heads
          + " heads, which do not divide the width (nn.MultiheadAttention requires it)");
    }
    int imageSize = v.squareSize("image_size", 224);
    int patchSize = v.squareSize("patch_size", 16);
    if (patchSize > imageSize) {
      throw v.invalid("patch_size " + patchSize + " is larger than image_size " + imageSize);
    }
    double mlpRatio = v.positiveNumber("mlp_ratio", 4.0);
    if ((int) (width * mlpRatio) < 1) {
      throw v.invalid("mlp_ratio " + mlpRatio + " gives an empty MLP");
    }
    return new VisionConfig(
        imageSize, patchSize, width, v.positiveInt("layers", 12), headWidth, mlpRatio,
        v.layerScale(), gap, !v.bool("no_ln_pre", false));
  }

  /** Parses {@code text_cfg} (also the text side of ResNet CLIPs, {@link ResNetConfig}). */
  static TextConfig text(JsonNode node, String source) {
    Reader t = new Reader(node, "model_cfg.text_cfg", source);
    String hf = t.string("hf_model_name", null);
    if (hf != null && !hf.isEmpty()) {
      throw t.unsupported("hf_model_name", "Hugging Face text towers ('" + hf + "')");
    }
    t.checkKeys(TEXT_KEYS);
    t.requireString("text_arch", "clip", "text_arch other than 'clip'");
    if (t.bool("embed_cls", false)) {
      throw t.unsupported("embed_cls", "a class token in the text tower (embed_cls)");
    }
    if (t.bool("output_tokens", false)) {
      throw t.unsupported("output_tokens", "token outputs (CoCa-style output_tokens)");
    }
    if (t.bool("no_causal_mask", false)) {
      throw t.unsupported("no_causal_mask", "a text tower without causal mask");
    }
    if (t.bool("variable_text", false)) {
      throw t.unsupported("variable_text", "variable-length text");
    }
    if (t.bool("proj_bias", false)) {
      throw t.unsupported("proj_bias", "a text projection with bias");
    }
    t.requireString("proj_type", "linear", "text projections other than 'linear'");
    t.requireString("pool_type", "argmax",
        "text pooling other than 'argmax' (the end-of-text token, as open_clip 2.20)");
    t.requireString("norm_type", "layernorm", "norms other than LayerNorm");
    t.requireNullOrEmpty("act_kwargs", "activation arguments");
    t.requireNullOrEmpty("norm_kwargs", "LayerNorm arguments");
    t.requireBlockDefaults();
    for (String k : new String[] {"attention_bias", "mlp_bias"}) {
      if (t.present(k) && !t.bool(k, true)) {
        throw t.unsupported(k, "blocks without " + k.replace('_', ' '));
      }
    }
    int width = t.positiveInt("width", 512);
    int heads = t.positiveInt("heads", 8);
    if (width % heads != 0) {
      throw t.invalid("width " + width + " is not divisible by heads " + heads);
    }
    double mlpRatio = t.positiveNumber("mlp_ratio", 4.0);
    if ((int) (width * mlpRatio) < 1) {
      throw t.invalid("mlp_ratio " + mlpRatio + " gives an empty MLP");
    }
    return new TextConfig(
        t.positiveInt("context_length", 77), t.positiveInt("vocab_size", 49408), width, heads,
        t.positiveInt("layers", 12), mlpRatio, t.layerScale());
  }

  /**
   * This configuration as open_clip's {@code model_cfg} JSON, which {@link #fromModelCfg} parses
   * back to an equal configuration ({@code quick_gelu} written when known; LayerScale written as
   * {@code ls_init_value: 1.0}, whose value only initialises gammas the weights replace).
   */
  public ObjectNode toModelCfgJson() {
    ObjectNode m = JSON.createObjectNode();
    m.put("embed_dim", embedDim);
    if (quickGelu != null) {
      m.put("quick_gelu", quickGelu);
    }
    if (castDtype != null) {
      m.put("cast_dtype", castDtype);
    }
    ObjectNode v = m.putObject("vision_cfg");
    v.put("image_size", vision.imageSize());
    v.put("patch_size", vision.patchSize());
    v.put("width", vision.width());
    v.put("layers", vision.layers());
    v.put("head_width", vision.headWidth());
    v.put("mlp_ratio", vision.mlpRatio());
    if (vision.layerScale()) {
      v.put("ls_init_value", 1.0);
    }
    if (vision.globalAveragePool()) {
      v.put("global_average_pool", true);
    }
    if (!vision.lnPre()) {
      v.put("no_ln_pre", true);
    }
    ObjectNode t = m.putObject("text_cfg");
    t.put("context_length", text.contextLength());
    t.put("vocab_size", text.vocabSize());
    t.put("width", text.width());
    t.put("heads", text.heads());
    t.put("layers", text.layers());
    t.put("mlp_ratio", text.mlpRatio());
    if (text.layerScale()) {
      t.put("ls_init_value", 1.0);
    }
    return m;
  }

  /** The same configuration with {@code quick_gelu} set (e.g. when writing what the activation is). */
  public ModelConfig withQuickGelu(boolean quick) {
    return new ModelConfig(embedDim, quick, vision, text, castDtype, preprocessCfg, source);
  }

  /** A one-line description, e.g. for {@code info()}. */
  public String describe() {
    return String.format(
        "ViT %dpx/%d, width %d, %d layers, %d heads%s | text width %d, %d layers, %d heads, context %d,"
            + " vocab %d | embed %d",
        vision.imageSize(), vision.patchSize(), vision.width(), vision.layers(), vision.heads(),
        vision.globalAveragePool() ? ", average pool" : "", text.width(), text.layers(),
        text.heads(), text.contextLength(), text.vocabSize(), embedDim);
  }

  /** Typed, checked access to one JSON object of the config, with messages naming the path. */
  static final class Reader {
    private final JsonNode node;
    private final String path;
    private final String source;

    Reader(JsonNode node, String path, String source) {
      if (node == null || !node.isObject()) {
        throw new InvalidModelException(source + ": " + path + " must be a JSON object");
      }
      this.node = node;
      this.path = path;
      this.source = source;
    }

    boolean present(String key) {
      JsonNode n = node.get(key);
      return n != null && !n.isNull();
    }

    JsonNode node(String key) {
      return node.get(key);
    }

    void checkKeys(Set<String> known) {
      List<String> unknown = new ArrayList<>();
      for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
        String k = it.next();
        if (!known.contains(k)) {
          unknown.add(k);
        }
      }
      if (!unknown.isEmpty()) {
        throw new InvalidModelException(source + ": " + path + " has keys clip4j does not know: "
            + unknown + "; they may change the computation, so the model is not loaded"
            + " (not implemented)");
      }
    }

    InvalidModelException unsupported(String key, String feature) {
      return new InvalidModelException(source + ": " + path + "." + key + " asks for " + feature
          + ", which clip4j does not implement (it supports open_clip ViT CLIP models with the causal"
          + " text transformer)");
    }

    InvalidModelException invalid(String message) {
      return new InvalidModelException(source + ": " + path + ": " + message);
    }

    boolean bool(String key, boolean dflt) {
      JsonNode n = node.get(key);
      if (n == null || n.isNull()) {
        return dflt;
      }
      if (!n.isBoolean()) {
        throw invalid(key + " must be true or false, got " + n);
      }
      return n.booleanValue();
    }

    String string(String key, String dflt) {
      JsonNode n = node.get(key);
      if (n == null || n.isNull()) {
        return dflt;
      }
      if (!n.isTextual()) {
        throw invalid(key + " must be a string, got " + n);
      }
      return n.textValue();
    }

    int positiveInt(String key, Integer dflt) {
      JsonNode n = node.get(key);
      if (n == null || n.isNull()) {
        if (dflt == null) {
          throw invalid(key + " is required");
        }
        return dflt;
      }
      if (!n.canConvertToExactIntegral() || !n.canConvertToInt() || n.asInt() < 1) {
        throw invalid(key + " must be a positive integer, got " + n);
      }
      return n.asInt();
    }

    double positiveNumber(String key, double dflt) {
      JsonNode n = node.get(key);
      if (n == null || n.isNull()) {
        return dflt;
      }
      if (!n.isNumber() || !(n.asDouble() > 0) || Double.isInfinite(n.asDouble())) {
        throw invalid(key + " must be a positive number, got " + n);
      }
      return n.asDouble();
    }

    /** An int, or a list of two equal ints (open_clip's to_2tuple); non-square is refused. */
    int squareSize(String key, int dflt) {
      JsonNode n = node.get(key);
      if (n == null || n.isNull()) {
        return dflt;
      }
      if (n.isArray()) {
        if (n.size() != 2 || !n.get(0).canConvertToExactIntegral() || !n.get(1).canConvertToExactIntegral()) {
          throw invalid(key + " must be an integer or [h, w], got " + n);
        }
        if (n.get(0).asInt() != n.get(1).asInt()) {
          throw unsupported(key, "non-square sizes (" + n + ")");
        }
        n = n.get(0);
      }
      if (!n.canConvertToExactIntegral() || !n.canConvertToInt() || n.asInt() < 1) {
        throw invalid(key + " must be a positive integer, got " + n);
      }
      return n.asInt();
    }

    ObjectNode object(String key) {
      JsonNode n = node.get(key);
      if (n == null || n.isNull()) {
        throw invalid(key + " is required");
      }
      if (!n.isObject()) {
        throw invalid(key + " must be a JSON object, got " + n.getNodeType());
      }
      return (ObjectNode) n;
    }

    /** ls_init_value: null (no LayerScale) or a number (LayerScale; gamma comes from the weights). */
    boolean layerScale() {
      JsonNode n = node.get("ls_init_value");
      if (n == null || n.isNull()) {
        return false;
      }
      if (!n.isNumber()) {
        throw invalid("ls_init_value must be a number or null, got " + n);
      }
      return true;
    }

    void requireNull(String key, String feature) {
      if (present(key)) {
        throw unsupported(key, feature);
      }
    }

    void requireNullOrEmpty(String key, String feature) {
      JsonNode n = node.get(key);
      if (n != null && !n.isNull() && !(n.isObject() && n.size() == 0)) {
        throw unsupported(key, feature + " (" + n + ")");
      }
    }

    void requireString(String key, String expected, String feature) {
      String s = string(key, expected);
      if (!s.equals(expected)) {
        throw unsupported(key, feature + " ('" + s + "')");
      }
    }

    /** Later open_clip's custom attention blocks: only the default block is implemented. */
    void requireBlockDefaults() {
      String block = string("block_type", "default");
      if (!block.equals("default")) {
        throw unsupported("block_type", "custom attention blocks ('" + block + "')");
      }
      for (String k : new String[] {
          "qk_norm", "scaled_cosine_attn", "scale_heads", "scale_attn_inner", "scale_attn", "scale_fc"}) {
        if (bool(k, false)) {
          throw unsupported(k, "custom attention blocks (" + k + ")");
        }
      }
    }
  }
}
