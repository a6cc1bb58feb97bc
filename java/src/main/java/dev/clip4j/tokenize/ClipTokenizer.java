package dev.clip4j.tokenize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;
import dev.clip4j.InvalidModelException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.LongBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

/**
 * open_clip's {@code SimpleTokenizer} in Java, token for token: text cleaning ({@link
 * TextCleaner}: ftfy fixes, double HTML unescape, whitespace collapse, lower case), CLIP's
 * pre-tokenisation regex, byte-level BPE with the {@code </w>} end-of-word marker, then {@code
 * <start_of_text>} + ids + {@code <end_of_text>}, zero padding, and truncation to the context
 * length with the last position forced to EOT.
 *
 * <p>Vocabularies: open_clip's {@code bpe_simple_vocab_16e6.txt.gz} (gzip or plain text), or a
 * Hugging Face CLIP {@code vocab.json} + {@code merges.txt}. Immutable and thread-safe; BPE
 * results are kept in a bounded cache.
 *
 * <pre>{@code
 * ClipTokenizer tok = ClipTokenizer.fromDirectory(modelDir);
 * long[][] ids = tok.tokenize(List.of("a photo of a cat"), 77);
 * }</pre>
 */
public final class ClipTokenizer {
  /** open_clip reads merges lines [1, 49152 - 256 - 2 + 1) of the vocabulary file. */
  private static final int OPEN_CLIP_MERGES = 49152 - 256 - 2;
  private static final int MAX_VOCAB_BYTES = 64 << 20;
  private static final int MAX_WORD = 4096;
  private static final Pattern PAT = Pattern.compile(
      "<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
      Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE | Pattern.UNICODE_CHARACTER_CLASS);
  private static final String[] BYTE_ENCODER = bytesToUnicode();

  private final Map<String, Integer> encoder;
  private final Map<String, Integer> bpeRanks;
  private final int sot;
  private final int eot;
  private final Cache<String, int[]> cache = CacheBuilder.newBuilder().maximumSize(100_000).build();

  private ClipTokenizer(Map<String, Integer> encoder, Map<String, Integer> bpeRanks, int sot, int eot) {
    this.encoder = encoder;
    this.bpeRanks = bpeRanks;
    this.sot = sot;
    this.eot = eot;
  }

  /** GPT-2's reversible byte-to-unicode table, as open_clip builds it. */
  private static String[] bytesToUnicode() {
    List<Integer> bs = new ArrayList<>();
    for (int b = '!'; b <= '~'; b++) {
      bs.add(b);
    }
    for (int b = 0xa1; b <= 0xac; b++) {
      bs.add(b);
    }
    for (int b = 0xae; b <= 0xff; b++) {
      bs.add(b);
    }
    String[] table = new String[256];
    for (int b : bs) {
      table[b] = String.valueOf((char) b);
    }
    int n = 0;
    for (int b = 0; b < 256; b++) {
      if (table[b] == null) {
        table[b] = String.valueOf((char) (256 + n++));
      }
    }
    return table;
  }

  /** The byte-level base vocabulary in open_clip's order. */
  private static List<String> baseVocab() {
    List<String> v = new ArrayList<>(512);
    // open_clip: list(bytes_to_unicode().values()) — dict order = the bs order above, then the rest.
    List<Integer> order = new ArrayList<>();
    for (int b = '!'; b <= '~'; b++) {
      order.add(b);
    }
    for (int b = 0xa1; b <= 0xac; b++) {
      order.add(b);
    }
    for (int b = 0xae; b <= 0xff; b++) {
      order.add(b);
    }
    for (int b = 0; b < 256; b++) {
      if (!order.contains(b)) {
        order.add(b);
      }
    }
    for (int b : order) {
      v.add(BYTE_ENCODER[b]);
    }
    return v;
  }

