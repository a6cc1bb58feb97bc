package dev.clip4j.model;

import java.nio.file.Path;
import java.util.Objects;

/**
 * What a model computes, as a reader describes it: the typed configuration the architecture
 * registry ({@code Architectures}) builds towers from. Adding a tower family is adding a record
 * here and its builder there; readers never build towers.
 */
public sealed interface Architecture {
  /** A one-line description for {@code info()}. */
  String describe();

  /**
   * An open_clip CLIP with a ViT image tower and the causal text transformer (OpenAI's CLIPs and
   * open_clip's ViT models in any file layout).
   *
   * @param config the configuration (open_clip's {@code model_cfg})
   * @param activation the MLP activation and where it was stated
   * @param weights the weights under open_clip names
   */
  record ClipVit(ModelConfig config, MlpActivation activation, WeightSource weights) implements Architecture {
    public ClipVit {
      Objects.requireNonNull(config, "config");
      Objects.requireNonNull(activation, "activation");
      Objects.requireNonNull(weights, "weights");
    }

    @Override
    public String describe() {
      return config.describe();
    }
  }

  /**
   * An open_clip SigLIP / SigLIP2 (fixed resolution): timm ViT trunk with a MAP head, non-causal
   * text tower, {@code logit_scale} and {@code logit_bias} (sigmoid scoring).
   *
   * @param config the configuration
   * @param weights the weights under open_clip names ({@code visual.trunk.*}, {@code text.*})
   */
  record Siglip(SiglipConfig config, WeightSource weights) implements Architecture {
    public Siglip {
      Objects.requireNonNull(config, "config");
      Objects.requireNonNull(weights, "weights");
    }

    @Override
    public String describe() {
      return config.describe();
    }
  }

  /**
   * An open_clip CLIP with OpenAI's ModifiedResNet image tower and the causal text transformer
   * (open_clip's RN50, RN101, RN50x4, RN50x16, RN50x64; OpenAI's RN archives).
   *
   * @param config the configuration
   * @param activation the text MLPs' activation and where it was stated
   * @param weights the weights under open_clip names
   */
  record ClipResNet(ResNetConfig config, MlpActivation activation, WeightSource weights) implements Architecture {
    public ClipResNet {
      Objects.requireNonNull(config, "config");
      Objects.requireNonNull(activation, "activation");
      Objects.requireNonNull(weights, "weights");
    }

    @Override
    public String describe() {
      return config.describe();
    }
  }

  /**
   * A sentence-transformers text model (Transformer, Pooling, Dense, Normalize modules): a text
   * tower only.
   *
   * @param dir the directory holding {@code modules.json}
   */
  record SentenceTransformer(Path dir) implements Architecture {
    @Override
    public String describe() {
      return "sentence-transformers text model (" + dir + ")";
    }
  }

  /**
   * A TorchScript program run as code ({@code encode_image} / {@code encode_text}): for archives
   * that are not a CLIP state dict, or when {@code --format torchscript} asks for it.
   *
   * @param file the archive
   */
  record TorchScriptProgram(Path file) implements Architecture {
    @Override
    public String describe() {
      return "TorchScript program (encode_image/encode_text) " + file.getFileName();
    }
  }
}
