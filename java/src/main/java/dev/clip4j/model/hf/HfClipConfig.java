package dev.clip4j.model.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import dev.clip4j.model.MlpActivation;
import dev.clip4j.model.ModelConfig;
import dev.clip4j.model.TextConfig;
import dev.clip4j.model.VisionConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The {@code config.json} of a Hugging Face transformers CLIP directory, as the open_clip
 * architecture clip4j computes: a {@code CLIPModel} ({@code model_type "clip"}: both towers and
 * {@code projection_dim}), or a single tower with its projection, {@code
 * CLIPVisionModelWithProjection} ({@code "clip_vision_model"}) or {@code
 * CLIPTextModelWithProjection} ({@code "clip_text_model"}). A missing tower is null.
 *
 * <p>Read the way transformers 4.x reads it: absent keys take the defaults of {@code
 * CLIPTextConfig} / {@code CLIPVisionConfig} / {@code CLIPConfig} (among them {@code hidden_act
 * "quick_gelu"}, the format's own default, named as such in the activation's provenance), and a
 * legacy {@code text_config_dict} / {@code vision_config_dict} (openai/clip-vit-* layout)
 * overrides {@code text_config} / {@code vision_config} whole, with the class defaults for what
 * it leaves out. Mapping: {@code hidden_size} = width, {@code num_attention_heads} = heads (must
 * divide the width; open_clip's vision {@code head_width} = width / heads), {@code
 * intermediate_size} = MLP width ({@code mlp_ratio} is chosen so that {@code int(width *
 * mlp_ratio)} is exactly it), {@code max_position_embeddings} = context length, {@code
 * image_size}, {@code patch_size}, {@code vocab_size}, {@code projection_dim} = embedding width.
 *
 * <p>Strict, like {@link ModelConfig}: a key transformers' CLIP classes would use that clip4j
 * does not know is refused by name (known harmless keys, such as {@code architectures}, {@code
 * torch_dtype}, {@code transformers_version}, {@code initializer_*}, token ids, dropouts and
 * generation settings, are accepted: they do not change the embeddings); {@code hidden_act}
 * other than {@code quick_gelu} / {@code gelu} is refused naming it; {@code layer_norm_eps}
 * other than 1e-5 is refused (clip4j's towers use open_clip's eps, for now); {@code
 * num_channels} must be 3; a text {@code eos_token_id} must make transformers pool where
 * open_clip does (2, the legacy value that selects argmax pooling, or {@code vocab_size - 1},
 * the end-of-text id, whose first position is the argmax); a {@code CLIPModel} whose towers
 * have different activations is refused (transformers allows it, clip4j's towers take one).
 * Every failure is an {@link InvalidModelException} naming the file and the key.
 *
 * <pre>{@code
 * HfClipConfig hf = HfClipConfig.parse(dir.resolve("config.json"));
 * ModelConfig cfg = hf.toModelConfig();        // CLIPModel only
 * MlpActivation act = hf.activation();         // e.g. "config.json: vision_config.hidden_act = gelu, ..."
 * }</pre>
 *
 * @param kind which transformers class the directory holds
 * @param projectionDim the embedding width: {@code projection_dim} (top level for a CLIPModel,
 *     whose towers' own {@code projection_dim} transformers ignores; the tower's otherwise)
 * @param vision the image tower, or null for a text-only directory
 * @param text the text tower, or null for an image-only directory
 * @param dtype {@code torch_dtype} / {@code dtype} as written (informational), or null
 * @param source the file read, for messages and provenance
 */
public record HfClipConfig(Kind kind, int projectionDim, VisionTower vision, TextTower text, String dtype,
    String source) {

  /** The transformers class of a CLIP directory. */
  public enum Kind {
    /** {@code CLIPModel}: both towers, both projections and {@code logit_scale}. */
    CLIP_MODEL("clip", "CLIPModel"),
    /** {@code CLIPVisionModelWithProjection}: the image tower and {@code visual_projection}. */
    VISION_WITH_PROJECTION("clip_vision_model", "CLIPVisionModelWithProjection"),
    /** {@code CLIPTextModelWithProjection}: the text tower and {@code text_projection}. */
    TEXT_WITH_PROJECTION("clip_text_model", "CLIPTextModelWithProjection");

    private final String modelType;
    private final String architecture;

    Kind(String modelType, String architecture) {
      this.modelType = modelType;
      this.architecture = architecture;
    }

    /** The {@code model_type} of its config.json. */
    public String modelType() {
      return modelType;
    }

    /** The transformers class name ({@code architectures[0]}). */
    public String architecture() {
      return architecture;
    }
  }

  /**
   * The image tower.
   *
   * @param config the open_clip vision config (no LayerScale, class-token pooling, with ln_pre)
   * @param activation its MLP activation and where it was read
   */
  public record VisionTower(VisionConfig config, MlpActivation activation) {
    public VisionTower {
      Objects.requireNonNull(config, "config");
      Objects.requireNonNull(activation, "activation");
    }
  }

  /**
   * The text tower.
   *
   * @param config the open_clip text config
   * @param activation its MLP activation and where it was read
   * @param eosTokenId {@code eos_token_id}: 2 (legacy: transformers pools at the argmax id) or
   *     {@code vocab_size - 1} (pools at the first end-of-text token); both are open_clip's
   *     argmax pooling for a tokenizer whose end-of-text id is {@code vocab_size - 1}
   */
  public record TextTower(TextConfig config, MlpActivation activation, int eosTokenId) {
    public TextTower {
      Objects.requireNonNull(config, "config");
      Objects.requireNonNull(activation, "activation");
    }
  }

  public HfClipConfig {
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(source, "source");
    if ((kind != Kind.TEXT_WITH_PROJECTION) != (vision != null) || (kind != Kind.VISION_WITH_PROJECTION) != (text != null)) {
      throw new IllegalArgumentException(kind + " with vision " + (vision != null) + " and text " + (text != null));
    }
    if (projectionDim < 1) {
      throw new IllegalArgumentException("projectionDim must be positive: " + projectionDim);
    }
  }

  // ------------------------------------------------------------------------------------ limits

  static final int MAX_WIDTH = 1 << 16;
  static final int MAX_LAYERS = 1024;
  static final int MAX_VOCAB = 1 << 24;
  static final int MAX_POSITIONS = 1 << 20;
  static final int MAX_IMAGE = 16384;
  static final double LAYER_NORM_EPS = 1e-5;

  // ------------------------------------------------------------------------------------ keys

  /** PretrainedConfig's keys and other settings that cannot change a CLIP's embeddings. */
  static final Set<String> COMMON = Set.of(
      "return_dict", "output_hidden_states", "output_attentions", "torchscript", "torch_dtype", "dtype",
      "use_bfloat16", "tf_legacy_loss", "pruned_heads", "tie_word_embeddings", "chunk_size_feed_forward",
      "is_encoder_decoder", "is_decoder", "cross_attention_hidden_size", "add_cross_attention",
      "tie_encoder_decoder", "architectures", "finetuning_task", "id2label", "label2id", "num_labels",
      "task_specific_params", "problem_type", "tokenizer_class", "prefix", "bos_token_id", "pad_token_id",
      "eos_token_id", "sep_token_id", "decoder_start_token_id", "max_length", "min_length", "do_sample",
      "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p",
      "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size",
      "bad_words_ids", "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
      "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
      "begin_suppress_tokens", "_name_or_path", "transformers_version", "model_type", "initializer_factor",
      "initializer_range", "_attn_implementation", "_attn_implementation_autoset", "_commit_hash",
      "gradient_checkpointing", "use_cache", "dropout", "attention_dropout");

  private static final Set<String> TOWER = Set.of(
      "hidden_size", "intermediate_size", "projection_dim", "num_hidden_layers", "num_attention_heads", "hidden_act",
      "layer_norm_eps");
  private static final Set<String> TEXT_KEYS =
      HfJson.union(COMMON, TOWER, Set.of("vocab_size", "max_position_embeddings"));
  private static final Set<String> VISION_KEYS =
      HfJson.union(COMMON, TOWER, Set.of("num_channels", "image_size", "patch_size"));
  private static final Set<String> CLIP_KEYS = HfJson.union(COMMON, Set.of(
      "text_config", "vision_config", "text_config_dict", "vision_config_dict", "projection_dim",
      "logit_scale_init_value"));

  // ------------------------------------------------------------------------------------ parsing

  /**
   * Reads a {@code config.json} (at most 4 MiB).
   *
   * @throws InvalidModelException naming the file and key of the first problem
   */
  public static HfClipConfig parse(Path configJson) {
    Objects.requireNonNull(configJson, "configJson");
    return parse(HfJson.readObject(configJson), configJson.toString());
  }

  /** Parses config.json bytes; {@code source} names them in messages. */
  public static HfClipConfig parse(byte[] json, String source) {
    Objects.requireNonNull(json, "json");
    return parse(HfJson.parseObject(json, source), source);
  }

  private static HfClipConfig parse(JsonNode root, String source) {
    HfJson.Obj top = new HfJson.Obj(root, "", source);
    String modelType = top.string("model_type", null);
    Kind kind = kindOf(top, modelType, source);
    checkArchitectures(top, kind);
    String dtype = top.present("torch_dtype") ? top.string("torch_dtype", null) : top.string("dtype", null);
    switch (kind) {
      case VISION_WITH_PROJECTION: {
        VisionTower v = vision(top, null);
        return new HfClipConfig(kind, top.positiveInt("projection_dim", 512, MAX_WIDTH), v, null, dtype, source);
      }
      case TEXT_WITH_PROJECTION: {
        TextTower t = text(top, null);
        return new HfClipConfig(kind, top.positiveInt("projection_dim", 512, MAX_WIDTH), null, t, dtype, source);
      }
      default: {
        checkCommon(top, CLIP_KEYS);
        top.number("logit_scale_init_value", 2.6592); // the weights carry logit_scale; only checked
        int projection = top.positiveInt("projection_dim", 512, MAX_WIDTH);
        VisionTower v = vision(tower(top, "vision_config"), dictOrNull(top, "vision_config_dict"));
        TextTower t = text(tower(top, "text_config"), dictOrNull(top, "text_config_dict"));
        if (v.activation().activation() != t.activation().activation()) {
          throw new InvalidModelException(source + ": the towers have different MLP activations (" + v.activation().source()
              + "; " + t.activation().source() + "). transformers allows one per tower; clip4j's CLIP towers take one"
              + " activation for both, so this model is not loaded (not implemented)");
        }
        return new HfClipConfig(kind, projection, v, t, dtype, source);
      }
    }
  }

  private static Kind kindOf(HfJson.Obj top, String modelType, String source) {
    if (modelType == null) {
      throw new InvalidModelException(source + ": no \"model_type\": cannot tell which transformers CLIP class this is"
          + " (expected \"clip\", \"clip_vision_model\" or \"clip_text_model\")");
    }
    for (Kind k : Kind.values()) {
      if (k.modelType.equals(modelType)) {
        return k;
      }
    }
    throw top.invalid("model_type", "is '" + HfJson.abbreviate(modelType) + "': not a transformers CLIP model clip4j reads"
        + " (it reads \"clip\" = CLIPModel, \"clip_vision_model\" = CLIPVisionModelWithProjection and"
        + " \"clip_text_model\" = CLIPTextModelWithProjection)");
  }

  private static void checkArchitectures(HfJson.Obj top, Kind kind) {
    JsonNode a = top.get("architectures");
    if (a == null || a.isNull()) {
      return;
    }
    if (!a.isArray()) {
      throw top.invalid("architectures", "must be a list of class names, got " + HfJson.abbreviate(a.toString()));
    }
    for (JsonNode n : a) {
      if (!n.isTextual()) {
        throw top.invalid("architectures", "must be a list of class names, got " + HfJson.abbreviate(a.toString()));
      }
      String arch = n.textValue();
      if (arch.equals(kind.architecture)) {
        continue;
      }
      String why;
      switch (arch) {
        case "CLIPVisionModel":
          why = "has no visual_projection: its outputs are not in CLIP's joint embedding space (clip4j reads"
              + " CLIPVisionModelWithProjection)";
          break;
        case "CLIPTextModel":
          why = "has no text_projection: its outputs are not in CLIP's joint embedding space (clip4j reads"
              + " CLIPTextModelWithProjection)";
          break;
        default:
          why = "is not the class clip4j reads for model_type '" + kind.modelType + "' (" + kind.architecture + ")";
      }
      throw top.invalid("architectures", "names " + HfJson.abbreviate(arch) + ", which " + why);
    }
  }

  /** A tower object of a CLIPModel config; absent = all of transformers' defaults. */
  private static HfJson.Obj tower(HfJson.Obj top, String key) {
    JsonNode n = top.objectOrNull(key);
    return new HfJson.Obj(n != null ? n : new ObjectMapper().createObjectNode(), key, top.source);
  }

  private static HfJson.Obj dictOrNull(HfJson.Obj top, String key) {
    JsonNode n = top.objectOrNull(key);
    return n == null ? null : new HfJson.Obj(n, key, top.source);
  }

  /** Refuses unknown keys (all listed) and what the common keys may not say. */
  private static void checkCommon(HfJson.Obj o, Set<String> known) {
    List<String> unknown = o.unknownKeys(known);
    if (!unknown.isEmpty()) {
      throw new InvalidModelException(o.source + ": keys clip4j does not know: " + unknown + "; they may change what"
          + " transformers computes, so the model is not loaded (not implemented)");
    }
    JsonNode pruned = o.get("pruned_heads");
    if (pruned != null && !pruned.isNull() && !(pruned.isObject() && pruned.size() == 0)) {
      throw o.invalid("pruned_heads", "is not empty: pruned attention heads are not implemented (transformers' CLIP"
          + " cannot prune heads either)");
    }
    for (String k : new String[] {"dropout", "attention_dropout", "initializer_range", "initializer_factor"}) {
      o.number(k, 0); // numbers without effect at inference, but still numbers
    }
  }

  /**
   * The image tower from {@code c} (the root of a single-tower config, or {@code vision_config}),
   * or from {@code dict} ({@code vision_config_dict}) when present, which transformers lets
   * override {@code vision_config} whole.
   */
  private static VisionTower vision(HfJson.Obj c, HfJson.Obj dict) {
    checkCommon(c, VISION_KEYS);
    towerModelType(c, "clip_vision_model");
    HfJson.Obj v = c;
    if (dict != null) {
      v = dict;
      checkCommon(v, VISION_KEYS);
      towerModelType(v, "clip_vision_model");
    }
    int width = v.positiveInt("hidden_size", 768, MAX_WIDTH);
    int heads = v.positiveInt("num_attention_heads", 12, MAX_WIDTH);
    int layers = v.positiveInt("num_hidden_layers", 12, MAX_LAYERS);
    int inter = v.positiveInt("intermediate_size", 3072, MAX_WIDTH * 64);
    int channels = v.positiveInt("num_channels", 3, 1 << 16);
    int image = v.positiveInt("image_size", 224, MAX_IMAGE);
    int patch = v.positiveInt("patch_size", 32, MAX_IMAGE);
    v.positiveInt("projection_dim", 512, MAX_WIDTH);
    if (channels != 3) {
      throw v.invalid("num_channels", "is " + channels + ": clip4j's image towers take RGB (3 channels)");
    }
    if (width % heads != 0) {
      throw v.invalid("num_attention_heads", "(" + heads + ") does not divide hidden_size (" + width + ")");
    }
    if (patch > image) {
      throw v.invalid("patch_size", "(" + patch + ") is larger than image_size (" + image + ")");
    }
    layerNormEps(v);
    MlpActivation act = activation(v, c, dict != null, "CLIPVisionConfig");
    VisionConfig config = new VisionConfig(image, patch, width, layers, width / heads, mlpRatio(width, inter), false,
        false, true);
    return new VisionTower(config, act);
  }

  /** The text tower; see {@link #vision}. */
  private static TextTower text(HfJson.Obj c, HfJson.Obj dict) {
    checkCommon(c, TEXT_KEYS);
    towerModelType(c, "clip_text_model");
    HfJson.Obj t = c;
    if (dict != null) {
      t = dict;
      checkCommon(t, TEXT_KEYS);
      towerModelType(t, "clip_text_model");
    }
    int width = t.positiveInt("hidden_size", 512, MAX_WIDTH);
    int heads = t.positiveInt("num_attention_heads", 8, MAX_WIDTH);
    int layers = t.positiveInt("num_hidden_layers", 12, MAX_LAYERS);
    int inter = t.positiveInt("intermediate_size", 2048, MAX_WIDTH * 64);
    int vocab = t.positiveInt("vocab_size", 49408, MAX_VOCAB);
    int context = t.positiveInt("max_position_embeddings", 77, MAX_POSITIONS);
    t.positiveInt("projection_dim", 512, MAX_WIDTH);
    int eos = t.integer("eos_token_id", 49407);
    t.integer("bos_token_id", 49406);
    t.integer("pad_token_id", 1);
    if (width % heads != 0) {
      throw t.invalid("num_attention_heads", "(" + heads + ") does not divide hidden_size (" + width + ")");
    }
    if (eos != 2 && eos != vocab - 1) {
      throw t.invalid("eos_token_id", "is " + eos + (t.present("eos_token_id") ? "" : " (transformers' default)")
          + ": transformers then pools the text at the first token " + eos + ", clip4j (as open_clip) at the largest"
          + " token id; they agree only for eos_token_id = vocab_size - 1 (" + (vocab - 1) + ", the end-of-text token)"
          + " or the legacy 2 (argmax)");
    }
    layerNormEps(t);
    MlpActivation act = activation(t, c, dict != null, "CLIPTextConfig");
    TextConfig config = new TextConfig(context, vocab, width, heads, layers, mlpRatio(width, inter), false);
    return new TextTower(config, act, eos);
  }

  private static void towerModelType(HfJson.Obj o, String expected) {
    String mt = o.string("model_type", expected);
    if (!mt.equals(expected)) {
      throw o.invalid("model_type", "is '" + HfJson.abbreviate(mt) + "', expected '" + expected + "'");
    }
  }

  private static void layerNormEps(HfJson.Obj effective) {
    double eps = effective.number("layer_norm_eps", LAYER_NORM_EPS);
    if (eps != LAYER_NORM_EPS) {
      throw effective.invalid("layer_norm_eps", "is " + eps + ": clip4j's towers use LayerNorm eps 1e-5 (open_clip's);"
          + " other values are not implemented yet");
    }
  }

  /** hidden_act of the effective tower object; absent = transformers' class default, quick_gelu. */
  private static MlpActivation activation(HfJson.Obj effective, HfJson.Obj overridden, boolean fromDict, String cls) {
    String file = effective.source;
    if (!effective.present("hidden_act")) {
      String note = "";
      if (fromDict && overridden.present("hidden_act")) {
        note = ", which overrides " + overridden.at("hidden_act") + " = \"" + overridden.string("hidden_act", "")
            + "\" as transformers does";
      }
      return new MlpActivation(Activation.QUICK_GELU, file + ": " + effective.at("hidden_act")
          + " is absent: transformers' " + cls + " default is quick_gelu" + note);
    }
    String a = effective.string("hidden_act", null);
    Activation act;
    switch (a) {
      case "quick_gelu":
        act = Activation.QUICK_GELU;
        break;
      case "gelu":
        act = Activation.GELU;
        break;
      default:
        throw effective.invalid("hidden_act", "is \"" + HfJson.abbreviate(a) + "\": clip4j's towers compute \"gelu\""
            + " (exact, erf) or \"quick_gelu\" (x * sigmoid(1.702 x)) only; other activations are not implemented");
    }
    return new MlpActivation(act, file + ": " + effective.at("hidden_act") + " = \"" + a + "\"");
  }

  /**
   * The {@code mlp_ratio} for which {@code (int) (width * ratio)}, as open_clip and clip4j size
   * the MLP, is exactly {@code intermediate}.
   */
  static double mlpRatio(int width, int intermediate) {
    double r = (double) intermediate / width;
    for (int i = 0; i < 64 && (int) (width * r) < intermediate; i++) {
      r = Math.nextUp(r);
    }
    if ((int) (width * r) != intermediate) {
      throw new IllegalStateException("no mlp_ratio gives " + intermediate + " for width " + width);
    }
    return r;
  }

  // ------------------------------------------------------------------------------------ views

  /** Whether the image tower is present. */
  public boolean hasVision() {
    return vision != null;
  }

  /** Whether the text tower is present. */
  public boolean hasText() {
    return text != null;
  }

  /**
   * The MLP activation of the model: the towers' (which agree for a CLIPModel), with the keys
   * read as provenance.
   */
  public MlpActivation activation() {
    if (vision != null && text != null) {
      return new MlpActivation(vision.activation().activation(),
          vision.activation().source() + "; " + text.activation().source());
    }
    return vision != null ? vision.activation() : text.activation();
  }

  /**
   * The open_clip configuration of a {@code CLIPModel}: both towers, {@code embed_dim =
   * projection_dim}, {@code quick_gelu} from the activation, no {@code preprocess_cfg} (the
   * preprocessing of a Hugging Face directory is {@link HfPreprocessorConfig}).
   *
   * @throws Clip4jException with {@link ErrorCode#UNSUPPORTED} for a single-tower directory
   *     (use {@link #vision()} or {@link #text()})
   */
  public ModelConfig toModelConfig() {
    if (vision == null || text == null) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, source + ": a " + kind.architecture + " directory holds only the "
          + (vision != null ? "image" : "text") + " tower; it has no full open_clip configuration");
    }
    return new ModelConfig(projectionDim, activation().activation() == Activation.QUICK_GELU, vision.config(),
        text.config(), null, null, source);
  }

  // ------------------------------------------------------------------------------------ writing

  /**
   * The {@code config.json} of a transformers {@code CLIPModel} computing what {@code config}
   * with {@code activation} computes.
   *
   * @param torchDtype the weights' dtype as transformers names it ("float32", "float16",
   *     "bfloat16"), or null to leave it out
   * @param bosTokenId the tokenizer's start-of-text id
   * @param eosTokenId the tokenizer's end-of-text id; when it is not {@code vocab_size - 1} the
   *     legacy 2 is written, which makes transformers pool at the argmax as open_clip does
   * @throws Clip4jException with {@link ErrorCode#UNSUPPORTED} for what transformers' CLIP cannot
   *     express: LayerScale, average pooling, no {@code ln_pre}
   */
  public static ObjectNode toJson(ModelConfig config, MlpActivation activation, String torchDtype, int bosTokenId,
      int eosTokenId) {
    Objects.requireNonNull(config, "config");
    Objects.requireNonNull(activation, "activation");
    VisionConfig v = config.vision();
    TextConfig t = config.text();
    List<String> cannot = new ArrayList<>();
    if (v.layerScale() || t.layerScale()) {
      cannot.add("LayerScale (ls_init_value)");
    }
    if (v.globalAveragePool()) {
      cannot.add("global average pooling");
    }
    if (!v.lnPre()) {
      cannot.add("an image tower without ln_pre");
    }
    if (!cannot.isEmpty()) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, config.source() + ": transformers' CLIPModel has no "
          + String.join(", ", cannot) + "; this model cannot be written as a Hugging Face CLIP directory");
    }
    String act = activation.activation() == Activation.QUICK_GELU ? "quick_gelu" : "gelu";
    ObjectMapper m = new ObjectMapper();
    ObjectNode root = m.createObjectNode();
    root.putArray("architectures").add(Kind.CLIP_MODEL.architecture);
    root.put("model_type", Kind.CLIP_MODEL.modelType);
    root.put("projection_dim", config.embedDim());
    root.put("logit_scale_init_value", 2.6592);
    root.put("initializer_factor", 1.0);
    if (torchDtype != null) {
      root.put("torch_dtype", torchDtype);
    }
    ObjectNode text = root.putObject("text_config");
    text.put("model_type", Kind.TEXT_WITH_PROJECTION.modelType);
    text.put("hidden_size", t.width());
    text.put("intermediate_size", t.mlpWidth());
    text.put("num_attention_heads", t.heads());
    text.put("num_hidden_layers", t.layers());
    text.put("max_position_embeddings", t.contextLength());
    text.put("vocab_size", t.vocabSize());
    text.put("hidden_act", act);
    text.put("layer_norm_eps", LAYER_NORM_EPS);
    text.put("bos_token_id", bosTokenId);
    text.put("eos_token_id", eosTokenId == t.vocabSize() - 1 ? eosTokenId : 2);
    text.put("pad_token_id", 1);
    text.put("projection_dim", config.embedDim());
    ObjectNode vision = root.putObject("vision_config");
    vision.put("model_type", Kind.VISION_WITH_PROJECTION.modelType);
    vision.put("hidden_size", v.width());
    vision.put("intermediate_size", v.mlpWidth());
    vision.put("num_attention_heads", v.heads());
    vision.put("num_hidden_layers", v.layers());
    vision.put("image_size", v.imageSize());
    vision.put("patch_size", v.patchSize());
    vision.put("num_channels", 3);
    vision.put("hidden_act", act);
    vision.put("layer_norm_eps", LAYER_NORM_EPS);
    vision.put("projection_dim", config.embedDim());
    return root;
  }

  /** transformers' name of a checkpoint dtype ("float32", ...), or null for non-float dtypes. */
  static String torchDtypeName(dev.clip4j.model.io.DType d) {
    switch (d) {
      case F32: return "float32";
      case F16: return "float16";
      case BF16: return "bfloat16";
      case F64: return "float64";
      default: return null;
    }
  }

  @Override
  public String toString() {
    return kind.architecture + "[" + (vision == null ? "" : "vision " + vision.config() + " " + vision.activation().id())
        + (vision != null && text != null ? ", " : "") + (text == null ? "" : "text " + text.config() + " "
        + text.activation().id()) + ", projection " + projectionDim + "] from " + source;
  }
}