  /** Loads open_clip's {@code bpe_simple_vocab_16e6.txt.gz} (gzip-compressed or plain). */
  public static ClipTokenizer fromBpeVocab(Path bpeVocab) {
    try {
      return fromBpeVocab(Files.readAllBytes(bpeVocab), bpeVocab.toString());
    } catch (IOException e) {
      throw new InvalidModelException(bpeVocab + ": cannot read the tokenizer vocabulary: " + e.getMessage(), e);
    }
  }

  /** Like {@link #fromBpeVocab(Path)} from the file's bytes; {@code source} names it in errors. */
  public static ClipTokenizer fromBpeVocab(byte[] bytes, String source) {
    String text = decode(gunzipIfNeeded(bytes, source), source);
    String[] lines = text.split("\n", -1);
    if (lines.length < 2) {
      throw new InvalidModelException(source + ": the BPE vocabulary has no merges");
    }
    int end = Math.min(lines.length, OPEN_CLIP_MERGES + 1);
    List<String[]> merges = new ArrayList<>(end);
    for (int i = 1; i < end; i++) {
      String[] parts = lines[i].trim().split("\\s+");
      if (lines[i].isBlank()) {
        continue; // the file's trailing newline
      }
      if (parts.length != 2) {
        throw new InvalidModelException(source + ": line " + (i + 1) + " is not a merge of two symbols: '"
            + abbreviate(lines[i]) + "'");
      }
      merges.add(parts);
    }
    List<String> vocab = baseVocab();
    List<String> withEnd = new ArrayList<>(vocab);
    for (String v : vocab) {
      withEnd.add(v + "</w>");
    }
    for (String[] m : merges) {
      withEnd.add(m[0] + m[1]);
    }
    withEnd.add("<start_of_text>");
    withEnd.add("<end_of_text>");
    Map<String, Integer> encoder = new HashMap<>(withEnd.size() * 2);
    for (int i = 0; i < withEnd.size(); i++) {
      encoder.put(withEnd.get(i), i);
    }
    Map<String, Integer> ranks = new HashMap<>(merges.size() * 2);
    for (int i = 0; i < merges.size(); i++) {
      ranks.putIfAbsent(merges.get(i)[0] + " " + merges.get(i)[1], i);
    }
    return new ClipTokenizer(encoder, ranks, encoder.get("<start_of_text>"), encoder.get("<end_of_text>"));
  }

