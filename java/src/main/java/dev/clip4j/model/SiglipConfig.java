package dev.clip4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.preprocess.PreprocessConfig;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;

/**
 * An open_clip SigLIP / SigLIP2 (fixed resolution) configuration: open_clip's {@code
 * CustomTextCLIP} with a timm ViT image trunk (no class token, final norm, MAP attention-pool
 * head, no projection) and open_clip's non-causal text transformer (pool_type {@code last},
 * LayerNorm eps from {@code norm_kwargs}, a projection with bias), plus {@code logit_scale} and
 * {@code logit_bias}.
 *
 * <p>The timm trunk's geometry is not in the configuration (open_clip passes only its name to
 * timm), so it comes from {@link #TIMM_TRUNKS}, a table of timm's SigLIP trunk definitions
 * ({@code vision_transformer.py}); a name not in the table is refused by name. NaFlex variants
 * (variable resolution) are refused by name. Parsing is strict: any key clip4j does not implement
 * is refused naming it. Immutable.
 *
 * @param embedDim {@code embed_dim}; equals the trunk width (no image projection)
 * @param vision the image trunk
 * @param text the text tower
 * @param preprocessCfg {@code preprocess_cfg} (a copy) or null
 * @param source where the configuration came from, for messages
 * @param activationSource where the towers' activations were stated (for {@code info()})
 */
