package dev.clip4j.text.st;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.clip4j.InvalidModelException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A Hugging Face {@code tokenizer.json} tokenizer (through DJL's binding of the Rust {@code
 * tokenizers} library, whose native library ships in its jar; nothing is downloaded), truncating
 * to the pipeline's {@code max_seq_length}. Owns a native handle: close it. Thread-safe.
 */
public final class StTokenizer implements AutoCloseable {
  private final HuggingFaceTokenizer tokenizer;
  private final int maxLength;

  /** Token ids and attention mask of a batch padded to its longest text, row-major [n, length]. */
  public record Batch(int size, int length, long[] ids, long[] mask) {}

  StTokenizer(Path dir, int maxLength) {
    Path json = dir.resolve("tokenizer.json");
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
  public int maxLength() {
    return maxLength;
  }

  /** Ids of one text, with [CLS]/[SEP] (or the model's special tokens), truncated. */
  public long[] ids(String text) {
    return tokenizer.encode(Objects.requireNonNull(text, "text")).getIds();
  }

  /** Tokenizes {@code texts}, padding with 0 (mask 0) to the longest one. */
  public Batch batch(List<String> texts) {
    Encoding[] enc = tokenizer.batchEncode(texts);
    int len = 1;
    for (Encoding e : enc) {
      len = Math.max(len, e.getIds().length);
    }
    long[] ids = new long[texts.size() * len];
    long[] mask = new long[texts.size() * len];
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