  /** Loads a Hugging Face CLIP tokenizer: {@code vocab.json} (token → id) and {@code merges.txt}. */
  public static ClipTokenizer fromVocabAndMerges(Path vocabJson, Path mergesTxt) {
    JsonNode root;
    try {
      byte[] b = Files.readAllBytes(vocabJson);
      if (b.length > MAX_VOCAB_BYTES) {
        throw new InvalidModelException(vocabJson + ": vocabulary file too large");
      }
      root = new ObjectMapper().readTree(b);
    } catch (IOException e) {
      throw new InvalidModelException(vocabJson + ": not a valid vocab.json: " + e.getMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new InvalidModelException(vocabJson + ": vocab.json must be an object of token -> id");
    }
    Map<String, Integer> encoder = new HashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext();) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isInt() || e.getValue().asInt() < 0) {
        throw new InvalidModelException(vocabJson + ": id of token '" + abbreviate(e.getKey()) + "' is not a non-negative integer");
      }
      encoder.put(e.getKey(), e.getValue().asInt());
    }
    String text;
    try {
      text = decode(Files.readAllBytes(mergesTxt), mergesTxt.toString());
    } catch (IOException e) {
      throw new InvalidModelException(mergesTxt + ": cannot read: " + e.getMessage(), e);
    }
    Map<String, Integer> ranks = new HashMap<>();
    int rank = 0;
    String[] lines = text.split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i].trim();
      if (line.isEmpty() || (i == 0 && line.startsWith("#version"))) {
        continue;
      }
      String[] parts = line.split("\\s+");
      if (parts.length != 2) {
        throw new InvalidModelException(mergesTxt + ": line " + (i + 1) + " is not a merge of two symbols: '"
            + abbreviate(line) + "'");
      }
      ranks.putIfAbsent(parts[0] + " " + parts[1], rank++);
    }
    Integer sot = firstOf(encoder, "<start_of_text>", "<|startoftext|>");
    Integer eot = firstOf(encoder, "<end_of_text>", "<|endoftext|>");
    if (sot == null || eot == null) {
      throw new InvalidModelException(vocabJson + ": vocab.json lacks the start/end-of-text tokens");
    }
    Map<String, Integer> enc = new HashMap<>(encoder);
    enc.put("<start_of_text>", sot);
    enc.put("<end_of_text>", eot);
    return new ClipTokenizer(enc, ranks, sot, eot);
  }

  /**
   * Loads the tokenizer of a model directory: {@code bpe_simple_vocab_16e6.txt.gz}, or {@code
   * vocab.json} + {@code merges.txt}.
   */
  public static ClipTokenizer fromDirectory(Path dir) {
    Path bpe = dir.resolve("bpe_simple_vocab_16e6.txt.gz");
    if (Files.isRegularFile(bpe)) {
      return fromBpeVocab(bpe);
    }
    Path vocab = dir.resolve("vocab.json");
    Path merges = dir.resolve("merges.txt");
    if (Files.isRegularFile(vocab) && Files.isRegularFile(merges)) {
      return fromVocabAndMerges(vocab, merges);
    }
    throw new InvalidModelException(dir + ": no tokenizer vocabulary (looked for bpe_simple_vocab_16e6.txt.gz,"
        + " and for vocab.json + merges.txt)");
  }

  private static Integer firstOf(Map<String, Integer> m, String a, String b) {
    return m.containsKey(a) ? m.get(a) : m.get(b);
  }

  private static byte[] gunzipIfNeeded(byte[] bytes, String source) {
    if (bytes.length < 2 || (bytes[0] & 0xff) != 0x1f || (bytes[1] & 0xff) != 0x8b) {
      return bytes;
    }
    try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(bytes))) {
      byte[] out = in.readNBytes(MAX_VOCAB_BYTES + 1);
      if (out.length > MAX_VOCAB_BYTES) {
        throw new InvalidModelException(source + ": the decompressed vocabulary is larger than 64 MiB");
      }
      return out;
    } catch (IOException e) {
      throw new InvalidModelException(source + ": corrupt gzip vocabulary: " + e.getMessage(), e);
    }
  }

  private static String decode(byte[] bytes, String source) {
    try {
      return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      throw new InvalidModelException(source + ": the vocabulary is not valid UTF-8");
    }
  }

  private static String abbreviate(String s) {
    return s.length() > 60 ? s.substring(0, 60) + "..." : s;
  }

  /** The start-of-text id (49406 with open_clip's vocabulary). */
  public int sotToken() {
    return sot;
  }

  /** The end-of-text id (49407). */
  public int eotToken() {
    return eot;
  }

  /** Number of distinct ids. */
  public int vocabSize() {
    int max = 0;
    for (int v : encoder.values()) {
      max = Math.max(max, v);
    }
    return max + 1;
  }

  /** BPE ids of {@code text} after open_clip's cleaning, without SOT/EOT. */
  public int[] encode(String text) {
    Objects.requireNonNull(text, "text");
    String clean = TextCleaner.clean(text);
    List<Integer> ids = new ArrayList<>();
    Matcher m = PAT.matcher(clean);
    while (m.find()) {
      String token = m.group();
      for (int id : bpeIds(token)) {
        ids.add(id);
      }
    }
    int[] out = new int[ids.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = ids.get(i);
    }
    return out;
  }

  private int[] bpeIds(String token) {
    int[] cached = cache.getIfPresent(token);
    if (cached != null) {
      return cached;
    }
    int[] ids;
    if (token.equals("<start_of_text>") || token.equals("<end_of_text>")) {
      ids = new int[] {encoder.get(token)};
    } else {
      StringBuilder sb = new StringBuilder();
      for (byte b : token.getBytes(StandardCharsets.UTF_8)) {
        sb.append(BYTE_ENCODER[b & 0xff]);
      }
      List<String> pieces = bpe(sb.toString());
      ids = new int[pieces.size()];
      for (int i = 0; i < ids.length; i++) {
        Integer id = encoder.get(pieces.get(i));
        if (id == null) {
          throw new IllegalStateException("BPE produced '" + pieces.get(i) + "', which is not in the vocabulary");
        }
        ids[i] = id;
      }
    }
    if (token.length() <= MAX_WORD) {
      cache.put(token, ids);
    }
    return ids;
  }

  /** open_clip's bpe(): greedy lowest-rank pair merging over the word's symbols. */
  private List<String> bpe(String word) {
    List<String> symbols = new ArrayList<>();
    int n = word.length();
    for (int i = 0; i < n - 1; i++) {
      symbols.add(String.valueOf(word.charAt(i)));
    }
    symbols.add(word.charAt(n - 1) + "</w>");
    if (symbols.size() == 1) {
      return symbols;
    }
    while (symbols.size() > 1) {
      int best = Integer.MAX_VALUE;
      String first = null;
      String second = null;
      for (int i = 0; i < symbols.size() - 1; i++) {
        Integer r = bpeRanks.get(symbols.get(i) + " " + symbols.get(i + 1));
        if (r != null && r < best) {
          best = r;
          first = symbols.get(i);
          second = symbols.get(i + 1);
        }
      }
      if (first == null) {
        break;
      }
      List<String> merged = new ArrayList<>(symbols.size());
      int i = 0;
      while (i < symbols.size()) {
        if (i < symbols.size() - 1 && symbols.get(i).equals(first) && symbols.get(i + 1).equals(second)) {
          merged.add(first + second);
          i += 2;
        } else {
          merged.add(symbols.get(i));
          i++;
        }
      }
      symbols = merged;
    }
    return symbols;
  }

  /**
   * Writes SOT + ids + EOT, zero-padded, into {@code out[offset .. offset + contextLength)};
   * truncates to {@code contextLength} with EOT in the last position. Returns the number of real
   * tokens including SOT and EOT (the EOT position + 1).
   */
  public int tokenizeInto(String text, int contextLength, long[] out, int offset) {
    checkContext(contextLength);
    Objects.checkFromIndexSize(offset, contextLength, out.length);
    int[] ids = encode(text);
    int n = Math.min(ids.length + 2, contextLength);
    out[offset] = sot;
    for (int i = 1; i < n - 1; i++) {
      out[offset + i] = ids[i - 1];
    }
    out[offset + n - 1] = eot;
    for (int i = n; i < contextLength; i++) {
      out[offset + i] = 0;
    }
    return n;
  }

  /** Like {@link #tokenizeInto(String, int, long[], int)} with absolute puts into {@code out}. */
  public int tokenizeInto(String text, int contextLength, LongBuffer out, int offset) {
    checkContext(contextLength);
    Objects.checkFromIndexSize(offset, contextLength, out.limit());
    long[] row = new long[contextLength];
    int n = tokenizeInto(text, contextLength, row, 0);
    for (int i = 0; i < contextLength; i++) {
      out.put(offset + i, row[i]);
    }
    return n;
  }

  /** Tokenizes each text into a row of {@code contextLength} ids. */
  public long[][] tokenize(List<String> texts, int contextLength) {
    checkContext(contextLength);
    long[][] out = new long[texts.size()][contextLength];
    for (int i = 0; i < out.length; i++) {
      tokenizeInto(texts.get(i), contextLength, out[i], 0);
    }
    return out;
  }

  private static void checkContext(int contextLength) {
    if (contextLength < 2) {
      throw new IllegalArgumentException("contextLength must be >= 2 (SOT and EOT), got " + contextLength);
    }
  }
}
