package dev.clip4j.model;

import dev.clip4j.model.io.JitArchive;
import dev.clip4j.model.io.JitArchiveReader;
import dev.clip4j.model.io.NotAClipStateException;
import java.nio.file.Path;
import java.util.Map;

/**
 * A TorchScript archive whose parameters are a CLIP state dict (OpenAI's {@code clip} package
 * {@code .pt} files with their fp16 weights, open_clip's {@code torch.jit.script} output), read as
 * weights: {@code data.pkl} goes through clip4j's restricted unpickler in Java (module objects are
 * opaque containers, nothing in {@code code/} is read or run), the architecture is inferred from
 * the shapes as open_clip's {@code build_model_from_openai_state_dict} does, the MLP activation
 * comes from the module types the archive records ({@code QuickGELU} vs torch's {@code GELU}), and
 * the weights are built like any checkpoint (fp16 upcast to fp32 exactly), so the model gets the
 * packed CPU kernels and clip4j's validation. An archive that holds no CLIP state is handed to
 * {@link TorchScriptReader} (run as code) when the format was detected, refused when it was asked
 * for.
 */
final class OpenAiJitReader implements ModelReader {
  @Override
  public ModelFormat format() {
    return ModelFormat.OPENAI_JIT;
  }

  @Override
  public ModelDescription read(Path file, LoadOptions options) {
    java.util.function.Supplier<Map<String, String>> hashes = Hashing.singleFile(file, options);
    ModelConfig config;
    MlpActivation activation;
    try (JitArchive a = JitArchiveReader.read(file)) {
      if (OpenAiCheckpoints.isResNet(a.shapes())) { // OpenAI's RN50, RN101, RN50x4, ... archives
        ResNetConfig rn = OpenAiCheckpoints.inferResNetConfig(a.shapes(), a.intAttributes(), file.toString());
        MlpActivation act = MlpActivation.agree(
            OpenAiCheckpoints.activationFromModuleTypes(a.moduleTypes(), file.toString()),
            options.modelName().orElse(null), options.activation().orElse(null), "LoadOptions.activation",
            file.toString());
        WeightSource weights = WeightSource.streaming(() -> ResNetTowers.stream(rn,
            () -> JitArchiveReader.read(file).stateDict(), file.toString()));
        return new ModelDescription(format(), file, new Architecture.ClipResNet(rn, act, weights),
            Architectures.openAiPreprocess(rn.imageSize()),
            TorchScriptReader.besideOrStandard(file, rn.text().contextLength()), hashes);
      }
      config = OpenAiCheckpoints.inferConfig(a.shapes(), a.intAttributes(), file.toString());
      activation = MlpActivation.agree(OpenAiCheckpoints.activationFromModuleTypes(a.moduleTypes(), file.toString()),
          options.modelName().orElse(null), options.activation().orElse(null), "LoadOptions.activation",
          file.toString());
    } catch (NotAClipStateException e) {
      if (options.format().isPresent()) {
        throw e;
      }
      return new TorchScriptReader().read(file, options); // a TorchScript program, not a CLIP state
    }
    ModelConfig cfg = config;
    WeightSource weights = WeightSource.streaming(() -> OpenClipModels.stream(cfg,
        () -> JitArchiveReader.read(file).stateDict(), file.toString()));
    return new ModelDescription(format(), file, new Architecture.ClipVit(config, activation, weights),
        Architectures.openAiPreprocess(config.vision().imageSize()),
        TorchScriptReader.besideOrStandard(file, config.text().contextLength()), hashes);
  }
}
