package dev.clip4j.model;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.tokenize.TextTokenizer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * One description of a model, whatever format it came from: what a format reader makes of a path
 * and what the architecture registry builds a {@link ClipModel} from. Reading a description reads
 * configuration files only: no weights, and the model files are hashed for {@link #fileHashes()}
 * only when asked (building a model asks). {@link #read} is also how the tokenizer and the
 * preprocessing of a model are found without loading it. Immutable and thread-safe.
 */
public final class ModelDescription {
  private final ModelFormat format;
  private final Path path;
  private final Architecture architecture;
  private final PreprocessConfig preprocess;
  private final TokenizerSpec tokenizer;
  private final Supplier<Map<String, String>> hashes;
  private volatile Map<String, String> fileHashes;

  /**
   * @param format the format (its reader)
   * @param path the directory or file read
   * @param architecture what the model computes, with its weights
   * @param preprocess the image preprocessing (null: no image tower)
   * @param tokenizer the text tokenization (null: no text tower)
   * @param hashes computes the provenance: every file the model is read from, by name, with its
   *     SHA-256 (hex); called at most once
   */
  public ModelDescription(ModelFormat format, Path path, Architecture architecture, PreprocessConfig preprocess,
      TokenizerSpec tokenizer, Supplier<Map<String, String>> hashes) {
    this.format = Objects.requireNonNull(format, "format");
    this.path = Objects.requireNonNull(path, "path");
    this.architecture = Objects.requireNonNull(architecture, "architecture");
    this.preprocess = preprocess;
    this.tokenizer = tokenizer;
    this.hashes = Objects.requireNonNull(hashes, "hashes");
  }

  /** With hashes already known. */
  ModelDescription(ModelFormat format, Path path, Architecture architecture, PreprocessConfig preprocess,
      TokenizerSpec tokenizer, Map<String, String> hashes) {
    this(format, path, architecture, preprocess, tokenizer, () -> hashes);
  }

  public ModelFormat format() {
    return format;
  }

  public Path path() {
    return path;
  }

  public Architecture architecture() {
    return architecture;
  }

  /** The image preprocessing, or null when the model has no image tower. */
  public PreprocessConfig preprocess() {
    return preprocess;
  }

  /** The text tokenization, or null when the model has no text tower. */
  public TokenizerSpec tokenizer() {
    return tokenizer;
  }

  /** Provenance: every file the model is read from, by name, with its SHA-256 (hex); computed once. */
  public Map<String, String> fileHashes() {
    Map<String, String> h = fileHashes;
    if (h == null) {
      synchronized (this) {
        h = fileHashes;
        if (h == null) {
          h = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(hashes.get()));
          fileHashes = h;
        }
      }
    }
    return h;
  }

  /** Reads {@code path} with the default options (format detected from the contents). */
  public static ModelDescription read(Path path) {
    return read(path, LoadOptions.defaults());
  }

  /**
   * Reads {@code path}: the format is {@link LoadOptions#format()} or detected from the contents
   * (in {@code ModelReaders}, the one place formats are told apart), then that format's reader
   * describes the model.
   *
   * @throws dev.clip4j.InvalidModelException naming the path and what was wrong with it
   */
  public static ModelDescription read(Path path, LoadOptions options) {
    return ModelReaders.read(path, options);
  }

  /** Whether the model has an image tower. */
  public boolean hasImageTower() {
    return preprocess != null;
  }

  /** Whether the model has a text tower. */
  public boolean hasTextTower() {
    return tokenizer != null;
  }

  /**
   * A new tokenizer for the model's texts (close it if it is {@link AutoCloseable}).
   *
   * @throws Clip4jException UNSUPPORTED when the model has no text tower
   */
  public TextTokenizer openTokenizer() {
    if (tokenizer == null) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, path + " has no text tower");
    }
    return tokenizer.open();
  }

  /**
   * The image preprocessing.
   *
   * @throws Clip4jException UNSUPPORTED when the model has no image tower
   */
  public PreprocessConfig preprocessConfig() {
    if (preprocess == null) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, path + " has no image tower");
    }
    return preprocess;
  }

  /** The same description with another tokenizer (e.g. a vocabulary the caller names). */
  public ModelDescription withTokenizer(TokenizerSpec spec) {
    return new ModelDescription(format, path, architecture, preprocess, spec, hashes);
  }
}
