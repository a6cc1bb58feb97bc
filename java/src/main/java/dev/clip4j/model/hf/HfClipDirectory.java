package dev.clip4j.model.hf;

import com.fasterxml.jackson.databind.JsonNode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.LazyTensor;
import dev.clip4j.model.io.ShardedCheckpoint;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.tokenize.ClipTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A Hugging Face transformers CLIP directory, read: {@code config.json} ({@link HfClipConfig}),
 * the weights (mapped to open_clip's names by {@link HfClipWeights}, every key checked),
 * {@code preprocessor_config.json} ({@link HfPreprocessorConfig}; image towers) and {@code
 * vocab.json} + {@code merges.txt} (text towers).
 *
 * <p>Weights are looked for as transformers looks for them: {@code model.safetensors}, else
 * {@code model.safetensors.index.json} (sharded), else {@code pytorch_model.bin} (read by the
 * restricted unpickler), else {@code pytorch_model.bin.index.json}. TensorFlow / Flax-only
 * directories are refused naming their files. A file may be a symbolic link (the Hugging Face
 * cache's snapshots are links into its blob store).
 *
 * <p>Not thread-safe while opening; {@link #close()} releases the weights' mappings. The lazy
 * tensors of {@link #openClipWeights()} are valid until then.
 *
 * <pre>{@code
 * try (HfClipDirectory hf = HfClipDirectory.open(dir)) {
 *   ModelConfig cfg = hf.config().toModelConfig();
 *   MlpActivation act = hf.config().activation();
 *   for (LazyTensor t : hf.openClipWeights()) { ... t.load() ... }   // one tensor at a time
 *   PreprocessConfig pre = hf.preprocess();
 *   ClipTokenizer tok = hf.tokenizer();
 * }
 * }</pre>
 */
public final class HfClipDirectory implements AutoCloseable {
  /** The configuration file of a transformers directory. */
  public static final String CONFIG = "config.json";
  /** Weight files in the order transformers prefers them. */
  public static final List<String> WEIGHT_FILES = List.of(
      "model.safetensors", ShardedCheckpoint.SAFETENSORS_INDEX, "pytorch_model.bin", ShardedCheckpoint.TORCH_INDEX);
  private static final List<String> OTHER_FRAMEWORKS = List.of(
      "tf_model.h5", "flax_model.msgpack", "tf_model.h5.index.json", "flax_model.msgpack.index.json");

  private final Path dir;
  private final HfClipConfig config;
  private final PreprocessConfig preprocess;
  private final Path weightsFile;
  private final StateDict weights;
  private final List<LazyTensor> openClip;
  private final List<Path> filesRead;

  private HfClipDirectory(Path dir, HfClipConfig config, PreprocessConfig preprocess, Path weightsFile,
      StateDict weights, List<LazyTensor> openClip, List<Path> filesRead) {
    this.dir = dir;
    this.config = config;
    this.preprocess = preprocess;
    this.weightsFile = weightsFile;
    this.weights = weights;
    this.openClip = List.copyOf(openClip);
    this.filesRead = List.copyOf(filesRead);
  }

  /**
   * Whether {@code dir} looks like a transformers CLIP directory: a {@code config.json} whose
   * {@code model_type} is one {@link HfClipConfig.Kind} names. Reads at most that file; never
   * throws for a directory that is not one.
   */
  public static boolean looksLike(Path dir) {
    Path cfg = dir.resolve(CONFIG);
    if (!Files.isRegularFile(cfg)) {
      return false;
    }
    try {
      JsonNode mt = HfJson.readObject(cfg).get("model_type");
      if (mt == null || !mt.isTextual()) {
        return false;
      }
      for (HfClipConfig.Kind k : HfClipConfig.Kind.values()) {
        if (k.modelType().equals(mt.textValue())) {
          return true;
        }
      }
      return false;
    } catch (InvalidModelException e) {
      return false;
    }
  }

  /**
   * Opens and checks a directory: config, weights (every key, shape and dtype; all problems in
   * one message), preprocessing of an image tower (its crop must equal the tower's {@code
   * image_size}, as transformers' model refuses other sizes). The vocabulary is read by {@link
   * #tokenizer()}.
   *
   * @throws InvalidModelException naming the file and what is wrong
   */
  public static HfClipDirectory open(Path dir) {
    Objects.requireNonNull(dir, "dir");
    if (!Files.isDirectory(dir)) {
      throw new InvalidModelException(dir + " is not a directory");
    }
    List<Path> read = new ArrayList<>();
    Path cfgFile = dir.resolve(CONFIG);
    HfClipConfig config = HfClipConfig.parse(cfgFile);
    read.add(cfgFile);
    PreprocessConfig preprocess = null;
    if (config.hasVision()) {
      Path p = dir.resolve(HfPreprocessorConfig.FILE);
      if (!Files.exists(p)) {
        throw new InvalidModelException(dir + ": no " + HfPreprocessorConfig.FILE + ": the image preprocessing of a"
            + " transformers CLIP is stated there, and clip4j does not guess it");
      }
      preprocess = HfPreprocessorConfig.read(p);
      read.add(p);
      int size = config.vision().config().imageSize();
      if (preprocess.imageSize() != size) {
        throw new InvalidModelException(p + ": the processor makes " + preprocess.imageSize() + " px inputs but "
            + cfgFile + " says vision_config.image_size = " + size + " (transformers' model refuses that size)");
      }
    }
    Path weightsFile = findWeights(dir);
    StateDict sd = readWeights(weightsFile);
    read.add(weightsFile);
    try {
      List<LazyTensor> openClip = HfClipWeights.of(config).toOpenClip(sd.tensors(), weightsFile.toString());
      return new HfClipDirectory(dir, config, preprocess, weightsFile, sd, openClip, read);
    } catch (RuntimeException e) {
      sd.close();
      throw e;
    }
  }

  /**
   * The weights file of a transformers directory, looked for as transformers does ({@link
   * #WEIGHT_FILES} in order); TensorFlow / Flax-only directories are refused naming their files.
   *
   * @throws InvalidModelException when there is none
   */
  public static Path findWeights(Path dir) {
    for (String name : WEIGHT_FILES) {
      if (Files.exists(dir.resolve(name))) {
        return dir.resolve(name);
      }
    }
    List<String> others = OTHER_FRAMEWORKS.stream().filter(n -> Files.exists(dir.resolve(n))).toList();
    throw new InvalidModelException(dir + ": no PyTorch weights: looked for " + String.join(", ", WEIGHT_FILES)
        + (others.isEmpty() ? "" : "; found " + String.join(", ", others) + ", which clip4j does not read"
        + " (TensorFlow / Flax weights; save the model with PyTorch)"));
  }

  /** Opens a weights file found by {@link #findWeights}: safetensors, a shard index, or torch.save. */
  public static StateDict readWeights(Path weightsFile) {
    String name = weightsFile.getFileName().toString();
    if (name.endsWith(".index.json")) {
      return CheckpointReader.readSharded(weightsFile);
    }
    if (name.endsWith(".safetensors")) {
      return CheckpointReader.readSafetensors(weightsFile);
    }
    return CheckpointReader.readTorchZip(weightsFile);
  }

  /** The directory. */
  public Path dir() {
    return dir;
  }

  /** Its {@code config.json}. */
  public HfClipConfig config() {
    return config;
  }

  /** The preprocessing of its image tower (transformers' processor), or null for a text-only directory. */
  public PreprocessConfig preprocess() {
    return preprocess;
  }

  /** The weights file read (a safetensors or torch.save file, or a shard index). */
  public Path weightsFile() {
    return weightsFile;
  }

  /** The weights under transformers' names, as read (position_ids buffers included). */
  public StateDict hfWeights() {
    return weights;
  }

  /**
   * The weights under open_clip's names, in open_clip's order, checked; each made when loaded
   * (see {@link HfClipWeights#toOpenClip}).
   */
  public List<LazyTensor> openClipWeights() {
    return openClip;
  }

  /**
   * The files read so far (config, preprocessor config, weights file or index), for provenance.
   * With shards, the shard files are those the index names beside it.
   */
  public List<Path> filesRead() {
    return filesRead;
  }

  /**
   * The tokenizer of a text tower, from {@code vocab.json} + {@code merges.txt}; its end-of-text
   * id must be {@code vocab_size - 1} (where clip4j, as open_clip, pools) and all its ids must be
   * below the model's {@code vocab_size}.
   *
   * @throws InvalidModelException when the files are missing or malformed or do not fit the model
   * @throws IllegalStateException for an image-only directory
   */
  public ClipTokenizer tokenizer() {
    if (!config.hasText()) {
      throw new IllegalStateException(dir + " holds no text tower");
    }
    Path vocab = dir.resolve("vocab.json");
    Path merges = dir.resolve("merges.txt");
    if (!Files.exists(vocab) || !Files.exists(merges)) {
      throw new InvalidModelException(dir + ": the text tower's tokenizer needs vocab.json and merges.txt"
          + (Files.exists(dir.resolve("tokenizer.json")) ? " (tokenizer.json alone is not read)" : ""));
    }
    ClipTokenizer tok = ClipTokenizer.fromVocabAndMerges(vocab, merges);
    int modelVocab = config.text().config().vocabSize();
    if (tok.vocabSize() > modelVocab || tok.eotToken() != modelVocab - 1) {
      throw new InvalidModelException(vocab + ": " + tok.vocabSize() + " symbols, end-of-text id " + tok.eotToken()
          + "; the model (" + config.source() + ") has vocab_size " + modelVocab + " and pools at id " + (modelVocab - 1));
    }
    return tok;
  }

  @Override
  public void close() {
    weights.close();
  }
}
