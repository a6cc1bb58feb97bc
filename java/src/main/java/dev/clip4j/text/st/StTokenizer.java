package dev.clip4j.text.st;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.clip4j.InvalidModelException;
import dev.clip4j.tokenize.TextTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A Hugging Face {@code tokenizer.json} tokenizer (through DJL's binding of the Rust {@code
 * tokenizers} library), truncating to the pipeline's {@code max_seq_length} (special tokens
 * included, as sentence-transformers does). Owns a native handle: close it (the owning {@link
 * SentenceTransformerPipeline} does). Thread-safe.
 *
 * <p>No network access: the tokenizer is read from the model directory, never from the Hub, and
 * DJL's native library is the CPU build shipped inside its jar, extracted to DJL's cache
 * directory ({@code ~/.djl.ai}, or {@code DJL_CACHE_DIR} / {@code ENGINE_CACHE_DIR}). Two DJL
 * defaults would otherwise reach the network, so before DJL loads, clip4j sets these system
 * properties unless the caller has set them (as environment variables or system properties):
 * {@code RUST_FLAVOR=cpu} (on hosts where DJL detects CUDA it would download a CUDA build of the
 * library, which tokenization does not use) and {@code OPT_OUT_TRACKING=true} (DJL's usage
 * report, sent from EC2 hosts on each tokenizer creation).
 */
public final class StTokenizer implements TextTokenizer, AutoCloseable {
  /** DJL's switches (environment variable or system property) and clip4j's defaults for them. */
  static final Map<String, String> DJL_DEFAULTS = Map.of("RUST_FLAVOR", "cpu", "OPT_OUT_TRACKING", "true");

  static {
    DJL_DEFAULTS.forEach((key, value) -> {
      String env = System.getenv(key);
      if ((env == null || env.isEmpty()) && System.getProperty(key, "").isEmpty()) {
        System.setProperty(key, value);
      }
    });
  }

  private final HuggingFaceTokenizer tokenizer;
  private final int maxLength;
  private final long padId;
  private final Path json;

  /** Token ids and attention mask of a batch padded to its longest text, row-major [n, length]. */
  public record Batch(int size, int length, long[] ids, long[] mask) {}

  /**
   * Loads {@code dir/tokenizer.json}, truncating to {@code maxLength} ids (special tokens
   * included); {@code padId} is the encoder's padding id.
   *
   * @throws InvalidModelException when the file is missing or not a tokenizer DJL can load
   */
  public StTokenizer(Path dir, int maxLength, long padId) {
    Path json = dir.resolve("tokenizer.json");
    this.json = json;
    this.padId = padId;
    if (!Files.isRegularFile(json)) {
      throw new InvalidModelException(dir + ": no tokenizer.json");
    }
    Map<String, String> opts = new HashMap<>();
    opts.put("maxLength", Integer.toString(maxLength));
    opts.put("truncation", "true");
    opts.put("padding", "false");
    opts.put("addSpecialTokens", "true");
    try {
      this.tokenizer = HuggingFaceTokenizer.newInstance(json, opts);
    } catch (IOException | RuntimeException e) {
      throw new InvalidModelException(json + ": cannot load the tokenizer: " + e.getMessage(), e);
    }
    this.maxLength = maxLength;
  }

  /** The truncation length (sentence_bert_config.json max_seq_length). */
  @Override
  public int maxLength() {
    return maxLength;
  }

  /** Ids of one text, with [CLS]/[SEP] (or the model's special tokens), truncated. */
  @Override
  public long[] ids(String text) {
    return tokenizer.encode(Objects.requireNonNull(text, "text")).getIds();
  }

  @Override
  public long padId() {
    return padId;
  }

  @Override
  public String describe() {
    return "Hugging Face tokenizer.json (max_seq_length " + maxLength + ")";
  }

  /**
   * Tokenizes {@code texts} (each truncated to {@link #maxLength()}), padding every row with
   * {@code padId} (mask 0) to the longest one.
   */
  public Batch batch(List<String> texts, long padId) {
    Encoding[] enc = tokenizer.batchEncode(texts);
    int len = 1;
    for (Encoding e : enc) {
      len = Math.max(len, e.getIds().length);
    }
    long[] ids = new long[texts.size() * len];
    long[] mask = new long[texts.size() * len];
    java.util.Arrays.fill(ids, padId);
    for (int i = 0; i < enc.length; i++) {
      long[] x = enc[i].getIds();
      long[] m = enc[i].getAttentionMask();
      System.arraycopy(x, 0, ids, i * len, x.length);
      System.arraycopy(m, 0, mask, i * len, m.length);
    }
    return new Batch(texts.size(), len, ids, mask);
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
