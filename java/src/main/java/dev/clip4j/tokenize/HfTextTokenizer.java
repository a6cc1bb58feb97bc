package dev.clip4j.tokenize;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.InvalidModelException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * open_clip's {@code HFTokenizer} (SigLIP, SigLIP2) over a Hugging Face {@code tokenizer.json},
 * through DJL's binding of the Rust {@code tokenizers} library (no network: the file is read from
 * the model directory): the text is cleaned as {@code tokenizer_kwargs.clean} says ({@code
 * canonicalize}: ftfy, HTML unescape, {@code _} to space, ASCII punctuation removed, lower case,
 * whitespace collapsed; {@code lower}; {@code whitespace}), then encoded with the tokenizer's
 * special tokens and truncated to the context length. open_clip pads every row to the context
 * length with the tokenizer's pad token ({@code padding='max_length'}); {@link #ids} returns the
 * unpadded ids and {@link #padId()} the pad id (from {@code tokenizer_config.json}'s {@code
 * pad_token}), which the text tower pads with.
 *
 * <p>Owns a native handle: close it. Thread-safe.
 */
public final class HfTextTokenizer implements TextTokenizer, AutoCloseable {
  private static final long MAX_JSON_BYTES = 64L << 20;

  static {
    // DJL's network defaults off, as for sentence-transformers tokenizers (see StTokenizer).
    for (String[] kv : new String[][] {{"RUST_FLAVOR", "cpu"}, {"OPT_OUT_TRACKING", "true"}}) {
      String env = System.getenv(kv[0]);
      if ((env == null || env.isEmpty()) && System.getProperty(kv[0], "").isEmpty()) {
        System.setProperty(kv[0], kv[1]);
      }
    }
  }

  private final HuggingFaceTokenizer tokenizer;
  private final int contextLength;
  private final long padId;
  private final String clean;
  private final String label;

  /**
   * Loads {@code dir/tokenizer.json} and the pad token of {@code dir/tokenizer_config.json}.
   *
   * @param clean "canonicalize", "lower" or "whitespace" (open_clip's {@code get_clean_fn}), or "none":
   *     the text as given, as transformers' processors tokenize it
   * @throws InvalidModelException when a file is missing, unreadable, or names no pad token
   */
  public HfTextTokenizer(Path dir, int contextLength, String clean) {
    Objects.requireNonNull(dir, "dir");
    if (!clean.equals("canonicalize") && !clean.equals("lower") && !clean.equals("whitespace")
        && !clean.equals("none")) {
      throw new IllegalArgumentException("clean must be canonicalize, lower, whitespace or none, got " + clean);
    }
    if (contextLength < 2) {
      throw new IllegalArgumentException("context length must be >= 2, got " + contextLength);
    }
    Path json = dir.resolve("tokenizer.json");
    JsonNode tok = readJson(json);
    this.padId = padId(dir, tok);
    Map<String, String> opts = new HashMap<>();
    opts.put("maxLength", Integer.toString(contextLength));
    opts.put("truncation", "true");
    opts.put("padding", "false");
    opts.put("addSpecialTokens", "true");
    try {
      this.tokenizer = HuggingFaceTokenizer.newInstance(json, opts);
    } catch (IOException | RuntimeException e) {
      throw new InvalidModelException(json + ": cannot load the tokenizer: " + e.getMessage(), e);
    }
    this.contextLength = contextLength;
    this.clean = clean;
    this.label = clean.equals("none")
        ? "Hugging Face tokenizer.json (as transformers' processor: no cleaning, context " + contextLength + ", pad id "
            + padId + ")"
        : "Hugging Face tokenizer.json (open_clip HFTokenizer, clean " + clean + ", context " + contextLength
            + ", pad id " + padId + ")";
  }

  private static JsonNode readJson(Path file) {
    dev.clip4j.internal.UserFiles.requireRegularFile(file, InvalidModelException::new);
    try {
      if (Files.size(file) > MAX_JSON_BYTES) {
        throw new InvalidModelException(file + ": larger than " + MAX_JSON_BYTES + " bytes");
      }
      JsonNode n = new ObjectMapper().readTree(Files.readAllBytes(file));
      if (n == null || !n.isObject()) {
        throw new InvalidModelException(file + ": expected a JSON object");
      }
      return n;
    } catch (IOException e) {
      throw new InvalidModelException(file + ": cannot read: " + e.getMessage(), e);
    }
  }

  /**
   * The pad token's id, as {@code AutoTokenizer}'s {@code pad_token_id}: {@code pad_token} of
   * tokenizer_config.json (a string or {@code {"content": ...}}), looked up among the added
   * tokens, then the model's vocabulary. Refused when absent (open_clip pads with it).
   */
  private static long padId(Path dir, JsonNode tok) {
    Path cfgFile = dir.resolve("tokenizer_config.json");
    if (!Files.isRegularFile(cfgFile)) {
      throw new InvalidModelException(dir + ": no tokenizer_config.json: its pad_token is what open_clip pads"
          + " SigLIP token rows with");
    }
    JsonNode cfg = readJson(cfgFile);
    JsonNode pad = cfg.get("pad_token");
    if (pad != null && pad.isObject()) {
      pad = pad.get("content");
    }
    if (pad == null || !pad.isTextual()) {
      throw new InvalidModelException(cfgFile + ": no pad_token (open_clip pads SigLIP token rows with it)");
    }
    String p = pad.textValue();
    for (JsonNode a : tok.path("added_tokens")) {
      if (p.equals(a.path("content").asText(null)) && a.path("id").canConvertToLong()) {
        return a.get("id").asLong();
      }
    }
    JsonNode vocab = tok.path("model").path("vocab");
    if (vocab.isObject() && vocab.has(p) && vocab.get(p).canConvertToLong()) {
      return vocab.get(p).asLong();
    }
    if (vocab.isArray()) { // Unigram: [[piece, score], ...], id = index
      for (int i = 0; i < vocab.size(); i++) {
        if (p.equals(vocab.get(i).path(0).asText(null))) {
          return i;
        }
      }
    }
    throw new InvalidModelException(cfgFile + ": pad_token '" + p + "' is not in " + dir.resolve("tokenizer.json"));
  }

  /** open_clip's cleaning ({@code get_clean_fn(clean)}) of one text; the text itself for "none". */
  public String cleanText(String text) {
    Objects.requireNonNull(text, "text");
    return clean.equals("none") ? text : TextCleaner.openClipHfClean(text, clean);
  }

  @Override
  public int maxLength() {
    return contextLength;
  }

  @Override
  public long[] ids(String text) {
    long[] ids = tokenizer.encode(cleanText(text)).getIds();
    if (ids.length == 0) {
      return new long[] {padId}; // an empty row: open_clip's is all padding
    }
    return ids;
  }

  @Override
  public long padId() {
    return padId;
  }

  @Override
  public String describe() {
    return label;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
