package dev.clip4j.tokenize;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.internal.UserFiles;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
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
import java.util.zip.GZIPInputStream;

/**
 * open_clip 2.20.0's {@code SimpleTokenizer} and {@code tokenize()} in pure Java: the same ids
 * for the same text.
 *
 * <h2>Pipeline</h2>
 *
 * <ol>
 *   <li>ftfy 6.1.1 {@code fix_text} (default configuration), per line: HTML entities ending in
 *       ';' (the complete HTML5 table, all-caps variants such as {@code &EACUTE;}, numeric
 *       references; switched off from the first line containing '<' on, as ftfy's "auto" does),
 *       mojibake repair ({@code fix_encoding}: ftfy's badness heuristic decides whether the line
 *       looks like mojibake; if so it is re-encoded in Latin-1, sloppy Windows-1252/1251/1250/
 *       1253/1254, ISO-8859-2, MacRoman or CP437 and decoded as UTF-8 or CESU-8/Java modified
 *       UTF-8, with no-break spaces restored and lossy sequences replaced; else inconsistent
 *       UTF-8 mojibake is fixed piece by piece; Latin-1 C1 controls are read as Windows-1252),
 *       C1 controls read as Windows-1252, Latin ligatures ('ﬁ' to "fi"), full-/half-width forms
 *       and U+3000, curly quotes to straight ones, line breaks (CRLF, CR, U+2028/9, U+0085) to
 *       '\n', unpaired surrogates to U+FFFD, ANSI terminal escapes and control characters
 *       removed, NFC; repeated until the line stops changing. Checked against ftfy's own test
 *       suite and generated mojibake (see tools/reference/ftfy_cases.py).
 *   <li>Python's {@code html.unescape} twice (HTML5 rules, including names without ';' and
 *       longest-prefix matching), then {@code strip()}.
 *   <li>Runs of whitespace ({@code \s+}) to one space, strip, lower case as CPython's {@code
 *       str.lower()} does it (including its Final_Sigma rule for 'Σ', which differs from the
 *       JDK's).
 *   <li>Pre-tokenisation with CLIP's pattern (see {@link PreTokenizer}); {@code <start_of_text>}
 *       and {@code <end_of_text>} in the text become the special ids.
 *   <li>Byte-level BPE with {@code </w>} end-of-word markers, merges ranked by line order.
 * </ol>
 *
 * <h2>Not reproduced</h2>
 *
 * <ul>
 *   <li>Unicode versions: letters, numbers, case mapping and NFC come from the JDK (Java 17:
 *       Unicode 13), while the reference used Python 3.11 (Unicode 14) and the {@code regex}
 *       module (newer). Characters assigned after Unicode 13 may be classed or cased
 *       differently; for every character Java 17 knows, letter/number/space classes, case
 *       mapping and case properties were checked equal to the reference's (U+1734 aside).
 *   <li>Texts whose ftfy repair exceeds clip4j's work budget (see "Cost") are refused, not
 *       tokenized. The smallest such texts are a few thousand characters of chained mojibake,
 *       which open_clip cleans in about a second; its time grows with the square of the length
 *       (14 s at 12,000 characters, about a day at a megabyte).
 *   <li>A Python string can hold a high and a low surrogate as two separate code points; a Java
 *       string cannot tell them from the supplementary character they pair into, and clip4j
 *       reads them as that character. ftfy joins such pairs anyway ({@code fix_surrogates}), so
 *       only its mojibake heuristic could see the difference.
 * </ul>
 *
 * <h2>Cost</h2>
 *
 * Linear in the text for ordinary input (BPE is O(n log n) per word); text without mojibake
 * clues costs one pass of the heuristic, and printable ASCII without '&' skips ftfy altogether.
 * Like ftfy, each line is re-fixed until stable. On a few inputs each round repairs only a little
 * (mojibake where every repair exposes the next, or HTML escaped thousands of times over), and
 * there ftfy's time, in open_clip too, grows with the square of the length. clip4j does the same
 * work up to a budget (2^22 characters plus 64 passes over the text; seconds for a megabyte) and
 * refuses the text with an {@link InvalidInputException} beyond it; texts that stay under it get
 * open_clip's exact ids.
 *
 * <h2>Vocabulary</h2>
 *
 * Either open_clip's {@code bpe_simple_vocab_16e6.txt.gz} (merges only; the vocabulary is built as
 * open_clip builds it: 256 byte symbols, the same with {@code </w>}, each merge joined, then
 * {@code <start_of_text>} and {@code <end_of_text>}) or the Hugging Face CLIP layout ({@code
 * vocab.json} + {@code merges.txt}). Both read at most 48,894 merges (49152 - 256 - 2), as
 * open_clip and Hugging Face's CLIPTokenizer do.
 *
 * <h2>Thread safety and ownership</h2>
 *
 * Immutable and thread-safe; one instance may serve any number of threads. BPE results are cached
 * in a bounded, concurrent cache. Output arrays and buffers belong to the caller.
 *
 * <pre>{@code
 * ClipTokenizer tok = ClipTokenizer.fromDirectory(modelDir);
 * long[][] ids = tok.tokenize(List.of("a photo of a cat"), 77); // [[49406, 320, ..., 49407, 0...]]
 * }</pre>
 */
