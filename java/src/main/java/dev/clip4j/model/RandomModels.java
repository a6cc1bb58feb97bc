package dev.clip4j.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import dev.clip4j.model.io.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import dev.clip4j.tokenize.BpeVocabularies;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Writes open_clip model directories with random (seeded) weights of real shapes, for
 * benchmarks, the demo and tests that need a model of a given size: {@code
 * open_clip_config.json} + {@code open_clip_model.safetensors}, and a small tokenizer vocabulary
 * ({@code vocab.json} + {@code merges.txt}) learned from {@link #SAMPLE_TEXTS} by {@link
 * BpeVocabularies} (OpenAI's vocabulary is not redistributed with clip4j). The weights are
 * untrained: the embeddings are meaningless, only the architecture and the numerics are real.
 */
public final class RandomModels {
  private RandomModels() {}

  /** The texts the generated tokenizer vocabulary is learned from (captions and labels). */
  public static final List<String> SAMPLE_TEXTS = List.of(
      "a photo of a cat", "a photo of a dog", "a photo of a bird", "a photo of a car",
      "a photo of a red circle", "a photo of a blue square", "a photo of a green triangle",
      "a drawing of a yellow star", "a picture of stripes", "a gradient from black to white",
      "a photo of the sky at night", "a close-up photo of a flower", "a blurry photo of a person",
      "an orange sunset over the sea", "a purple and white checkerboard pattern",
      "there is a small house on the hill", "two people are walking in the park",
      "this is a photo of my favourite coffee cup", "a rocket on the launch pad",
      "text and numbers 0123456789 on a sign", "un chat noir", "eine rote Katze");

  /** Merges learned for the generated vocabulary (at most). */
  private static final int SAMPLE_MERGES = 2000;

  /**
   * The shape of a ViT CLIP. {@code quickGelu} is written into the config.
   */
  public record Spec(
      String name, int embedDim, int imageSize, int patchSize, int visionWidth, int visionLayers,
      int textWidth, int textHeads, int textLayers, int contextLength, int vocabSize, boolean quickGelu) {}

  /** open_clip's ViT-B-32 (OpenAI shapes, QuickGELU): 151M parameters. */
  public static Spec vitB32() {
    return new Spec("ViT-B-32-quickgelu", 512, 224, 32, 768, 12, 512, 8, 12, 77, 49408, true);
  }

  /** open_clip's ViT-L-14 (OpenAI shapes, QuickGELU): 428M parameters. */
  public static Spec vitL14() {
    return new Spec("ViT-L-14-quickgelu", 768, 224, 14, 1024, 24, 768, 12, 12, 77, 49408, true);
  }

  /** A small model (a few million parameters) for the demo and quick tests. */
  public static Spec small() {
    return new Spec("clip4j-demo-small", 128, 224, 32, 128, 2, 128, 4, 2, 77, 49408, true);
  }

  /** Writes the directory; returns it. */
  public static Path write(Path dir, Spec spec, long seed) {
    Engine.ensureInitialized();
    ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    ObjectNode root = json.createObjectNode();
    ObjectNode mc = root.putObject("model_cfg");
    mc.put("embed_dim", spec.embedDim());
    mc.put("quick_gelu", spec.quickGelu());
    ObjectNode v = mc.putObject("vision_cfg");
    v.put("image_size", spec.imageSize());
    v.put("layers", spec.visionLayers());
    v.put("width", spec.visionWidth());
    v.put("patch_size", spec.patchSize());
    ObjectNode t = mc.putObject("text_cfg");
    t.put("context_length", spec.contextLength());
    t.put("vocab_size", spec.vocabSize());
    t.put("width", spec.textWidth());
    t.put("heads", spec.textHeads());
    t.put("layers", spec.textLayers());
    ObjectNode pre = root.putObject("preprocess_cfg");
    pre.putArray("mean").add(0.48145466).add(0.4578275).add(0.40821073);
    pre.putArray("std").add(0.26862954).add(0.26130258).add(0.27577711);
    try {
      Files.createDirectories(dir);
      Path cfgFile = dir.resolve(OpenClipModels.CONFIG);
      json.writeValue(cfgFile.toFile(), root);
      ModelConfig cfg = ModelConfig.parse(cfgFile);
      Map<String, Tensor> weights = new LinkedHashMap<>();
      torch.manual_seed(seed);
      for (Map.Entry<String, long[]> e : StateDictSchema.of(cfg).shapes().entrySet()) {
        weights.put(e.getKey(), init(e.getKey(), e.getValue(), spec));
      }
      Map<String, String> meta = new LinkedHashMap<>();
      meta.put("format", "pt");
      meta.put("clip4j", "random weights (seed " + seed + "): untrained");
      SafetensorsWriter.write(dir.resolve(OpenClipModels.SAFETENSORS), weights, meta);
      int vocab = BpeVocabularies.write(dir, BpeVocabularies.learnMerges(SAMPLE_TEXTS, SAMPLE_MERGES));
      if (vocab > spec.vocabSize()) {
        throw new IllegalStateException("generated vocabulary (" + vocab + ") exceeds the model's " + spec.vocabSize());
      }
      return dir;
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot write " + dir + ": " + e.getMessage(), e);
    }
  }

  private static Tensor init(String key, long[] shape, Spec spec) {
    if (key.equals("logit_scale")) {
      return torch.full(shape, new Scalar(Math.log(1 / 0.07)));
    }
    boolean norm = key.contains("ln_") || key.contains(".ln_") || key.startsWith("ln_final");
    if (norm && key.endsWith(".weight")) {
      return torch.ones(shape);
    }
    if (key.endsWith("bias")) {
      return torch.zeros(shape);
    }
    double std = 0.02;
    if (key.equals("visual.proj")) {
      std = Math.pow(spec.visionWidth(), -0.5);
    } else if (key.equals("text_projection")) {
      std = Math.pow(spec.textWidth(), -0.5);
    }
    return torch.randn(shape).mul(new Scalar(std));
  }
}
