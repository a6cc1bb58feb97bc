package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;

/**
 * open_clip's configurations of the common ViT CLIPs, by model name, shipped inside clip4j
 * (open_clip 2.20.0's {@code model_configs/*.json}, unchanged): ViT-B-32, ViT-B-32-quickgelu,
 * ViT-B-16, ViT-L-14, ViT-L-14-336, ViT-H-14, ViT-g-14, ViT-bigG-14; and the ResNet CLIPs RN50,
 * RN50-quickgelu, RN101, RN101-quickgelu, RN50x4, RN50x16, RN50x64 ({@link #namedResNet}, a
 * {@link ResNetConfig}). A name ending in {@code
 * -quickgelu} without its own file is its base configuration with {@code quick_gelu: true}, as
 * open_clip's later releases define those names. Only a {@code -quickgelu} name (or a file
 * saying {@code quick_gelu}) states the activation: the plain names do not say which activation the
 * weights were trained with (OpenAI's need QuickGELU, LAION's and most others GELU), so a bare
 * checkpoint named by one needs the activation stated too.
 */
public final class ModelConfigs {
  private static final List<String> NAMES = List.of(
      "ViT-B-32", "ViT-B-32-quickgelu", "ViT-B-16", "ViT-L-14", "ViT-L-14-336", "ViT-H-14", "ViT-g-14", "ViT-bigG-14");

  /** open_clip's ResNet CLIP names (ModifiedResNet image towers), shipped the same way. */
  private static final List<String> RESNET_NAMES = List.of(
      "RN50", "RN50-quickgelu", "RN101", "RN101-quickgelu", "RN50x4", "RN50x16", "RN50x64");

  private ModelConfigs() {}

  /** The ResNet CLIP names clip4j ships a configuration for (plus their {@code -quickgelu} variants). */
  public static List<String> resNetNames() {
    return RESNET_NAMES;
  }

  /** Whether {@code name} is a ResNet CLIP name clip4j ships (a {@code -quickgelu} variant included). */
  static boolean isResNet(String name) {
    return RESNET_NAMES.contains(name) || (name.endsWith(MlpActivation.QUICKGELU_SUFFIX)
        && RESNET_NAMES.contains(name.substring(0, name.length() - MlpActivation.QUICKGELU_SUFFIX.length())));
  }

  /**
   * The configuration of a ResNet CLIP name ({@link #resNetNames()}; a {@code -quickgelu} name
   * without its own file is its base with {@code quick_gelu: true}).
   *
   * @throws InvalidModelException for another name
   */
  static ResNetConfig namedResNet(String name) {
    if (!isResNet(name)) {
      throw new InvalidModelException("unknown open_clip ResNet CLIP name '" + name + "': clip4j ships "
          + String.join(", ", RESNET_NAMES) + " and their -quickgelu variants");
    }
    String file = RESNET_NAMES.contains(name) ? name
        : name.substring(0, name.length() - MlpActivation.QUICKGELU_SUFFIX.length());
    String json;
    try (InputStream in = ModelConfigs.class.getResourceAsStream("configs/" + file + ".json")) {
      json = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException | NullPointerException e) {
      throw new IllegalStateException("cannot read clip4j's configuration of " + file, e);
    }
    ResNetConfig c = ResNetConfig.parseIfResNet(json, "open_clip model config '" + file + "'");
    return file.equals(name) ? c : c.withQuickGelu(true);
  }

  /** The names clip4j ships a configuration for (plus their {@code -quickgelu} variants). */
  public static List<String> names() {
    return NAMES;
  }

  /**
   * The configuration of an open_clip model name (case-sensitive, as open_clip's).
   *
   * @throws InvalidModelException for a name clip4j does not ship, listing the ones it does
   */
  public static ModelConfig named(String name) {
    if (isResNet(name)) {
      throw new InvalidModelException("'" + name + "' is a ResNet CLIP (a ModifiedResNet image tower), not a ViT one;"
          + " load it by name through ClipModel.load (CheckpointFileReader) rather than as a ViT configuration");
    }
    String json = resource(name);
    if (json != null) {
      return ModelConfig.parse(json, "open_clip model config '" + name + "'");
    }
    if (name.endsWith(MlpActivation.QUICKGELU_SUFFIX)) {
      String base = name.substring(0, name.length() - MlpActivation.QUICKGELU_SUFFIX.length());
      String baseJson = resource(base);
      if (baseJson != null) {
        return ModelConfig.parse(baseJson, "open_clip model config '" + base + "'").withQuickGelu(true);
      }
    }
    String hint = "";
    for (String n : NAMES) {
      if (n.toLowerCase(Locale.ROOT).equals(name.toLowerCase(Locale.ROOT))) {
        hint = " (did you mean " + n + "?)";
      }
    }
    throw new InvalidModelException("unknown open_clip model name '" + name + "'" + hint + ": clip4j ships the"
        + " configurations of " + String.join(", ", NAMES) + ", " + String.join(", ", RESNET_NAMES)
        + " and their -quickgelu variants; for another"
        + " architecture load the model directory with its open_clip_config.json");
  }

  private static String resource(String name) {
    if (!NAMES.contains(name)) {
      return null;
    }
    try (InputStream in = ModelConfigs.class.getResourceAsStream("configs/" + name + ".json")) {
      return in == null ? null : new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read clip4j's configuration of " + name, e);
    }
  }
}
