package dev.clip4j.tokenize;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * open_clip's {@code HFTokenizer} (SigLIP, SigLIP2) over a Hugging Face {@code tokenizer.json} (or
 * a SentencePiece {@code spiece.model} converted to one, see {@link SentencePieceModel}),
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
  private static final String TOKENIZER_JSON = "tokenizer.json";
  private static final String SPIECE_MODEL = "spiece.model";

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
   * Loads {@code dir/tokenizer.json} or, when the directory has none, the SentencePiece model {@code
   * dir/spiece.model} converted as transformers converts a T5 tokenizer (see {@link
   * SentencePieceModel}); and the pad token of {@code dir/tokenizer_config.json}.
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
    Path json = dir.resolve(TOKENIZER_JSON);
    Path spiece = dir.resolve(SPIECE_MODEL);
    boolean fromJson = Files.isRegularFile(json) || !Files.isRegularFile(spiece);
    if (fromJson && !Files.exists(json)) {
      throw new InvalidModelException(dir + ": no tokenizer: expected a Hugging Face tokenizer.json or a SentencePiece"
          + " spiece.model");
    }
    JsonNode tok = fromJson ? readJson(json) : sentencePieceJson(spiece, readJson(configFile(dir)));
    this.padId = padId(dir, tok);
    Map<String, String> opts = new HashMap<>();
    opts.put("maxLength", Integer.toString(contextLength));
    opts.put("truncation", "true");
    opts.put("padding", "false");
    opts.put("addSpecialTokens", "true");
    Path file = fromJson ? json : spiece;
    try {
      if (fromJson) {
        this.tokenizer = HuggingFaceTokenizer.newInstance(json, opts);
      } else {
        byte[] text = new ObjectMapper().writeValueAsBytes(tok);
        this.tokenizer = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(text), opts);
      }
    } catch (IOException | RuntimeException e) {
      throw new InvalidModelException(file + ": cannot load the tokenizer: " + e.getMessage(), e);
    }
    this.contextLength = contextLength;
    this.clean = clean;
    String source = fromJson ? "Hugging Face tokenizer.json" : "SentencePiece spiece.model as T5's fast tokenizer";
    this.label = clean.equals("none")
        ? source + " (as transformers' processor: no cleaning, context " + contextLength + ", pad id " + padId + ")"
        : source + " (open_clip HFTokenizer, clean " + clean + ", context " + contextLength + ", pad id " + padId + ")";
  }

  /** The tokenizer file {@link #HfTextTokenizer(Path, int, String)} reads in {@code dir}: tokenizer.json first. */
  public static Path tokenizerFile(Path dir) {
    Path json = dir.resolve(TOKENIZER_JSON);
    Path spiece = dir.resolve(SPIECE_MODEL);
    return Files.isRegularFile(json) || !Files.isRegularFile(spiece) ? json : spiece;
  }

  /**
   * The Hugging Face tokenizer.json that transformers' T5 converter would make of a SentencePiece
   * model, with the sentinel count and {@code legacy} flag of the directory's tokenizer_config.json:
   * {@code extra_ids} when given, else T5Tokenizer's default of 100 for a T5 tokenizer class and none
   * for another; {@code legacy} when given, else true (T5Tokenizer's default).
   *
   * @throws InvalidModelException for a malformed model (see {@link SentencePieceModel#read}) or config
   */
  public static ObjectNode sentencePieceJson(Path spieceModel, JsonNode tokenizerConfig) {
    Path cfg = spieceModel.resolveSibling("tokenizer_config.json");
    JsonNode extra = tokenizerConfig.get("extra_ids");
    int extraIds;
    if (extra == null || extra.isNull()) {
      String cls = tokenizerConfig.path("tokenizer_class").asText("");
      extraIds = cls.equals("T5Tokenizer") || cls.equals("T5TokenizerFast") ? 100 : 0;
    } else if (extra.isIntegralNumber() && extra.canConvertToInt() && extra.intValue() >= 0
        && extra.intValue() <= SentencePieceModel.MAX_EXTRA_IDS) {
      extraIds = extra.intValue();
    } else {
      throw new InvalidModelException(cfg + ": extra_ids must be an integer in [0, " + SentencePieceModel.MAX_EXTRA_IDS
          + "], got " + extra);
    }
    JsonNode legacy = tokenizerConfig.get("legacy");
    if (legacy != null && !legacy.isNull() && !legacy.isBoolean()) {
      throw new InvalidModelException(cfg + ": legacy must be true, false or null, got " + legacy);
    }
    return SentencePieceModel.read(spieceModel).tokenizerJson(extraIds, legacy == null || !legacy.isBoolean()
        || legacy.booleanValue());
  }

  private static Path configFile(Path dir) {
    Path cfgFile = dir.resolve("tokenizer_config.json");
    if (!Files.isRegularFile(cfgFile)) {
      throw new InvalidModelException(dir + ": no tokenizer_config.json: its pad_token is what open_clip pads"
          + " SigLIP token rows with");
    }
    return cfgFile;
  }

  private static JsonNode readJson(Path file) {
    return readJsonObject(file, MAX_JSON_BYTES);
  }

  /** A tokenizer directory's JSON file as an object, refused past {@code maxBytes} before it is read. */
  static JsonNode readJsonObject(Path file, long maxBytes) {
    dev.clip4j.internal.UserFiles.requireRegularFile(file, InvalidModelException::new);
    try {
      if (Files.size(file) > maxBytes) {
        throw new InvalidModelException(file + ": larger than " + maxBytes + " bytes");
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
    Path cfgFile = configFile(dir);
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
    throw new InvalidModelException(cfgFile + ": pad_token '" + p + "' is not in " + tokenizerFile(dir));
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
