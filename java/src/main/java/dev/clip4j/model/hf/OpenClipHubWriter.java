package dev.clip4j.model.hf;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import dev.clip4j.model.MlpActivation;
import dev.clip4j.model.ModelConfig;
import dev.clip4j.model.TextConfig;
import dev.clip4j.model.VisionConfig;
import dev.clip4j.model.io.LazyTensor;
import dev.clip4j.model.io.SafetensorsWriter;
import dev.clip4j.model.io.TensorData;
import dev.clip4j.preprocess.CropRounding;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.preprocess.ResizeMode;
import dev.clip4j.preprocess.RgbConversion;
import dev.clip4j.tokenize.ClipTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Writes open_clip's Hugging Face hub layout: {@code open_clip_config.json} ({@code model_cfg}
 * with {@code quick_gelu} stated, {@code preprocess_cfg}), {@code open_clip_model.safetensors}
 * (the tensors as given, streamed) and the tokenizer's vocabulary as it is ({@code
 * bpe_simple_vocab_16e6.txt.gz}, or {@code vocab.json} + {@code merges.txt}, both of which
 * {@link ClipTokenizer#fromDirectory} reads). {@link ModelConfig#parse} reads the config back to
 * an equal configuration.
 *
 * <p>Every weight is checked against the configuration first (every key and shape, float dtypes;
 * all problems in one {@link InvalidModelException}). What open_clip's {@code preprocess_cfg}
 * cannot say (transformers' floored crop and RGB-first conversion) is reported in {@link
 * HfClipWriter.Result#notes()}. The directory must be new or empty.
 */
public final class OpenClipHubWriter {
  /** The config file of open_clip's hub layout. */
  public static final String CONFIG = "open_clip_config.json";
  /** The weights file of open_clip's hub layout. */
  public static final String WEIGHTS = "open_clip_model.safetensors";

  private OpenClipHubWriter() {}

  /**
   * Writes the directory.
   *
   * @throws InvalidModelException when the weights do not fit the configuration
   * @throws Clip4jException {@link ErrorCode#IO} when a file cannot be written
   */
  public static HfClipWriter.Result write(Path dir, ModelConfig config, MlpActivation activation,
      PreprocessConfig preprocess, Map<String, TensorData> openClipWeights, TokenizerSource tokenizer) {
    Objects.requireNonNull(dir, "dir");
    Objects.requireNonNull(config, "config");
    Objects.requireNonNull(activation, "activation");
    Objects.requireNonNull(preprocess, "preprocess");
    Objects.requireNonNull(openClipWeights, "openClipWeights");
    Objects.requireNonNull(tokenizer, "tokenizer");
    tokenizer.tokenizer(); // checked before anything is written
    ObjectNode root = toJson(config, activation, preprocess);
    ModelConfig.parse(new String(HfClipWriter.bytes(root), java.nio.charset.StandardCharsets.UTF_8),
        dir.resolve(CONFIG).toString()); // what open_clip (and clip4j) will read
    validate(config, openClipWeights);

    DirectoryWriter.prepare(dir);
    List<Path> files = new ArrayList<>();
    files.add(DirectoryWriter.json(dir.resolve(CONFIG), root));
    List<LazyTensor> tensors = new ArrayList<>();
    openClipWeights.forEach((k, v) -> tensors.add(LazyTensor.of(k, v)));
    Path st = dir.resolve(WEIGHTS);
    SafetensorsWriter.writeTensors(st, tensors, Map.of("format", "pt"));
    files.add(st);
    if (tokenizer.bpeFile() != null) {
      String name = tokenizer.bpeFile().getFileName().toString().endsWith(".gz")
          ? "bpe_simple_vocab_16e6.txt.gz" : "bpe_simple_vocab_16e6.txt";
      files.add(DirectoryWriter.copy(tokenizer.bpeFile(), dir.resolve(name)));
    } else {
      files.add(DirectoryWriter.copy(tokenizer.vocabJson(), dir.resolve("vocab.json")));
      files.add(DirectoryWriter.copy(tokenizer.mergesTxt(), dir.resolve("merges.txt")));
    }
    List<String> notes = new ArrayList<>();
    if (preprocess.resizeMode() == ResizeMode.SHORTEST && preprocess.cropRounding() == CropRounding.FLOOR) {
      notes.add("preprocessing: open_clip rounds the center crop's offset half to even where transformers' processor"
          + " floors it: images whose resized long side exceeds " + preprocess.imageSize()
          + " px by 3 modulo 4 pixels are cropped one pixel apart");
    }
    if (preprocess.rgbConversion() == RgbConversion.BEFORE_RESIZE) {
      notes.add("preprocessing: open_clip converts images to RGB after resizing, transformers' processor before:"
          + " palette, bilevel, gray+alpha and RGBA images preprocess differently (RGB images do not)");
    }
    return new HfClipWriter.Result(dir, files, notes);
  }

  /** Every key and shape of open_clip's state dict for {@code config}, float dtypes; all problems at once. */
  private static void validate(ModelConfig config, Map<String, TensorData> weights) {
    HfClipConfig hf = new HfClipConfig(HfClipConfig.Kind.CLIP_MODEL, config.embedDim(),
        new HfClipConfig.VisionTower(config.vision(), new MlpActivation(Activation.GELU, "-")),
        new HfClipConfig.TextTower(config.text(), new MlpActivation(Activation.GELU, "-"), 2), null, config.source());
    VisionConfig v = config.vision();
    if (!v.layerScale() && !config.text().layerScale() && v.lnPre()) {
      HfClipWeights.of(hf).validateOpenClip(weights, config.source());
      return;
    }
    // Towers transformers has no table for: check names and shapes against open_clip's schema.
    Map<String, long[]> expected = dev.clip4j.model.StateDictSchema.of(config).shapes();
    List<String> problems = new ArrayList<>();
    for (Map.Entry<String, long[]> e : expected.entrySet()) {
      TensorData t = weights.get(e.getKey());
      if (t == null) {
        problems.add("missing " + e.getKey() + " " + Arrays.toString(e.getValue()));
      } else if (!Arrays.equals(t.shape(), e.getValue()) || !HfClipWeights.isFloat(t.dtype())) {
        problems.add(e.getKey() + " is " + t.dtype() + " " + Arrays.toString(t.shape()) + ", expected a float "
            + Arrays.toString(e.getValue()));
      }
    }
    for (String k : weights.keySet()) {
      if (!expected.containsKey(k)) {
        problems.add("unexpected " + k);
      }
    }
    if (!problems.isEmpty()) {
      throw new InvalidModelException(config.source() + ": the weights do not match the configuration: "
          + String.join("; ", problems));
    }
  }

  /** {@code {"model_cfg": ..., "preprocess_cfg": ...}} for {@code config}. */
  static ObjectNode toJson(ModelConfig config, MlpActivation activation, PreprocessConfig preprocess) {
    ObjectMapper m = new ObjectMapper();
    ObjectNode root = m.createObjectNode();
    ObjectNode mc = root.putObject("model_cfg");
    mc.put("embed_dim", config.embedDim());
    mc.put("quick_gelu", activation.activation() == Activation.QUICK_GELU);
    VisionConfig v = config.vision();
    ObjectNode vc = mc.putObject("vision_cfg");
    vc.put("image_size", v.imageSize());
    vc.put("layers", v.layers());
    vc.put("width", v.width());
    vc.put("head_width", v.headWidth());
    vc.put("mlp_ratio", v.mlpRatio());
    vc.put("patch_size", v.patchSize());
    if (v.layerScale()) {
      vc.put("ls_init_value", 1e-5); // only its presence matters at inference: gamma is in the weights
    }
    if (v.globalAveragePool()) {
      vc.put("global_average_pool", true);
    }
    if (!v.lnPre()) {
      vc.put("no_ln_pre", true);
    }
    TextConfig t = config.text();
    ObjectNode tc = mc.putObject("text_cfg");
    tc.put("context_length", t.contextLength());
    tc.put("vocab_size", t.vocabSize());
    tc.put("width", t.width());
    tc.put("heads", t.heads());
    tc.put("layers", t.layers());
    tc.put("mlp_ratio", t.mlpRatio());
    if (t.layerScale()) {
      tc.put("ls_init_value", 1e-5);
    }
    if (preprocess.interpolation() == dev.clip4j.preprocess.Interpolation.NEAREST) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, "open_clip's preprocess_cfg has no nearest-neighbour resize"
          + " (its interpolations are bicubic and bilinear)");
    }
    ObjectNode pc = root.putObject("preprocess_cfg");
    pc.put("size", preprocess.imageSize());
    pc.put("mode", "RGB");
    ArrayNode mean = pc.putArray("mean");
    ArrayNode std = pc.putArray("std");
    for (int c = 0; c < 3; c++) {
      mean.add(HfPreprocessorConfig.decimal(preprocess.mean()[c]));
      std.add(HfPreprocessorConfig.decimal(preprocess.std()[c]));
    }
    pc.put("interpolation", preprocess.interpolation().name().toLowerCase(java.util.Locale.ROOT));
    pc.put("resize_mode", preprocess.resizeMode().name().toLowerCase(java.util.Locale.ROOT));
    pc.put("fill_color", preprocess.fillColor());
    return root;
  }
}
