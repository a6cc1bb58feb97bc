package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import java.nio.file.Path;
import java.util.Map;

/**
 * A bare checkpoint file ({@code open_clip_pytorch_model.bin}, {@code .safetensors}, a training
 * checkpoint with a {@code state_dict} wrapper or {@code module.} prefixes) whose architecture is
 * an open_clip model name, as {@code open_clip.create_model(name, pretrained=path)} takes it. The
 * configurations of the common ViT names ship inside clip4j ({@link ModelConfigs}); the
 * tokenizer is the standard CLIP vocabulary and the preprocessing open_clip's OpenAI defaults,
 * as open_clip uses for them.
 */
final class CheckpointFileReader implements ModelReader {
  @Override
  public ModelFormat format() {
    return ModelFormat.CHECKPOINT;
  }

  @Override
  public ModelDescription read(Path file, LoadOptions options) {
    String name = options.modelName().orElseThrow(() -> new InvalidModelException(file + " is a bare checkpoint"
        + " (weights without a configuration): give its architecture as an open_clip model name (--model-name "
        + String.join(", ", ModelConfigs.names()) + ", " + String.join(", ", ModelConfigs.resNetNames())
        + "), or load the model directory that holds it with its"
        + " open_clip_config.json / config.json"));
    if (ModelConfigs.isResNet(name)) {
      ResNetConfig rn = ModelConfigs.namedResNet(name);
      MlpActivation act = MlpActivation.resolve(rn.quickGelu(), rn.source(), name,
          options.activation().orElse(null), "LoadOptions.activation");
      return new ModelDescription(format(), file, new Architecture.ClipResNet(rn.withSource(file.toString()), act,
          ResNetTowers.fileSource(rn.withSource(file.toString()), () -> file)),
          Architectures.openAiPreprocess(rn.imageSize()), TokenizerSpec.standardClip(rn.text().contextLength()),
          Hashing.singleFile(file, options));
    }
    ModelConfig config = ModelConfigs.named(name);
    MlpActivation activation = MlpActivation.resolve(config, name, options.activation().orElse(null),
        "LoadOptions.activation");
    java.util.function.Supplier<Map<String, String>> hashes = Hashing.singleFile(file, options);
    WeightSource weights = OpenClipModels.fileSource(config, () -> file);
    TokenizerSpec tokenizer = TokenizerSpec.standardClip(config.text().contextLength());
    return new ModelDescription(format(), file, new Architecture.ClipVit(config, activation, weights),
        Architectures.openAiPreprocess(config.vision().imageSize()), tokenizer,
        hashes);
  }
}