public record SiglipConfig(int embedDim, Trunk vision, Text text, ObjectNode preprocessCfg, String source,
    String activationSource) {

  /**
   * A SigLIP ViT image tower: timm's ({@code VisionTransformer(class_token=False,
   * global_pool='map')}: LayerNorm eps 1e-6 everywhere, GELU (erf) MLPs, qkv with bias) or
   * transformers' {@code SiglipVisionTransformer} (the same computation, with {@code
   * layer_norm_eps} and {@code hidden_act} from its config; its MAP head's MLP uses the same
   * activation).
   *
   * @param normEps LayerNorm eps of the blocks, the final norm and the MAP head
   * @param activation the MLPs' GELU (blocks and MAP head)
   */
  public record Trunk(String name, int patchSize, int width, int depth, int heads, double mlpRatio, int imageSize,
      double normEps, Gelu activation) {
    public Trunk {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(activation, "activation");
      if (patchSize < 1 || width < 1 || depth < 1 || heads < 1 || width % heads != 0 || imageSize < patchSize
          || !(mlpRatio > 0) || !(normEps > 0 && normEps < 1)) {
        throw new IllegalArgumentException("invalid trunk geometry for " + name);
      }
    }

    /** A timm trunk: eps 1e-6, GELU (erf). */
    public Trunk(String name, int patchSize, int width, int depth, int heads, double mlpRatio, int imageSize) {
      this(name, patchSize, width, depth, heads, mlpRatio, imageSize, 1e-6, Gelu.ERF);
    }

    /** timm's {@code Mlp} hidden width: {@code int(width * mlp_ratio)}. */
    public int mlpWidth() {
      return (int) (width * mlpRatio);
    }

    /** Patches per image side. */
    public int grid() {
      return imageSize / patchSize;
    }

    /** Tokens (patches; no class token). */
    public int tokens() {
      return grid() * grid();
    }
  }

  /** nn.GELU's two forms: {@code approximate='none'} (erf) and {@code 'tanh'}. */
  public enum Gelu {
    ERF("gelu"),
    TANH("gelu_tanh");

    private final String id;

    Gelu(String id) {
      this.id = id;
    }

    public String id() {
      return id;
    }
  }

  /**
   * open_clip's {@code TextTransformer} as SigLIP configures it.
   *
   * @param activation ERF, or TANH when {@code act_kwargs.approximate} is "tanh"
   * @param clean {@code tokenizer_kwargs.clean} ("canonicalize", "whitespace", "lower")
   * @param hfTokenizerName {@code hf_tokenizer_name} (informational: nothing is downloaded)
   */
  public record Text(int contextLength, int vocabSize, int width, int heads, int layers, double mlpRatio,
      double normEps, Gelu activation, String clean, String hfTokenizerName) {
    /** open_clip's MLP hidden width: {@code int(width * mlp_ratio)}. */
    public int mlpWidth() {
      return (int) (width * mlpRatio);
    }
  }

  public SiglipConfig {
    Objects.requireNonNull(vision, "vision");
    Objects.requireNonNull(text, "text");
    Objects.requireNonNull(activationSource, "activationSource");
    preprocessCfg = preprocessCfg == null ? null : preprocessCfg.deepCopy();
  }

  /** An open_clip configuration: timm trunk (GELU erf), text activation from {@code text_cfg.act_kwargs}. */
  public SiglipConfig(int embedDim, Trunk vision, Text text, ObjectNode preprocessCfg, String source) {
    this(embedDim, vision, text, preprocessCfg, source, "SigLIP: GELU (erf) in the image trunk, text "
        + text.activation().id() + " from text_cfg.act_kwargs");
  }

  /**
   * timm 0.9.16's SigLIP trunks ({@code vit_*_siglip_*}), the ones open_clip's SigLIP and
   * fixed-resolution SigLIP2 configs name (SigLIP2 reuses the SigLIP trunks). gopt/giant trunks are
   * not listed (not in timm 0.9.16, so not checked against a reference).
   */
  public static final Map<String, Trunk> TIMM_TRUNKS = trunks();

  private static Map<String, Trunk> trunks() {
    Map<String, Trunk> m = new TreeMap<>();
    for (int s : new int[] {224, 256, 384, 512}) {
      put(m, "vit_base_patch16_siglip_" + s, 16, 768, 12, 12, 4.0, s);
    }
    put(m, "vit_base_patch32_siglip_256", 32, 768, 12, 12, 4.0, 256);
    for (int s : new int[] {256, 384, 512}) {
      put(m, "vit_large_patch16_siglip_" + s, 16, 1024, 24, 16, 4.0, s);
    }
    for (int s : new int[] {224, 378, 384}) {
      put(m, "vit_so400m_patch14_siglip_" + s, 14, 1152, 27, 16, 3.7362, s);
    }
    for (int s : new int[] {256, 384, 512}) {
      put(m, "vit_so400m_patch16_siglip_" + s, 16, 1152, 27, 16, 3.7362, s);
    }
    return java.util.Collections.unmodifiableMap(m);
  }

  private static void put(Map<String, Trunk> m, String name, int p, int w, int d, int h, double r, int s) {
    m.put(name, new Trunk(name, p, w, d, h, r, s));
  }

  private static final Set<String> MODEL_KEYS = Set.of(
      "embed_dim", "init_logit_bias", "custom_text", "vision_cfg", "text_cfg", "quick_gelu", "cast_dtype",
      "init_logit_scale", "nonscalar_logit_scale");
  private static final Set<String> VISION_KEYS = Set.of(
      "image_size", "timm_model_name", "timm_model_pretrained", "timm_pool", "timm_proj", "timm_proj_bias",
      "timm_drop", "timm_drop_path", "patch_dropout");
  private static final Set<String> TEXT_KEYS = Set.of(
      "context_length", "vocab_size", "hf_tokenizer_name", "tokenizer_kwargs", "width", "heads", "layers",
      "mlp_ratio", "no_causal_mask", "proj_bias", "pool_type", "norm_kwargs", "act_kwargs", "ls_init_value",
      "embed_cls", "output_tokens", "proj_type", "pad_id", "final_ln_after_pool", "norm_type", "attn_type",
      "block_type", "qk_norm", "scaled_cosine_attn", "scale_heads", "scale_attn_inner", "scale_attn", "scale_fc");

  /** Whether a {@code model_cfg} describes a SigLIP-style model (custom text tower with a logit bias). */
  static boolean isSiglip(JsonNode modelCfg) {
    return modelCfg != null && modelCfg.isObject() && modelCfg.path("custom_text").asBoolean(false)
        && modelCfg.has("init_logit_bias");
  }

  /**
   * Parses a SigLIP {@code model_cfg} with the built-in trunk table.
   *
   * @throws InvalidModelException naming the first key clip4j does not implement or that is invalid
   */
  public static SiglipConfig fromModelCfg(JsonNode modelCfg, ObjectNode preprocessCfg, String source) {
    return fromModelCfg(modelCfg, preprocessCfg, source, Map.of());
  }

  /** As {@link #fromModelCfg(JsonNode, ObjectNode, String)}, with extra trunks (tests' tiny ones). */
  static SiglipConfig fromModelCfg(JsonNode modelCfg, ObjectNode preprocessCfg, String source,
      Map<String, Trunk> extraTrunks) {
    ModelConfig.Reader m = new ModelConfig.Reader(modelCfg, "model_cfg", source);
    m.checkKeys(MODEL_KEYS);
    if (!m.bool("custom_text", false) || !m.present("init_logit_bias")) {
      throw m.invalid("a SigLIP configuration has custom_text true and an init_logit_bias");
    }
    if (m.bool("nonscalar_logit_scale", false)) {
      throw refused(source, "model_cfg.nonscalar_logit_scale", "a non-scalar logit_scale");
    }
    if (m.present("quick_gelu") && m.bool("quick_gelu", false)) {
      throw refused(source, "model_cfg.quick_gelu", "QuickGELU in a SigLIP model (its towers use GELU)");
    }
    int embedDim = m.positiveInt("embed_dim", null);
    Trunk trunk = trunk(m.object("vision_cfg"), source, extraTrunks);
    Text text = text(m.object("text_cfg"), source);
    if (embedDim != trunk.width()) {
      throw m.invalid("embed_dim " + embedDim + " differs from the " + trunk.name() + " trunk's width "
          + trunk.width() + " (timm_proj 'none': the image features are the trunk's pooled output)");
    }
    if (preprocessCfg != null) {
      try {
        PreprocessConfig.fromOpenClip(preprocessCfg, trunk.imageSize());
      } catch (IllegalArgumentException e) {
        throw new InvalidModelException(source + ": preprocess_cfg: " + e.getMessage(), e);
      }
    }
    return new SiglipConfig(embedDim, trunk, text, preprocessCfg, source);
  }

  private static InvalidModelException refused(String source, String key, String feature) {
    return new InvalidModelException(source + ": " + key + " asks for " + feature + ", which clip4j does not"
        + " implement for SigLIP models");
  }

  private static Trunk trunk(JsonNode node, String source, Map<String, Trunk> extra) {
    ModelConfig.Reader v = new ModelConfig.Reader(node, "model_cfg.vision_cfg", source);
    String name = v.string("timm_model_name", null);
    if (name == null || name.isEmpty()) {
      throw v.invalid("timm_model_name is required for a SigLIP image tower");
    }
    if (name.contains("naflex")) {
      throw refused(source, "model_cfg.vision_cfg.timm_model_name",
          "a NaFlex (variable resolution) SigLIP2 trunk ('" + name + "'); clip4j runs the fixed-resolution"
              + " SigLIP2 variants");
    }
    v.checkKeys(VISION_KEYS);
    if (v.bool("timm_model_pretrained", false)) {
      throw refused(source, "model_cfg.vision_cfg.timm_model_pretrained", "timm's pretrained download");
    }
    String pool = v.string("timm_pool", "avg");
    if (!pool.equals("map")) {
      throw refused(source, "model_cfg.vision_cfg.timm_pool", "timm pooling '" + pool + "' (SigLIP uses 'map')");
    }
    String proj = v.string("timm_proj", "linear");
    if (!proj.equals("none")) {
      throw refused(source, "model_cfg.vision_cfg.timm_proj", "an image projection '" + proj
          + "' after a MAP head (SigLIP uses 'none')");
    }
    Trunk t = TIMM_TRUNKS.get(name);
    if (t == null) {
      t = extra.get(name);
    }
    if (t == null) {
      throw refused(source, "model_cfg.vision_cfg.timm_model_name", "the timm trunk '" + name + "' (clip4j knows "
          + "the SigLIP trunks " + TIMM_TRUNKS.keySet() + ")");
    }
    int size = v.squareSize("image_size", t.imageSize());
    if (size != t.imageSize()) {
      throw v.invalid("image_size " + size + " differs from " + name + "'s " + t.imageSize()
          + " (clip4j does not resample positional embeddings)");
    }
    return t;
  }

  private static Text text(JsonNode node, String source) {
    ModelConfig.Reader t = new ModelConfig.Reader(node, "model_cfg.text_cfg", source);
    t.checkKeys(TEXT_KEYS);
    if (!t.bool("no_causal_mask", false)) {
      throw refused(source, "model_cfg.text_cfg.no_causal_mask", "a causal SigLIP text tower (SigLIP sets"
          + " no_causal_mask true)");
    }
    if (!t.bool("proj_bias", false)) {
      throw refused(source, "model_cfg.text_cfg.proj_bias", "a SigLIP text projection without bias");
    }
    String pool = t.string("pool_type", "argmax");
    if (!pool.equals("last")) {
      throw refused(source, "model_cfg.text_cfg.pool_type", "text pooling '" + pool + "' (SigLIP pools 'last')");
    }
    if (t.bool("embed_cls", false)) {
      throw refused(source, "model_cfg.text_cfg.embed_cls", "a text class token");
    }
    if (t.bool("output_tokens", false)) {
      throw refused(source, "model_cfg.text_cfg.output_tokens", "token outputs");
    }
    if (t.bool("final_ln_after_pool", false)) {
      throw refused(source, "model_cfg.text_cfg.final_ln_after_pool", "LayerNorm after pooling");
    }
    if (t.present("ls_init_value") && !t.node("ls_init_value").isNull()) {
      throw refused(source, "model_cfg.text_cfg.ls_init_value", "LayerScale in the text tower");
    }
    t.requireString("proj_type", "linear", "text projections other than 'linear'");
    t.requireString("norm_type", "layernorm", "norms other than LayerNorm");
    t.requireBlockDefaults();
    if (t.present("attn_type") && !t.string("attn_type", "").equals("vanilla")) {
      throw refused(source, "model_cfg.text_cfg.attn_type", "attention type '" + t.string("attn_type", "") + "'");
    }
    double eps = 1e-5; // open_clip's LayerNorm default when norm_kwargs is absent
    JsonNode nk = t.present("norm_kwargs") ? t.node("norm_kwargs") : null;
    if (nk != null && !nk.isNull()) {
      if (!nk.isObject()) {
        throw t.invalid("norm_kwargs must be an object");
      }
      for (java.util.Iterator<String> it = nk.fieldNames(); it.hasNext(); ) {
        String k = it.next();
        if (!k.equals("eps")) {
          throw refused(source, "model_cfg.text_cfg.norm_kwargs." + k, "LayerNorm argument '" + k + "'");
        }
      }
      JsonNode e = nk.get("eps");
      if (e != null) {
        if (!e.isNumber() || !(e.asDouble() > 0) || !(e.asDouble() < 1)) {
          throw t.invalid("norm_kwargs.eps must be a number in (0, 1), got " + e);
        }
        eps = e.asDouble();
      }
    }
    Gelu act = Gelu.ERF;
    JsonNode ak = t.present("act_kwargs") ? t.node("act_kwargs") : null;
    if (ak != null && !ak.isNull()) {
      if (!ak.isObject()) {
        throw t.invalid("act_kwargs must be an object");
      }
      for (java.util.Iterator<String> it = ak.fieldNames(); it.hasNext(); ) {
        String k = it.next();
        if (!k.equals("approximate")) {
          throw refused(source, "model_cfg.text_cfg.act_kwargs." + k, "GELU argument '" + k + "'");
        }
      }
      JsonNode a = ak.get("approximate");
      if (a != null) {
        if (!a.isTextual() || !(a.textValue().equals("tanh") || a.textValue().equals("none"))) {
          throw t.invalid("act_kwargs.approximate must be 'tanh' or 'none' (nn.GELU), got " + a);
        }
        act = a.textValue().equals("tanh") ? Gelu.TANH : Gelu.ERF;
      }
    }
    String clean = "whitespace"; // open_clip HFTokenizer's default
    JsonNode tk = t.present("tokenizer_kwargs") ? t.node("tokenizer_kwargs") : null;
    if (tk != null && !tk.isNull()) {
      if (!tk.isObject()) {
        throw t.invalid("tokenizer_kwargs must be an object");
      }
      for (java.util.Iterator<String> it = tk.fieldNames(); it.hasNext(); ) {
        String k = it.next();
        if (!k.equals("clean")) {
          throw refused(source, "model_cfg.text_cfg.tokenizer_kwargs." + k, "tokenizer argument '" + k + "'");
        }
      }
      JsonNode c = tk.get("clean");
      if (c != null) {
        if (!c.isTextual() || !Set.of("canonicalize", "whitespace", "lower").contains(c.textValue())) {
          throw refused(source, "model_cfg.text_cfg.tokenizer_kwargs.clean", "text cleaning " + c);
        }
        clean = c.textValue();
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
    return new Text(t.positiveInt("context_length", 77), t.positiveInt("vocab_size", 49408), width, heads,
        t.positiveInt("layers", 12), mlpRatio, eps, act, clean, t.string("hf_tokenizer_name", ""));
  }

  /** {@code preprocess_cfg} (a copy) or null. */
  @Override
  public ObjectNode preprocessCfg() {
    return preprocessCfg == null ? null : preprocessCfg.deepCopy();
  }

  /** One line for {@code info()}. */
  public String describe() {
    Trunk v = vision;
    boolean timm = v.normEps() == 1e-6 && v.activation() == Gelu.ERF && !v.name().startsWith("transformers ");
    String trunk = timm ? "timm " + v.name() + " ("
        : v.name() + " (" + v.activation().id() + ", eps " + v.normEps() + ", ";
    return String.format(java.util.Locale.ROOT,
        "SigLIP: %spatch %d, width %d, %d blocks, %d heads, MAP head, image %d) + non-causal text"
            + " transformer (width %d, %d blocks, %d heads, context %d, vocab %d, %s, eps %s, pool last),"
            + " embed %d, sigmoid scoring",
        trunk, v.patchSize(), v.width(), v.depth(), v.heads(), v.imageSize(), text.width(), text.layers(),
        text.heads(), text.contextLength(), text.vocabSize(), text.activation().id(), text.normEps(), embedDim);
  }

  /**
   * Every tensor of the open_clip state dict ({@code visual.trunk.*}, {@code text.*}, {@code
   * logit_scale}, {@code logit_bias}) with its shape, in open_clip's order.
   */
  public Map<String, long[]> schema() {
    Map<String, long[]> s = new java.util.LinkedHashMap<>();
    s.put("logit_scale", new long[0]);
    s.put("logit_bias", new long[0]);
    Trunk v = vision;
    long w = v.width();
    String p = "visual.trunk.";
    s.put(p + "pos_embed", new long[] {1, v.tokens(), w});
    s.put(p + "patch_embed.proj.weight", new long[] {w, 3, v.patchSize(), v.patchSize()});
    s.put(p + "patch_embed.proj.bias", new long[] {w});
    for (int i = 0; i < v.depth(); i++) {
      String b = p + "blocks." + i + ".";
      norm(s, b + "norm1", w);
      linear(s, b + "attn.qkv", 3 * w, w);
      linear(s, b + "attn.proj", w, w);
      norm(s, b + "norm2", w);
      linear(s, b + "mlp.fc1", v.mlpWidth(), w);
      linear(s, b + "mlp.fc2", w, v.mlpWidth());
    }
    norm(s, p + "norm", w);
    s.put(p + "attn_pool.latent", new long[] {1, 1, w});
    linear(s, p + "attn_pool.q", w, w);
    linear(s, p + "attn_pool.kv", 2 * w, w);
    linear(s, p + "attn_pool.proj", w, w);
    norm(s, p + "attn_pool.norm", w);
    linear(s, p + "attn_pool.mlp.fc1", v.mlpWidth(), w);
    linear(s, p + "attn_pool.mlp.fc2", w, v.mlpWidth());
    Text t = text;
    long tw = t.width();
    s.put("text.positional_embedding", new long[] {t.contextLength(), tw});
    s.put("text.token_embedding.weight", new long[] {t.vocabSize(), tw});
    for (int i = 0; i < t.layers(); i++) {
      String b = "text.transformer.resblocks." + i + ".";
      norm(s, b + "ln_1", tw);
      s.put(b + "attn.in_proj_weight", new long[] {3 * tw, tw});
      s.put(b + "attn.in_proj_bias", new long[] {3 * tw});
      linear(s, b + "attn.out_proj", tw, tw);
      norm(s, b + "ln_2", tw);
      linear(s, b + "mlp.c_fc", t.mlpWidth(), tw);
      linear(s, b + "mlp.c_proj", tw, t.mlpWidth());
    }
    norm(s, "text.ln_final", tw);
    linear(s, "text.text_projection", embedDim, tw);
    return s;
  }

  /** Tensors {@link #schema()} holds, counted without expanding names (to bound a config first). */
  long expectedTensors() {
    return 2 + 3 + 12L * vision.depth() + 2 + 11 + 2 + 12L * text.layers() + 2 + 2;
  }

  private static void norm(Map<String, long[]> s, String p, long w) {
    s.put(p + ".weight", new long[] {w});
    s.put(p + ".bias", new long[] {w});
  }

  private static void linear(Map<String, long[]> s, String p, long out, long in) {
    s.put(p + ".weight", new long[] {out, in});
    s.put(p + ".bias", new long[] {out});
  }
}