public final class ClipTokenizer {
  /** 49152 - 256 - 2: how many merges open_clip and Hugging Face read. */
  static final int MAX_MERGES = 49152 - 256 - 2;

  private static final String BPE_FILE = "bpe_simple_vocab_16e6.txt.gz";
  private static final String BPE_PLAIN_FILE = "bpe_simple_vocab_16e6.txt";
  static final String VOCAB_FILE = "vocab.json";
  static final String MERGES_FILE = "merges.txt";
  static final String HF_SOT = "<|startoftext|>";
  static final String HF_EOT = "<|endoftext|>";

  private final BytePairEncoder bpe;
  private final int sot;
  private final int eot;
  private final int vocabSize;

  private ClipTokenizer(BytePairEncoder bpe, int sot, int eot, int vocabSize) {
    this.bpe = bpe;
    this.sot = sot;
    this.eot = eot;
    this.vocabSize = vocabSize;
  }

  // ---------------------------------------------------------------- loading

  /**
   * Loads open_clip's merges file ({@code bpe_simple_vocab_16e6.txt.gz}, gzip or plain UTF-8
   * text): line 0 is a header, lines 1..48894 are merges "left right".
   *
   * @throws InvalidModelException naming the file when it cannot be read, is not valid gzip or
   *     UTF-8, holds no merges or a line that is not two symbols
   */
  public static ClipTokenizer fromBpeVocab(Path bpeGz) {
    Objects.requireNonNull(bpeGz, "bpeGz");
    UserFiles.requireRegularFile(bpeGz, InvalidModelException::new);
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(bpeGz);
    } catch (IOException e) {
      throw new InvalidModelException(
          "cannot read tokenizer file " + bpeGz + ": " + e.getClass().getSimpleName() + ": " + e.getMessage(), e);
    }
    return fromBpeVocab(bytes, bpeGz.toString());
  }

  /**
   * Like {@link #fromBpeVocab(Path)} from the file's bytes (gzip or plain), e.g. a vocabulary
   * carried inside a model bundle; {@code source} names it in error messages.
   */
  public static ClipTokenizer fromBpeVocab(byte[] bytes, String source) {
    Objects.requireNonNull(bytes, "bytes");
    String bpeGz = Objects.requireNonNull(source, "source");
    String text = decodeText(bytes, bpeGz);
    String[] lines = text.split("\n", -1);
    int end = Math.min(lines.length, 1 + MAX_MERGES);
    List<String[]> merges = new ArrayList<>(Math.max(0, end - 1));
    List<String> vocab = new ArrayList<>(512 + MAX_MERGES + 2);
    for (String s : BytePairEncoder.byteSymbolsInVocabOrder()) {
      vocab.add(s);
    }
    for (String s : BytePairEncoder.byteSymbolsInVocabOrder()) {
      vocab.add(s + BytePairEncoder.END_OF_WORD);
    }
    int real = 0;
    for (int i = 1; i < end; i++) {
      String[] parts = splitWhitespace(lines[i]);
      if (parts.length == 0) {
        // Python: tuple(''.split()) == (); ''.join(()) still takes a vocabulary slot.
        vocab.add("");
        continue;
      }
      if (parts.length != 2) {
        throw new InvalidModelException(
            "BPE vocabulary "
                + bpeGz
                + ": line "
                + (i + 1)
                + " is not a merge of two symbols separated by a space: '"
                + abbreviate(lines[i])
                + "'");
      }
      merges.add(parts);
      vocab.add(parts[0] + parts[1]);
      real++;
    }
    if (real == 0) {
      throw new InvalidModelException(
          "BPE vocabulary " + bpeGz + " holds no merges (expected a header line, then merges)");
    }
    vocab.add(PreTokenizer.SOT_TEXT);
    vocab.add(PreTokenizer.EOT_TEXT);
    Map<String, Integer> encoder = new HashMap<>(vocab.size() * 2);
    for (int i = 0; i < vocab.size(); i++) {
      encoder.put(vocab.get(i), i); // a later duplicate wins, as in Python's dict(zip(...))
    }
    return build(encoder, merges, PreTokenizer.SOT_TEXT, PreTokenizer.EOT_TEXT, Path.of(bpeGz));
  }

  /**
   * Loads the Hugging Face CLIP layout: {@code vocab.json} (an object from symbol to id, with
   * {@code <|startoftext|>}/{@code <|endoftext|>} or open_clip's {@code
   * <start_of_text>}/{@code <end_of_text>}) and {@code merges.txt} (an optional "#version"
   * header, then merges).
   *
   * @throws InvalidModelException naming the file that is unreadable or malformed, or lacks a
   *     symbol the tokenizer needs
   */
  public static ClipTokenizer fromVocabAndMerges(Path vocabJson, Path mergesTxt) {
    Objects.requireNonNull(vocabJson, "vocabJson");
    Objects.requireNonNull(mergesTxt, "mergesTxt");
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(readText(vocabJson));
    } catch (JsonProcessingException e) {
      throw new InvalidModelException(
          "vocabulary " + vocabJson + " is not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new InvalidModelException(
          "vocabulary " + vocabJson + " must be a JSON object mapping symbols to ids");
    }
    Map<String, Integer> encoder = new HashMap<>(root.size() * 2);
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      JsonNode v = e.getValue();
      if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 0) {
        throw new InvalidModelException(
            "vocabulary " + vocabJson + ": id of '" + abbreviate(e.getKey())
                + "' is not a non-negative integer: " + abbreviate(v.toString()));
      }
      encoder.put(e.getKey(), v.intValue());
    }
    String sotName = encoder.containsKey(HF_SOT) ? HF_SOT : PreTokenizer.SOT_TEXT;
    String eotName = encoder.containsKey(HF_EOT) ? HF_EOT : PreTokenizer.EOT_TEXT;
    for (String name : new String[] {sotName, eotName}) {
      if (!encoder.containsKey(name)) {
        throw new InvalidModelException(
            "vocabulary " + vocabJson + " lacks the special token " + name);
      }
    }

    String text = readText(mergesTxt);
    String[] lines = pythonStrip(text).split("\n", -1);
    int first = lines.length > 0 && lines[0].startsWith("#") ? 1 : 0;
    int end = Math.min(lines.length, first + MAX_MERGES);
    List<String[]> merges = new ArrayList<>(Math.max(0, end - first));
    for (int i = first; i < end; i++) {
      String[] parts = splitWhitespace(lines[i]);
      if (parts.length != 2) {
        throw new InvalidModelException(
            "merges " + mergesTxt + ": line " + (i + 1)
                + " is not a merge of two symbols separated by a space: '"
                + abbreviate(lines[i]) + "'");
      }
      merges.add(parts);
    }
    if (merges.isEmpty()) {
      throw new InvalidModelException("merges " + mergesTxt + " holds no merges");
    }
    try {
      return build(encoder, merges, sotName, eotName, vocabJson);
    } catch (InvalidModelException e) {
      throw new InvalidModelException(e.getMessage() + " (merges: " + mergesTxt + ")", e);
    }
  }

  /**
   * Loads whichever layout {@code modelDir} holds: {@code bpe_simple_vocab_16e6.txt.gz} (or the
   * uncompressed {@code .txt}) first, else {@code vocab.json} + {@code merges.txt}.
   *
   * @throws InvalidModelException naming the files looked for when neither layout is present
   */
  public static ClipTokenizer fromDirectory(Path modelDir) {
    Objects.requireNonNull(modelDir, "modelDir");
    for (String name : new String[] {BPE_FILE, BPE_PLAIN_FILE}) {
      Path p = modelDir.resolve(name);
      if (Files.isRegularFile(p)) {
        return fromBpeVocab(p);
      }
    }
    Path vocab = modelDir.resolve(VOCAB_FILE);
    Path merges = modelDir.resolve(MERGES_FILE);
    if (Files.isRegularFile(vocab) && Files.isRegularFile(merges)) {
      return fromVocabAndMerges(vocab, merges);
    }
    throw new InvalidModelException(
        "no CLIP tokenizer vocabulary in " + modelDir + ": looked for " + BPE_FILE + ", "
            + BPE_PLAIN_FILE + ", or " + VOCAB_FILE + " together with " + MERGES_FILE);
  }

  private static ClipTokenizer build(
      Map<String, Integer> encoder, List<String[]> merges, String sotName, String eotName,
      Path file) {
    BytePairEncoder bpe;
    try {
      bpe = new BytePairEncoder(encoder, merges);
    } catch (IllegalArgumentException e) {
      throw new InvalidModelException("vocabulary " + file + ": " + e.getMessage(), e);
    }
    return new ClipTokenizer(bpe, encoder.get(sotName), encoder.get(eotName), encoder.size());
  }

  /** Largest decompressed vocabulary accepted (open_clip's is 1.3 MB): bounds a gzip bomb. */
  private static final int MAX_VOCAB_BYTES = 64 << 20;

  /** The file as UTF-8 text, gunzipped when it starts with the gzip magic bytes. */
  private static String readText(Path file) {
    UserFiles.requireRegularFile(file, InvalidModelException::new);
    try {
      return decodeText(Files.readAllBytes(file), file.toString());
    } catch (IOException e) {
      throw new InvalidModelException(
          "cannot read tokenizer file " + file + ": " + e.getClass().getSimpleName() + ": "
              + e.getMessage(), e);
    }
  }

  static String decodeText(byte[] raw, Object file) {
    byte[] bytes = raw;
    try {
      if (bytes.length >= 2 && (bytes[0] & 0xFF) == 0x1F && (bytes[1] & 0xFF) == 0x8B) {
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(bytes))) {
          bytes = in.readNBytes(MAX_VOCAB_BYTES + 1);
        }
        if (bytes.length > MAX_VOCAB_BYTES) {
          throw new InvalidModelException("tokenizer file " + file + " decompresses to more than 64 MiB");
        }
      }
    } catch (IOException e) {
      throw new InvalidModelException(
          "cannot read tokenizer file " + file + ": " + e.getClass().getSimpleName() + ": "
              + e.getMessage(), e);
    }
    if (bytes.length == 0) {
      throw new InvalidModelException("tokenizer file " + file + " is empty");
    }
    try {
      CharBuffer chars =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(ByteBuffer.wrap(bytes));
      return chars.toString();
    } catch (CharacterCodingException e) {
      throw new InvalidModelException("tokenizer file " + file + " is not UTF-8 text", e);
    }
  }

  /** Python's {@code str.split()} without arguments. */
  static String[] splitWhitespace(String line) {
    List<String> parts = new ArrayList<>(2);
    int i = 0;
    int n = line.length();
    while (i < n) {
      while (i < n && TextCleaner.isPythonSpace(line.charAt(i))) {
        i++;
      }
      int start = i;
      while (i < n && !TextCleaner.isPythonSpace(line.charAt(i))) {
        i++;
      }
      if (i > start) {
        parts.add(line.substring(start, i));
      }
    }
    return parts.toArray(new String[0]);
  }

  private static String pythonStrip(String s) {
    return TextCleaner.strip(s);
  }

  private static String abbreviate(String s) {
    return s.length() <= 60 ? s : s.substring(0, 57) + "...";
  }

  // ---------------------------------------------------------------- properties

  /** The id of {@code <start_of_text>} (49406 with the default vocabulary). */
  public int sotToken() {
    return sot;
  }

  /** The id of {@code <end_of_text>} (49407 with the default vocabulary). */
  public int eotToken() {
    return eot;
  }

  /** Number of distinct symbols in the vocabulary (49408 with the default vocabulary). */
  public int vocabSize() {
    return vocabSize;
  }

  // ---------------------------------------------------------------- encoding

  /**
   * The BPE ids of {@code text} after open_clip's cleaning, without SOT/EOT and without
   * truncation (open_clip's {@code SimpleTokenizer.encode}).
   *
   * @throws NullPointerException if text is null
   * @throws InvalidInputException if repairing the text would take ftfy quadratic time beyond
   *     clip4j's budget (see "Cost" above)
   */
  public int[] encode(String text) {
    return encode(text, Integer.MAX_VALUE);
  }

  /** At most {@code limit} ids of the text (the scan stops early; the prefix is exact). */
  private int[] encode(String text, int limit) {
    Objects.requireNonNull(text, "text");
    String cleaned = TextCleaner.clean(text);
    IntList ids = new IntList(Math.min(limit, 16 + cleaned.length() / 2));
    PreTokenizer.split(
        cleaned,
        (token, special) -> {
          if (special == 1) {
            ids.add(sot);
          } else if (special == 2) {
            ids.add(eot);
          } else {
            ids.addAll(bpe.encode(token));
          }
          return ids.size < limit;
        });
    return ids.toArray(limit);
  }

  /**
   * Writes open_clip's {@code tokenize()} row for {@code text}: SOT, the ids, EOT, then zeros,
   * into {@code out[offset .. offset + contextLength)}. A text with more than {@code
   * contextLength - 2} ids is truncated and its row ends with EOT at position {@code
   * contextLength - 1}.
   *
   * @return the number of real tokens including SOT and EOT (the EOT position + 1)
   * @throws NullPointerException if text or out is null
   * @throws InvalidInputException if the text is refused (see "Cost" above); nothing is written
   * @throws IllegalArgumentException if contextLength < 2
   * @throws IndexOutOfBoundsException if the row does not fit in out at offset
   */
  public int tokenizeInto(String text, int contextLength, long[] out, int offset) {
    Objects.requireNonNull(text, "text");
    Objects.requireNonNull(out, "out");
    checkContextLength(contextLength);
    Objects.checkFromIndexSize(offset, contextLength, out.length);
    int[] ids = encode(text, contextLength - 1);
    int real = Math.min(ids.length + 2, contextLength);
    out[offset] = sot;
    for (int i = 1; i < real - 1; i++) {
      out[offset + i] = ids[i - 1];
    }
    out[offset + real - 1] = eot;
    for (int i = real; i < contextLength; i++) {
      out[offset + i] = 0;
    }
    return real;
  }

  /**
   * As {@link #tokenizeInto(String, int, long[], int)}, into {@code out} at absolute indices
   * {@code offset .. offset + contextLength - 1} (relative to index 0, ignoring and not changing
   * the buffer's position).
   *
   * @throws java.nio.ReadOnlyBufferException if out is read-only (nothing is written)
   * @throws IndexOutOfBoundsException if the row does not fit below out's limit
   */
  public int tokenizeInto(String text, int contextLength, LongBuffer out, int offset) {
    Objects.requireNonNull(text, "text");
    Objects.requireNonNull(out, "out");
    checkContextLength(contextLength);
    Objects.checkFromIndexSize(offset, contextLength, out.limit());
    if (out.isReadOnly()) {
      throw new java.nio.ReadOnlyBufferException();
    }
    long[] row = new long[contextLength];
    int real = tokenizeInto(text, contextLength, row, 0);
    for (int i = 0; i < contextLength; i++) {
      out.put(offset + i, row[i]);
    }
    return real;
  }

  /**
   * open_clip's {@code tokenize(texts, context_length)}: one row per text.
   *
   * @return a new [texts.size()][contextLength] array
   * @throws NullPointerException if texts or any text is null
   * @throws InvalidInputException if a text is refused (see "Cost" above)
   * @throws IllegalArgumentException if contextLength < 2
   */
  public long[][] tokenize(List<String> texts, int contextLength) {
    Objects.requireNonNull(texts, "texts");
    checkContextLength(contextLength);
    long[][] rows = new long[texts.size()][contextLength];
    for (int i = 0; i < rows.length; i++) {
      tokenizeInto(texts.get(i), contextLength, rows[i], 0);
    }
    return rows;
  }

  private static void checkContextLength(int contextLength) {
    if (contextLength < 2) {
      throw new IllegalArgumentException(
          "contextLength must be at least 2 (room for SOT and EOT), got " + contextLength);
    }
  }

  /** A growable int array. */
  private static final class IntList {
    int[] a;
    int size;

    IntList(int capacity) {
      a = new int[Math.max(4, capacity)];
    }

    void add(int v) {
      if (size == a.length) {
        a = java.util.Arrays.copyOf(a, size * 2);
      }
      a[size++] = v;
    }

    void addAll(int[] vs) {
      for (int v : vs) {
        add(v);
      }
    }

    int[] toArray(int limit) {
      return java.util.Arrays.copyOf(a, Math.min(size, limit));
    }
  }
}
