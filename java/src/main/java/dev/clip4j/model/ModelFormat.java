package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;

/**
 * The model formats clip4j reads, one {@link ModelReader} each. Which one a path holds is told
 * from its contents, not its name, in exactly one place ({@code ModelReaders.detect}); {@code
 * --format} / {@link LoadOptions.Builder#format} forces one.
 */
public enum ModelFormat {
  /**
   * open_clip's hub layout: a directory with {@code open_clip_config.json} and {@code
   * open_clip_model.safetensors} or {@code open_clip_pytorch_model.bin}.
   */
  OPEN_CLIP_HUB("open_clip"),
  /**
   * A Hugging Face transformers {@code CLIPModel} directory: {@code config.json}, {@code
   * model.safetensors} (or {@code pytorch_model.bin}, or shards with an index), {@code vocab.json}
   * + {@code merges.txt}, {@code preprocessor_config.json}.
   */
  HF_CLIP("hf"),
  /**
   * A Hugging Face transformers {@code SiglipModel} directory ({@code model_type "siglip"}: SigLIP
   * and fixed-resolution SigLIP2): {@code config.json}, {@code model.safetensors} (or {@code
   * pytorch_model.bin}, or shards with an index), {@code preprocessor_config.json}, {@code
   * tokenizer.json} (or {@code spiece.model}, tokenized as transformers' slow SiglipTokenizer).
   */
  HF_SIGLIP("hf-siglip"),
  /**
   * A TorchScript archive whose parameters are a CLIP state dict (OpenAI's {@code clip} package
   * {@code .pt} files, open_clip's {@code torch.jit.script} output): its weights are read from the
   * archive's {@code data.pkl} in Java (no code in it runs) and built like any checkpoint.
   */
  OPENAI_JIT("openai-jit"),
  /**
   * A bare checkpoint ({@code torch.save} state dict or safetensors, also training checkpoints
   * with a {@code state_dict} wrapper or {@code module.} prefixes) with its architecture given by
   * an open_clip model name ({@link LoadOptions#modelName()}).
   */
  CHECKPOINT("checkpoint"),
  /** A sentence-transformers directory ({@code modules.json}): a text-only model. */
  SENTENCE_TRANSFORMERS("sentence-transformers"),
  /**
   * A TorchScript program run as code ({@code encode_image}/{@code encode_text}): archives that
   * are not a CLIP state dict, or any archive when asked for explicitly.
   */
  TORCHSCRIPT("torchscript"),
  /** What {@code clip4j convert} / {@link ClipModel#save} writes: weights + a clip4j manifest. */
  CLIP4J_BUNDLE("clip4j-bundle");

  /** Name of the manifest inside a bundle's extra files. */
  public static final String BUNDLE_MANIFEST = "clip4j_manifest.json";

  private final String id;

  ModelFormat(String id) {
    this.id = id;
  }

  /** The stable name used in {@code info()} and on the command line. */
  public String id() {
    return id;
  }

  /** Parses {@link #id()} (or the constant name). */
  public static ModelFormat fromId(String s) {
    for (ModelFormat f : values()) {
      if (f.id.equalsIgnoreCase(s) || f.name().equalsIgnoreCase(s)) {
        return f;
      }
    }
    StringBuilder ids = new StringBuilder();
    for (ModelFormat f : values()) {
      ids.append(ids.length() == 0 ? "" : ", ").append(f.id);
    }
    throw new IllegalArgumentException("unknown model format '" + s + "' (" + ids + ")");
  }

  /**
   * Detects the format of {@code path} from its contents.
   *
   * @throws InvalidModelException naming the path and what was found
   */
  public static ModelFormat detect(Path path) {
    return ModelReaders.detect(path);
  }

  /** Reads up to {@code max} bytes of a stream (helper for small metadata entries). */
  static byte[] readBounded(InputStream in, int max, Path source) throws IOException {
    byte[] data = in.readNBytes(max + 1);
    if (data.length > max) {
      throw new InvalidModelException(source + ": metadata entry larger than " + max + " bytes");
    }
    return data;
  }
}
