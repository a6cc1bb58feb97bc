package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * The activation of the transformer MLPs of a CLIP ({@link Activation#QUICK_GELU} for OpenAI's
 * weights, {@link Activation#GELU} for most others) and where that knowledge came from. The two
 * differ enough to change embeddings, and open_clip silently defaults to GELU when nothing says
 * otherwise, so clip4j requires the activation to be stated and refuses contradictions.
 *
 * <p>Sources, all of which must agree when present: {@code model_cfg.quick_gelu} in the
 * configuration, an open_clip model name ending in {@code -quickgelu}, and a caller-stated value
 * (a load option, or the value a clip4j bundle stored: {@link #id()} and {@link #source()} are
 * what a bundle manifest records).
 *
 * @param activation GELU or QUICK_GELU
 * @param source a human-readable origin, e.g. {@code "open_clip_config.json: model_cfg.quick_gelu
 *     = false"}
 */
public record MlpActivation(Activation activation, String source) {

  /** Suffix of open_clip model names whose config sets {@code quick_gelu: true}. */
  public static final String QUICKGELU_SUFFIX = "-quickgelu";

  public MlpActivation {
    Objects.requireNonNull(activation, "activation");
    Objects.requireNonNull(source, "source");
    if (activation != Activation.GELU && activation != Activation.QUICK_GELU) {
      throw new IllegalArgumentException("a CLIP MLP activation is gelu or quick_gelu, not " + activation.id());
    }
  }

  /** The stable name stored in bundles: "gelu" or "quick_gelu". */
  public String id() {
    return activation.id();
  }

  /**
   * Checks an activation a format states in its own terms (e.g. a Hugging Face config's {@code
   * hidden_act}, the module types of a TorchScript archive) against what the caller says: a model
   * name ending in {@code -quickgelu} and a stated activation must agree with it.
   *
   * @param found what the model's files state
   * @param source the path named in messages
   * @throws InvalidModelException listing the contradiction
   */
  public static MlpActivation agree(MlpActivation found, String modelName, Activation stated, String statedSource,
      String source) {
    Objects.requireNonNull(found, "found");
    List<MlpActivation> said = new ArrayList<>(List.of(found));
    if (modelName != null && modelName.toLowerCase(Locale.ROOT).endsWith(QUICKGELU_SUFFIX)) {
      said.add(new MlpActivation(Activation.QUICK_GELU, "model name '" + modelName + "'"));
    }
    if (stated != null) {
      said.add(new MlpActivation(stated, statedSource == null ? "stated by the caller" : statedSource));
    }
    for (MlpActivation other : said) {
      if (other.activation != found.activation) {
        StringBuilder sb = new StringBuilder(source).append(": the MLP activation is contradictory:");
        for (MlpActivation s : said) {
          sb.append(' ').append(s.source).append(" says ").append(s.id()).append(';');
        }
        sb.setLength(sb.length() - 1);
        throw new InvalidModelException(sb.append(". Fix the one that is wrong.").toString());
      }
    }
    return found;
  }

  /**
   * Resolves the activation from everything that may state it.
   *
   * @param config the parsed configuration ({@link ModelConfig#quickGelu()} may be null)
   * @param modelName the open_clip model name, or null when unknown
   * @param stated a value stated by the caller or read from a bundle, or null
   * @param statedSource where {@code stated} came from (e.g. "LoadOptions.activation", "bundle
   *     manifest"); ignored when {@code stated} is null
   * @throws InvalidModelException when nothing states the activation, or the sources disagree
   * @throws IllegalArgumentException when {@code stated} is not GELU or QUICK_GELU
   */
  public static MlpActivation resolve(
      ModelConfig config, String modelName, Activation stated, String statedSource) {
    Objects.requireNonNull(config, "config");
    return resolve(config.quickGelu(), config.source(), modelName, stated, statedSource);
  }

  /**
   * {@link #resolve(ModelConfig, String, Activation, String)} for any configuration family (a
   * ResNet CLIP's text tower too): {@code quickGelu} is {@code model_cfg.quick_gelu} or null when
   * absent, {@code configSource} names the configuration.
   */
  static MlpActivation resolve(
      Boolean quickGelu, String configSource, String modelName, Activation stated, String statedSource) {
    List<MlpActivation> said = new ArrayList<>();
    if (quickGelu != null) {
      said.add(new MlpActivation(
          quickGelu ? Activation.QUICK_GELU : Activation.GELU,
          configSource + ": model_cfg.quick_gelu = " + quickGelu));
    }
    if (modelName != null && modelName.toLowerCase(Locale.ROOT).endsWith(QUICKGELU_SUFFIX)) {
      said.add(new MlpActivation(Activation.QUICK_GELU, "model name '" + modelName + "'"));
    }
    if (stated != null) {
      if (stated != Activation.GELU && stated != Activation.QUICK_GELU) {
        throw new IllegalArgumentException(
            "the MLP activation must be gelu or quick_gelu, got " + stated.id() + " (" + statedSource + ")");
      }
      said.add(new MlpActivation(stated, statedSource == null ? "stated by the caller" : statedSource));
    }
    if (said.isEmpty()) {
      throw new InvalidModelException(configSource
          + ": the MLP activation is not stated. model_cfg has no \"quick_gelu\" key and the model name ("
          + (modelName == null ? "none given" : "'" + modelName + "'") + ") does not end in '"
          + QUICKGELU_SUFFIX + "'. open_clip would silently use GELU, which gives wrong embeddings for"
          + " weights trained with QuickGELU (OpenAI's). State it: add \"quick_gelu\": true or false to"
          + " model_cfg, give the open_clip model name (e.g. ViT-B-32-quickgelu), or pass the activation"
          + " explicitly (quick_gelu or gelu) when loading.");
    }
    MlpActivation first = said.get(0);
    for (MlpActivation other : said) {
      if (other.activation != first.activation) {
        StringBuilder sb = new StringBuilder(configSource).append(": the MLP activation is contradictory:");
        for (MlpActivation s : said) {
          sb.append(' ').append(s.source).append(" says ").append(s.id()).append(';');
        }
        sb.setLength(sb.length() - 1);
        throw new InvalidModelException(sb.append(". Fix the one that is wrong.").toString());
      }
    }
    return first;
  }
}
