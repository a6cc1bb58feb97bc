package dev.clip4j.model.hf;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.model.MlpActivation;
import dev.clip4j.model.ModelConfig;
import dev.clip4j.model.io.DType;
import dev.clip4j.model.io.LazyTensor;
import dev.clip4j.model.io.SafetensorsWriter;
import dev.clip4j.model.io.TensorData;
import dev.clip4j.preprocess.CropRounding;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.preprocess.ResizeMode;
import dev.clip4j.preprocess.RgbConversion;
import dev.clip4j.tokenize.BpeVocabularies;
import dev.clip4j.tokenize.ClipTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Writes a Hugging Face transformers {@code CLIPModel} directory from an open_clip model: {@code
 * config.json}, {@code model.safetensors} (transformers' names: q/k/v split from {@code
 * in_proj_*} as zero-copy views, projections transposed one at a time, so the model is streamed
 * to disk without a second copy), {@code vocab.json} + {@code merges.txt} (open_clip's merges file
 * converted, or the pair copied), {@code tokenizer_config.json}, {@code special_tokens_map.json}
 * and {@code preprocessor_config.json}. Reading it back with {@link HfClipDirectory} gives every
 * tensor bit for bit.
 *
 * <p>What transformers cannot express is refused ({@link ErrorCode#UNSUPPORTED}: LayerScale,
 * average pooling, no {@code ln_pre}, padded resizing); what it computes slightly differently is
 * reported in {@link Result#notes()} (the processor's floored crop and RGB-first conversion).
 * The target directory must be new or empty; each file is written atomically.
 *
 * <pre>{@code
 * try (StateDict sd = CheckpointReader.read(ocDir.resolve("open_clip_model.safetensors"))) {
 *   HfClipWriter.Result r = HfClipWriter.write(out, cfg, act, pre, sd.tensors(), TokenizerSource.find(ocDir));
 *   r.notes().forEach(System.out::println);
 * }
 * }</pre>
 */
public final class HfClipWriter {
  private HfClipWriter() {}

  /**
   * What was written.
   *
   * @param dir the directory
   * @param files the files written, in order
   * @param notes differences transformers will compute from the source model's behaviour (empty
   *     when there are none)
   */
  public record Result(Path dir, List<Path> files, List<String> notes) {
    public Result {
      files = List.copyOf(files);
      notes = List.copyOf(notes);
    }
  }

  /**
   * Writes the directory.
   *
   * @param dir a new or empty directory
   * @param config the open_clip configuration
   * @param activation the MLP activation (written as both towers' {@code hidden_act})
   * @param preprocess the model's preprocessing
   * @param openClipWeights the weights under open_clip's names (checked: every key, shape, float
   *     dtype); kept in their dtype
   * @param tokenizer the BPE vocabulary
   * @throws InvalidModelException when the weights or the vocabulary do not fit the configuration
   * @throws Clip4jException {@link ErrorCode#UNSUPPORTED} for what transformers' CLIP cannot
   *     express, {@link ErrorCode#IO} when a file cannot be written
   */
  public static Result write(Path dir, ModelConfig config, MlpActivation activation, PreprocessConfig preprocess,
      Map<String, TensorData> openClipWeights, TokenizerSource tokenizer) {
    Objects.requireNonNull(dir, "dir");
    Objects.requireNonNull(config, "config");
    Objects.requireNonNull(activation, "activation");
    Objects.requireNonNull(preprocess, "preprocess");
    Objects.requireNonNull(openClipWeights, "openClipWeights");
    Objects.requireNonNull(tokenizer, "tokenizer");
    ClipTokenizer tok = tokenizer.tokenizer();
    int vocab = config.text().vocabSize();
    if (tok.vocabSize() > vocab || tok.sotToken() >= vocab || tok.eotToken() >= vocab) {
      throw new InvalidModelException("the tokenizer has " + tok.vocabSize() + " symbols (start " + tok.sotToken()
          + ", end " + tok.eotToken() + ") but the model's vocab_size is " + vocab);
    }
    DType dtype = commonDtype(openClipWeights);
    ObjectNode cfgJson = HfClipConfig.toJson(config, activation, dtype == null ? null : HfClipConfig.torchDtypeName(dtype),
        tok.sotToken(), tok.eotToken());
    ObjectNode preJson = HfPreprocessorConfig.toJson(preprocess);
    HfClipConfig hf = HfClipConfig.parse(bytes(cfgJson), config.source() + " (as transformers config.json)");
    List<LazyTensor> tensors = HfClipWeights.of(hf).toHf(openClipWeights, config.source());

    DirectoryWriter.prepare(dir);
    List<Path> files = new ArrayList<>();
    files.add(DirectoryWriter.json(dir.resolve(HfClipDirectory.CONFIG), cfgJson));
    Path st = dir.resolve("model.safetensors");
    SafetensorsWriter.writeTensors(st, tensors, Map.of("format", "pt"));
    files.add(st);
    if (tokenizer.bpeFile() != null) {
      BpeVocabularies.writeHfFromBpe(tokenizer.bpeFile(), dir);
    } else {
      DirectoryWriter.copy(tokenizer.vocabJson(), dir.resolve("vocab.json"));
      DirectoryWriter.copy(tokenizer.mergesTxt(), dir.resolve("merges.txt"));
    }
    files.add(dir.resolve("vocab.json"));
    files.add(dir.resolve("merges.txt"));
    files.add(DirectoryWriter.json(dir.resolve("tokenizer_config.json"), tokenizerConfig(config.text().contextLength())));
    files.add(DirectoryWriter.json(dir.resolve("special_tokens_map.json"), specialTokens()));
    files.add(DirectoryWriter.json(dir.resolve(HfPreprocessorConfig.FILE), preJson));

    List<String> notes = new ArrayList<>();
    if (preprocess.resizeMode() == ResizeMode.SHORTEST && preprocess.cropRounding() != CropRounding.FLOOR) {
      notes.add("preprocessing: transformers' CLIPImageProcessor floors the center crop's offset where open_clip"
          + " rounds it half to even: images whose resized long side exceeds " + preprocess.imageSize()
          + " px by 3 modulo 4 pixels are cropped one pixel apart");
    }
    if (preprocess.rgbConversion() != RgbConversion.BEFORE_RESIZE) {
      notes.add("preprocessing: transformers' CLIPImageProcessor converts images to RGB before resizing, open_clip"
          + " after: palette, bilevel, gray+alpha and RGBA images preprocess differently (RGB images do not)");
    }
    if (tok.eotToken() != vocab - 1) {
      notes.add("text pooling: the end-of-text id " + tok.eotToken() + " is not vocab_size - 1; config.json says"
          + " eos_token_id 2, which makes transformers pool at the largest id as open_clip does");
    }
    return new Result(dir, files, notes);
  }

  /** The dtype all tensors share, or null when they differ. */
  static DType commonDtype(Map<String, TensorData> tensors) {
    DType d = null;
    for (TensorData t : tensors.values()) {
      if (d == null) {
        d = t.dtype();
      } else if (d != t.dtype()) {
        return null;
      }
    }
    return d;
  }

  static byte[] bytes(ObjectNode node) {
    try {
      return new ObjectMapper().writeValueAsBytes(node);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** transformers' CLIPTokenizer settings (those of openai/clip-vit-base-patch32). */
  static ObjectNode tokenizerConfig(int contextLength) {
    ObjectNode t = new ObjectMapper().createObjectNode();
    t.put("tokenizer_class", "CLIPTokenizer");
    t.put("model_max_length", contextLength);
    t.put("bos_token", "<|startoftext|>");
    t.put("eos_token", "<|endoftext|>");
    t.put("unk_token", "<|endoftext|>");
    t.put("pad_token", "<|endoftext|>");
    t.put("do_lower_case", true);
    t.put("errors", "replace");
    t.put("add_prefix_space", false);
    return t;
  }

  static ObjectNode specialTokens() {
    ObjectNode t = new ObjectMapper().createObjectNode();
    t.put("bos_token", "<|startoftext|>");
    t.put("eos_token", "<|endoftext|>");
    t.put("unk_token", "<|endoftext|>");
    t.put("pad_token", "<|endoftext|>");
    return t;
  }
}
