package dev.clip4j.model.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.InvalidModelException;
import dev.clip4j.model.SiglipConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The {@code config.json} of a Hugging Face transformers {@code SiglipModel} directory ({@code
 * model_type "siglip"}: google/siglip-* and the fixed-resolution google/siglip2-* checkpoints) as
 * the {@link SiglipConfig} clip4j's SigLIP towers compute.
 *
 * <p>Read the way transformers reads it: absent keys take the defaults of {@code SiglipTextConfig}
 * / {@code SiglipVisionConfig} (the hub's SigLIP v1 configs state little more than the sizes), and
 * where a default decides the computation ({@code hidden_act}, {@code layer_norm_eps}) the
 * activation's provenance says so. Mapping: {@code hidden_size} = width, {@code
 * num_attention_heads} = heads (must divide the width), {@code intermediate_size} = MLP width,
 * {@code num_hidden_layers} = blocks, {@code image_size} / {@code patch_size}, {@code
 * max_position_embeddings} = context length, {@code vocab_size}, {@code layer_norm_eps} (every
 * LayerNorm of the tower, the MAP head's included), {@code hidden_act} ({@code gelu_pytorch_tanh}
 * = GELU tanh, {@code gelu} = GELU erf; anything else refused), text {@code projection_size}
 * (default {@code hidden_size}) = the embedding width, which must equal the image tower's width
 * (its pooled output has no projection).
 *
 * <p>Strict: a key transformers' SigLIP classes would use that clip4j does not know is refused by
 * name; {@code vision_use_head false} (no MAP head), {@code num_channels} other than 3 and
 * {@code architectures} other than {@code SiglipModel} are refused. Every failure is an {@link
 * InvalidModelException} naming the file and the key.
 *
 * @param config the SigLIP configuration (trunk named "transformers SiglipVisionTransformer")
 * @param padTokenId {@code text_config.pad_token_id} (transformers' default 1): what token-id rows
 *     are padded with when no {@code tokenizer.json} states the pad token
 * @param dtype {@code torch_dtype} / {@code dtype} as written (informational), or null
 * @param source the file read
 */
public record HfSiglipConfig(SiglipConfig config, int padTokenId, String dtype, String source) {
  /** {@code model_type} of a transformers SiglipModel config. */
  public static final String MODEL_TYPE = "siglip";
  /** The name clip4j gives the image tower in descriptions. */
  public static final String TRUNK_NAME = "transformers SiglipVisionTransformer";

  private static final Set<String> TOWER = Set.of(
      "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "hidden_act", "layer_norm_eps");
  private static final Set<String> TEXT_KEYS = HfJson.union(HfClipConfig.COMMON, TOWER,
      Set.of("vocab_size", "max_position_embeddings", "projection_size"));
  private static final Set<String> VISION_KEYS = HfJson.union(HfClipConfig.COMMON, TOWER,
      Set.of("num_channels", "image_size", "patch_size", "vision_use_head"));
  private static final Set<String> TOP_KEYS = HfJson.union(HfClipConfig.COMMON, Set.of("text_config", "vision_config"));

  public HfSiglipConfig {
    Objects.requireNonNull(config, "config");
    Objects.requireNonNull(source, "source");
  }

  /**
   * Reads a {@code config.json} (at most 4 MiB).
   *
   * @throws InvalidModelException naming the file and key of the first problem
   */
  public static HfSiglipConfig parse(Path configJson) {
    Objects.requireNonNull(configJson, "configJson");
    return parse(HfJson.readObject(configJson), configJson.toString());
  }

  /** Parses config.json bytes; {@code source} names them in messages. */
  public static HfSiglipConfig parse(byte[] json, String source) {
    Objects.requireNonNull(json, "json");
    return parse(HfJson.parseObject(json, source), source);
  }

  private static HfSiglipConfig parse(JsonNode root, String source) {
    HfJson.Obj top = new HfJson.Obj(root, "", source);
    String modelType = top.string("model_type", null);
    if (!MODEL_TYPE.equals(modelType)) {
      throw top.invalid("model_type", "is " + (modelType == null ? "absent" : "'" + HfJson.abbreviate(modelType) + "'")
          + ": not a transformers SiglipModel config (model_type \"siglip\"); clip4j reads SiglipModel directories,"
          + " not single towers (siglip_vision_model, siglip_text_model) or NaFlex SigLIP2 (siglip2)");
    }
    JsonNode arch = top.get("architectures");
    if (arch != null && !arch.isNull()) {
      if (!arch.isArray()) {
        throw top.invalid("architectures", "must be a list of class names, got " + HfJson.abbreviate(arch.toString()));
      }
      for (JsonNode n : arch) {
        if (!n.isTextual() || !n.textValue().equals("SiglipModel")) {
          throw top.invalid("architectures", "names " + HfJson.abbreviate(n.toString()) + ": clip4j reads SiglipModel"
              + " (both towers, logit_scale and logit_bias)");
        }
      }
    }
    check(top, TOP_KEYS);
    String dtype = top.present("torch_dtype") ? top.string("torch_dtype", null) : top.string("dtype", null);
    HfJson.Obj v = tower(top, "vision_config", VISION_KEYS, "siglip_vision_model");
    HfJson.Obj t = tower(top, "text_config", TEXT_KEYS, "siglip_text_model");

    int vw = v.positiveInt("hidden_size", 768, HfClipConfig.MAX_WIDTH);
    int vHeads = v.positiveInt("num_attention_heads", 12, HfClipConfig.MAX_WIDTH);
    int vLayers = v.positiveInt("num_hidden_layers", 12, HfClipConfig.MAX_LAYERS);
    int vInter = v.positiveInt("intermediate_size", 3072, HfClipConfig.MAX_WIDTH * 64);
    int channels = v.positiveInt("num_channels", 3, 1 << 16);
    int image = v.positiveInt("image_size", 224, HfClipConfig.MAX_IMAGE);
    int patch = v.positiveInt("patch_size", 16, HfClipConfig.MAX_IMAGE);
    if (channels != 3) {
      throw v.invalid("num_channels", "is " + channels + ": clip4j's image towers take RGB (3 channels)");
    }
    if (!v.bool("vision_use_head", true)) {
      throw v.invalid("vision_use_head", "is false: the image tower has no attention-pooling head, so its pooled"
          + " output is not SigLIP's image embedding (not implemented)");
    }
    if (vw % vHeads != 0) {
      throw v.invalid("num_attention_heads", "(" + vHeads + ") does not divide hidden_size (" + vw + ")");
    }
    if (patch > image) {
      throw v.invalid("patch_size", "(" + patch + ") is larger than image_size (" + image + ")");
    }
    double vEps = eps(v);
    Act vAct = activation(v, "SiglipVisionConfig");

    int tw = t.positiveInt("hidden_size", 768, HfClipConfig.MAX_WIDTH);
    int tHeads = t.positiveInt("num_attention_heads", 12, HfClipConfig.MAX_WIDTH);
    int tLayers = t.positiveInt("num_hidden_layers", 12, HfClipConfig.MAX_LAYERS);
    int tInter = t.positiveInt("intermediate_size", 3072, HfClipConfig.MAX_WIDTH * 64);
    int vocab = t.positiveInt("vocab_size", 32000, HfClipConfig.MAX_VOCAB);
    int context = t.positiveInt("max_position_embeddings", 64, HfClipConfig.MAX_POSITIONS);
    int projection = t.positiveInt("projection_size", tw, HfClipConfig.MAX_WIDTH);
    int pad = t.integer("pad_token_id", 1);
    t.integer("bos_token_id", 49406);
    t.integer("eos_token_id", 49407);
    if (tw % tHeads != 0) {
      throw t.invalid("num_attention_heads", "(" + tHeads + ") does not divide hidden_size (" + tw + ")");
    }
    if (pad < 0 || pad >= vocab) {
      throw t.invalid("pad_token_id", "is " + pad + ", outside the vocabulary [0, " + vocab + ")");
    }
    if (projection != vw) {
      throw t.invalid("projection_size", "is " + projection + (t.present("projection_size") ? "" : " (hidden_size,"
          + " transformers' default)") + " but the image tower's pooled output has vision_config.hidden_size " + vw
          + " dimensions: the two embeddings would not share a space (not implemented)");
    }
    double tEps = eps(t);
    Act tAct = activation(t, "SiglipTextConfig");

    SiglipConfig.Trunk trunk = new SiglipConfig.Trunk(TRUNK_NAME, patch, vw, vLayers, vHeads,
        HfClipConfig.mlpRatio(vw, vInter), image, vEps, vAct.gelu());
    SiglipConfig.Text text = new SiglipConfig.Text(context, vocab, tw, tHeads, tLayers,
        HfClipConfig.mlpRatio(tw, tInter), tEps, tAct.gelu(), "none", "");
    SiglipConfig config = new SiglipConfig(vw, trunk, text, null, source,
        "transformers SigLIP: " + vAct.source() + "; " + tAct.source());
    return new HfSiglipConfig(config, pad, dtype, source);
  }

  private record Act(SiglipConfig.Gelu gelu, String source) {}

  private static HfJson.Obj tower(HfJson.Obj top, String key, Set<String> known, String modelType) {
    JsonNode n = top.objectOrNull(key);
    HfJson.Obj o = new HfJson.Obj(n != null ? n : new ObjectMapper().createObjectNode(), key, top.source);
    check(o, known);
    String mt = o.string("model_type", modelType);
    if (!mt.equals(modelType)) {
      throw o.invalid("model_type", "is '" + HfJson.abbreviate(mt) + "', expected '" + modelType + "'");
    }
    return o;
  }

  private static void check(HfJson.Obj o, Set<String> known) {
    List<String> unknown = o.unknownKeys(known);
    if (!unknown.isEmpty()) {
      throw new InvalidModelException(o.source + ": keys clip4j does not know: " + unknown + "; they may change what"
          + " transformers computes, so the model is not loaded (not implemented)");
    }
    JsonNode pruned = o.get("pruned_heads");
    if (pruned != null && !pruned.isNull() && !(pruned.isObject() && pruned.size() == 0)) {
      throw o.invalid("pruned_heads", "is not empty: pruned attention heads are not implemented");
    }
    for (String k : new String[] {"dropout", "attention_dropout", "initializer_range", "initializer_factor"}) {
      o.number(k, 0);
    }
  }

  private static double eps(HfJson.Obj o) {
    double eps = o.number("layer_norm_eps", 1e-6);
    if (!(eps > 0 && eps < 1)) {
      throw o.invalid("layer_norm_eps", "must be in (0, 1), got " + eps);
    }
    return eps;
  }

  private static Act activation(HfJson.Obj o, String cls) {
    if (!o.present("hidden_act")) {
      return new Act(SiglipConfig.Gelu.TANH, o.source + ": " + o.at("hidden_act") + " is absent: transformers' " + cls
          + " default is gelu_pytorch_tanh (GELU, tanh approximation)");
    }
    String a = o.string("hidden_act", null);
    SiglipConfig.Gelu g;
    switch (a) {
      case "gelu_pytorch_tanh":
        g = SiglipConfig.Gelu.TANH;
        break;
      case "gelu":
        g = SiglipConfig.Gelu.ERF;
        break;
      default:
        throw o.invalid("hidden_act", "is \"" + HfJson.abbreviate(a) + "\": clip4j's SigLIP towers compute"
            + " \"gelu_pytorch_tanh\" (GELU, tanh approximation) or \"gelu\" (exact, erf) only; other activations"
            + (a.equals("gelu_new") ? " (gelu_new is the tanh form written out, which rounds differently)" : "")
            + " are not implemented");
    }
    return new Act(g, o.source + ": " + o.at("hidden_act") + " = \"" + a + "\"");
  }
}
