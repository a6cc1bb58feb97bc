package dev.clip4j.tokenize;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.InvalidModelException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * transformers' slow {@code SiglipTokenizer} (SigLIP v1 hub directories that ship only {@code
 * spiece.model}) as {@code SiglipProcessor(padding="max_length", max_length=context,
 * truncation=True)} runs it, step by step:
 *
 * <ol>
 *   <li>{@code ▁} prepended, every {@code ▁} of the text made a space;
 *   <li>with {@code do_lower_case} (transformers' default), each code point lower-cased on its own
 *       (Python's {@code str.lower}; Java's root-locale rules agree code point by code point),
 *       except where a special token's text starts;
 *   <li>the text split at the special tokens ({@code </s>}, {@code <unk>}, the pad token), each of
 *       which strips whitespace (Python's {@code str.isspace}) from its neighbours ({@code
 *       lstrip}/{@code rstrip} of its {@code added_tokens_decoder} entry; both by default);
 *   <li>every other run canonicalized ({@code string.punctuation}, ASCII only, removed; runs of
 *       Python {@code \s} made one space; stripped), then encoded by sentencepiece with {@code
 *       add_dummy_prefix} off as {@code "<unk>" + run}, and the pieces of {@code "<unk>"} alone
 *       dropped (transformers' trick, kept literally: a piece may straddle the boundary);
 *   <li>a leading {@code ▁} piece dropped when a special token follows it;
 *   <li>truncated to {@code context - 1} ids, {@code </s>} appended unless already last; rows are
 *       padded with the pad token (by the text tower).
 * </ol>
 *
 * The sentencepiece encoding runs through DJL's tokenizers binding over {@link
 * SentencePieceModel#encoderJsonWithoutDummyPrefix()}. The directory's {@code tokenizer_config.json}
 * is checked by {@link #checkConfig}: what clip4j cannot reproduce is refused by name, never
 * guessed.
 *
 * <p>Owns a native handle: close it. Thread-safe.
 */
public final class SiglipSlowTokenizer implements TextTokenizer, AutoCloseable {
  static final String SPACE = "\u2581";

  /** A special token: its text, id, and whether it strips whitespace on its left / right. */
  record Special(String content, long id, boolean lstrip, boolean rstrip) {}

  /** What {@code tokenizer_config.json} says, checked. */
  public record Config(boolean lowerCase, String eos, String unk, String pad, Map<String, boolean[]> strip) {}

  private final HuggingFaceTokenizer encoder;
  private final int contextLength;
  private final boolean lowerCase;
  private final List<Special> specials; // in transformers' all_special_tokens order (eos, unk, pad)
  private final long eosId;
  private final long padId;
  private final long spaceId;
  private final int unkLength;
  private final String unk;
  private final String label;

  /**
   * Reads {@code dir/spiece.model} and {@code dir/tokenizer_config.json} (absent: SiglipTokenizer's
   * defaults, as transformers' AutoTokenizer uses them for a {@code siglip} config.json).
   *
   * @throws InvalidModelException when a file is missing or malformed, or the config asks for what
   *     clip4j cannot reproduce (see {@link #checkConfig})
   */
  public SiglipSlowTokenizer(Path dir, int contextLength) {
    Objects.requireNonNull(dir, "dir");
    if (contextLength < 2) {
      throw new IllegalArgumentException("context length must be >= 2, got " + contextLength);
    }
    Path spiece = dir.resolve("spiece.model");
    Config cfg = checkConfig(dir);
    SentencePieceModel sp = SentencePieceModel.read(spiece);
    Map<String, Integer> ids = new HashMap<>();
    List<String> problems = new ArrayList<>();
    for (int i = 0; i < sp.pieces().size(); i++) {
      SentencePieceModel.Piece p = sp.pieces().get(i);
      ids.putIfAbsent(p.piece(), i);
      if (p.type() == SentencePieceModel.PieceType.USER_DEFINED) {
        problems.add("piece " + i + " '" + p.piece() + "' is user-defined, which sentencepiece matches before its"
            + " search; clip4j's SiglipTokenizer does not model that");
      }
    }
    Integer space = ids.get(SPACE);
    if (space == null || sp.pieces().get(space).type() != SentencePieceModel.PieceType.NORMAL) {
      problems.add("no normal piece '" + SPACE + "' (SiglipTokenizer drops a leading one before a special token)");
    }
    Path cfgFile = dir.resolve("tokenizer_config.json");
    List<Special> sp2 = new ArrayList<>();
    for (String t : new String[] {cfg.eos(), cfg.unk(), cfg.pad()}) {
      if (sp2.stream().anyMatch(s -> s.content().equals(t))) {
        continue;
      }
      Integer id = ids.get(t);
      if (id == null) {
        problems.add(cfgFile + ": special token '" + t + "' is not a piece of " + spiece);
        continue;
      }
      boolean[] st = cfg.strip().getOrDefault(t, new boolean[] {true, true});
      sp2.add(new Special(t, id, st[0], st[1]));
    }
    if (!problems.isEmpty()) {
      throw new InvalidModelException(spiece + ": cannot tokenize as transformers' SiglipTokenizer: "
          + String.join("; ", problems));
    }
    this.specials = List.copyOf(sp2);
    this.eosId = ids.get(cfg.eos());
    this.padId = ids.get(cfg.pad());
    this.spaceId = space;
    this.lowerCase = cfg.lowerCase();
    this.contextLength = contextLength;
    Map<String, String> opts = new HashMap<>();
    opts.put("truncation", "false");
    opts.put("padding", "false");
    opts.put("addSpecialTokens", "false");
    try {
      byte[] json = new ObjectMapper().writeValueAsBytes(sp.encoderJsonWithoutDummyPrefix());
      this.encoder = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(json), opts);
    } catch (IOException | RuntimeException e) {
      throw new InvalidModelException(spiece + ": cannot load the tokenizer: " + e.getMessage(), e);
    }
    this.unk = cfg.unk();
    this.unkLength = encoder.encode(cfg.unk(), false, false).getIds().length;
    this.label = "SentencePiece spiece.model as transformers' slow SiglipTokenizer (do_lower_case " + lowerCase
        + ", context " + contextLength + ", pad id " + padId
        + (Files.exists(dir.resolve("tokenizer_config.json")) ? "" : "; no tokenizer_config.json: SiglipTokenizer's defaults")
        + ")";
  }

  /**
   * Checks {@code dir/tokenizer_config.json} as transformers' {@code SiglipTokenizer} reads it:
   * {@code tokenizer_class} SiglipTokenizer (or absent: AutoTokenizer then picks SiglipTokenizer for
   * a SigLIP); {@code do_lower_case} a boolean or absent (true); {@code eos_token}, {@code
   * unk_token}, {@code pad_token} strings or {@code {"content": ...}} or absent ({@code </s>},
   * {@code <unk>}, {@code </s>}); {@code added_tokens_decoder} entries only for those tokens, not
   * {@code single_word}; no {@code additional_special_tokens}, {@code sp_model_kwargs} (sampling)
   * or {@code split_special_tokens}. Keys that only decoding reads are ignored. No file at all: every
   * default (AutoTokenizer picks SiglipTokenizer for a {@code siglip} config.json and constructs it
   * with its defaults; the description says so).
   *
   * @throws InvalidModelException listing every problem
   */
  public static Config checkConfig(Path dir) {
    Path cfgFile = dir.resolve("tokenizer_config.json");
    boolean present = Files.exists(cfgFile, java.nio.file.LinkOption.NOFOLLOW_LINKS); // a broken link is read, and refused
    JsonNode cfg = present ? readJson(cfgFile) : new ObjectMapper().createObjectNode();
    List<String> problems = new ArrayList<>();
    JsonNode cls = cfg.get("tokenizer_class");
    if (cls != null && !cls.isNull() && !"SiglipTokenizer".equals(cls.asText(null))) {
      problems.add("tokenizer_class " + cls + ": with only a spiece.model clip4j tokenizes as transformers'"
          + " SiglipTokenizer, and does not guess how " + cls + " differs (UNSUPPORTED)");
    }
    boolean lower = true;
    JsonNode lc = cfg.get("do_lower_case");
    if (lc != null && !lc.isNull()) {
      if (lc.isBoolean()) {
        lower = lc.booleanValue();
      } else {
        problems.add("do_lower_case must be true or false, got " + lc);
      }
    }
    String eos = token(cfg, "eos_token", "</s>", problems);
    String unk = token(cfg, "unk_token", "<unk>", problems);
    String pad = token(cfg, "pad_token", "</s>", problems);
    JsonNode extra = cfg.get("additional_special_tokens");
    if (extra != null && !extra.isNull() && !(extra.isArray() && extra.isEmpty())) {
      problems.add("additional_special_tokens " + extra + " (clip4j's SiglipTokenizer has none: UNSUPPORTED)");
    }
    JsonNode kwargs = cfg.get("sp_model_kwargs");
    if (kwargs != null && !kwargs.isNull() && !(kwargs.isObject() && kwargs.isEmpty())) {
      problems.add("sp_model_kwargs " + kwargs + " (sentencepiece options such as sampling: UNSUPPORTED)");
    }
    JsonNode split = cfg.get("split_special_tokens");
    if (split != null && !split.isNull() && !(split.isBoolean() && !split.booleanValue())) {
      problems.add("split_special_tokens " + split + " (UNSUPPORTED)");
    }
    Map<String, boolean[]> strip = new LinkedHashMap<>();
    JsonNode added = cfg.get("added_tokens_decoder");
    if (added != null && !added.isNull()) {
      if (!added.isObject()) {
        problems.add("added_tokens_decoder must be an object, got " + added.getNodeType());
      } else {
        for (Iterator<Map.Entry<String, JsonNode>> it = added.fields(); it.hasNext();) {
          Map.Entry<String, JsonNode> e = it.next();
          JsonNode a = e.getValue();
          String content = a.path("content").asText(null);
          if (content == null || !(content.equals(eos) || content.equals(unk) || content.equals(pad))) {
            problems.add("added_tokens_decoder." + e.getKey() + " adds '" + content + "', not the eos, unk or pad"
                + " token (UNSUPPORTED)");
            continue;
          }
          if (a.path("single_word").asBoolean(false)) {
            problems.add("added_tokens_decoder." + e.getKey() + " is single_word (UNSUPPORTED)");
          }
          JsonNode l = a.get("lstrip");
          JsonNode r = a.get("rstrip");
          if (l != null && !l.isBoolean() || r != null && !r.isBoolean()) {
            problems.add("added_tokens_decoder." + e.getKey() + ": lstrip and rstrip must be booleans");
            continue;
          }
          strip.put(content, new boolean[] {l != null && l.booleanValue(), r != null && r.booleanValue()});
        }
      }
    }
    if (!problems.isEmpty()) {
      throw new InvalidModelException(cfgFile + ": " + String.join("; ", problems));
    }
    return new Config(lower, eos, unk, pad, strip);
  }

  private static String token(JsonNode cfg, String key, String dflt, List<String> problems) {
    JsonNode t = cfg.get(key);
    if (t == null || t.isNull()) {
      return dflt;
    }
    if (t.isObject()) {
      t = t.get("content");
    }
    if (t == null || !t.isTextual() || t.textValue().isEmpty()) {
      problems.add(key + " must be a non-empty string or {\"content\": string}, got " + cfg.get(key));
      return dflt;
    }
    return t.textValue();
  }

  private static JsonNode readJson(Path file) {
    return HfTextTokenizer.readJsonObject(file, 16L << 20);
  }

  /** Python's {@code str.isspace} (the characters {@code \s}, {@code strip()} and friends use). */
  static boolean isPySpace(int c) {
    return c >= 0x09 && c <= 0x0d || c >= 0x1c && c <= 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680
        || c >= 0x2000 && c <= 0x200a || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
  }

  static String pyStrip(String s, boolean left, boolean right) {
    int a = 0;
    int b = s.length();
    while (left && a < b && isPySpace(s.charAt(a))) {
      a++;
    }
    while (right && b > a && isPySpace(s.charAt(b - 1))) {
      b--;
    }
    return s.substring(a, b);
  }

  /** SiglipTokenizer.canonicalize_text: ASCII punctuation removed, whitespace runs to one space, stripped. */
  static String canonicalize(String text) {
    StringBuilder sb = new StringBuilder(text.length());
    boolean inSpace = false;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c < 0x80 && c > 0x20 && c != 0x7f && !Character.isLetterOrDigit(c)) {
        continue; // string.punctuation: the 32 printable ASCII characters that are neither letters nor digits
      }
      if (isPySpace(c)) {
        if (!inSpace) {
          sb.append(' ');
        }
        inSpace = true;
      } else {
        sb.append(c);
        inSpace = false;
      }
    }
    return pyStrip(sb.toString(), true, true);
  }

  private Special specialAt(String s, int i) {
    Special best = null;
    for (Special t : specials) {
      if (s.startsWith(t.content(), i) && (best == null || t.content().length() > best.content().length())) {
        best = t;
      }
    }
    return best;
  }

  private String lower(String s) {
    StringBuilder sb = new StringBuilder(s.length());
    int i = 0;
    while (i < s.length()) {
      Special first = null;
      for (Special t : specials) { // a regex alternation: the first token listed that matches here
        if (s.startsWith(t.content(), i)) {
          first = t;
          break;
        }
      }
      if (first != null) {
        sb.append(first.content());
        i += first.content().length();
        continue;
      }
      int cp = s.codePointAt(i);
      sb.append(new String(Character.toChars(cp)).toLowerCase(Locale.ROOT));
      i += Character.charCount(cp);
    }
    return sb.toString();
  }

  /** The token ids transformers' SiglipTokenizer gives {@code text}, truncated, {@code </s>} last, unpadded. */
  @Override
  public long[] ids(String text) {
    Objects.requireNonNull(text, "text");
    String s = SPACE + text.replace(SPACE, " ");
    if (lowerCase) {
      s = lower(s);
    }
    // split at the special tokens, leftmost first
    List<Object> parts = new ArrayList<>(); // String runs and Special tokens
    int start = 0;
    int i = 0;
    while (i < s.length()) {
      Special t = specialAt(s, i);
      if (t == null) {
        i++;
        continue;
      }
      parts.add(s.substring(start, i));
      parts.add(t);
      i += t.content().length();
      start = i;
    }
    parts.add(s.substring(start));
    for (int k = 0; k < parts.size(); k++) {
      if (parts.get(k) instanceof Special t) {
        if (t.rstrip() && k + 1 < parts.size() && parts.get(k + 1) instanceof String r) {
          parts.set(k + 1, pyStrip(r, true, false));
        }
        if (t.lstrip() && k > 0 && parts.get(k - 1) instanceof String l) {
          parts.set(k - 1, pyStrip(l, false, true));
        }
      }
    }
    List<Long> out = new ArrayList<>();
    boolean firstIsSpacePiece = false;
    boolean secondIsSpecial = false;
    for (Object p : parts) {
      if (p instanceof Special t) {
        if (out.size() == 1) {
          secondIsSpecial = true;
        }
        out.add(t.id());
      } else if (!((String) p).isEmpty()) {
        String run = canonicalize((String) p);
        long[] pieces = encoder.encode(unk + run, false, false).getIds();
        int from = pieces.length >= unkLength ? unkLength : 0;
        for (int j = from; j < pieces.length; j++) {
          if (out.isEmpty()) {
            firstIsSpacePiece = pieces[j] == spaceId;
          }
          out.add(pieces[j]);
        }
      }
    }
    if (firstIsSpacePiece && secondIsSpecial) {
      out.remove(0);
    }
    int n = Math.min(out.size(), contextLength - 1);
    long[] ids = new long[n + 1];
    for (int k = 0; k < n; k++) {
      ids[k] = out.get(k);
    }
    if (n > 0 && ids[n - 1] == eosId) {
      return Arrays.copyOf(ids, n);
    }
    ids[n] = eosId;
    return ids;
  }

  @Override
  public int maxLength() {
    return contextLength;
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
    encoder.close();
  }
}
