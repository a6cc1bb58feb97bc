package dev.clip4j.tokenize;

import java.text.Normalizer;

/**
 * The text cleaning open_clip 2.20.0 applies before BPE: {@code
 * whitespace_clean(basic_clean(text)).lower()}, where {@code basic_clean} is ftfy 6.1.1's {@code
 * fix_text} (default configuration), then Python's {@code html.unescape} twice, then {@code
 * strip()}. ftfy's {@code fix_encoding} is {@link FtfyEncoding}; the other fixes are here.
 * Stateless; thread-safe.
 */
final class TextCleaner {
  /** ftfy's max_decode_length: segments are at most this many code points. */
  private static final int MAX_SEGMENT_CODE_POINTS = 1_000_000;

  private static final int WIDTH_FIRST = 0xFF01;
  private static final int WIDTH_LAST = 0xFFEF;
  /** ftfy's WIDTH_MAP for U+FF01..U+FFEF: the NFKC form where it differs, else null. */
  private static final String[] WIDTH_MAP = buildWidthMap();

  /** Windows-1252 for bytes 0x80..0x9F; the five unassigned bytes map to themselves. */
  private static final String CP1252_C1 =
      "\u20AC\u0081\u201A\u0192\u201E\u2026\u2020\u2021\u02C6\u2030\u0160\u2039\u0152\u008D"
          + "\u017D\u008F\u0090\u2018\u2019\u201C\u201D\u2022\u2013\u2014\u02DC\u2122\u0161"
          + "\u203A\u0153\u009D\u017E\u0178";

  private TextCleaner() {}

  private static String[] buildWidthMap() {
    String[] map = new String[WIDTH_LAST - WIDTH_FIRST + 1];
    for (int cp = WIDTH_FIRST; cp <= WIDTH_LAST; cp++) {
      String c = new String(Character.toChars(cp));
      String alt = Normalizer.normalize(c, Normalizer.Form.NFKC);
      if (!alt.equals(c)) {
        map[cp - WIDTH_FIRST] = alt;
      }
    }
    return map;
  }

  /** The Windows-1252 reading of a code point in 0x80..0x9F (ftfy's "sloppy" variant). */
  static char windows1252(int c1) {
    return CP1252_C1.charAt(c1 - 0x80);
  }

  /**
   * The full open_clip cleaning: ftfy, html.unescape twice, strip, whitespace collapse, lower.
   *
   * @throws dev.clip4j.InvalidInputException when ftfy's repair exceeds its budget ({@link
   *     FtfyBudget})
   */
  static String clean(String text) {
    String t = fixText(text);
    t = HtmlEntities.unescape(HtmlEntities.unescape(t));
    t = strip(t);
    t = collapseWhitespace(t);
    return lower(t);
  }

  /**
   * open_clip's {@code HFTokenizer} cleaning ({@code get_clean_fn}): {@code basic_clean} (ftfy,
   * html.unescape twice, strip), then "whitespace": {@code " ".join(t.split())}; "lower": that,
   * lower-cased; "canonicalize" (big_vision's): {@code _} to space, ASCII punctuation
   * ({@code string.punctuation}) removed, lower case, {@code " ".join(t.split())}.
   */
  static String openClipHfClean(String text, String mode) {
    String t = fixText(text);
    t = strip(HtmlEntities.unescape(HtmlEntities.unescape(t)));
    switch (mode) {
      case "whitespace":
        return splitJoin(t);
      case "lower":
        return lower(splitJoin(t));
      case "canonicalize": {
        StringBuilder b = new StringBuilder(t.length());
        for (int i = 0; i < t.length(); i++) {
          char c = t.charAt(i);
          if (c == '_') {
            b.append(' ');
          } else if (!(c < 128 && PUNCTUATION.indexOf(c) >= 0)) {
            b.append(c);
          }
        }
        return splitJoin(lower(b.toString()));
      }
      default:
        throw new IllegalArgumentException("unknown clean mode " + mode);
    }
  }

  /** Python's {@code string.punctuation}. */
  private static final String PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

  /** Python's {@code " ".join(s.split())}: runs of str whitespace to one space, none at the ends. */
  static String splitJoin(String s) {
    StringBuilder b = new StringBuilder(s.length());
    boolean pending = false;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (isPythonSpace(c)) {
        pending = b.length() > 0;
      } else {
        if (pending) {
          b.append(' ');
          pending = false;
        }
        b.append(c);
      }
    }
    return b.toString();
  }

  // ---------------------------------------------------------------- str.lower()

  /**
   * Python's {@code str.lower()}: simple lower-case mappings, 'İ' to "i̇", and 'Σ' to 'ς' in the
   * Final_Sigma context as CPython decides it (a cased letter before, skipping case-ignorables,
   * and none after). The JDK's {@code toLowerCase} uses word boundaries for the latter, which
   * differs.
   */
  static String lower(String s) {
    StringBuilder b = new StringBuilder(s.length());
    int n = s.length();
    for (int i = 0; i < n; ) {
      int cp = s.codePointAt(i);
      if (cp == 0x03A3) {
        b.append(isFinalSigma(s, i) ? '\u03C2' : '\u03C3');
      } else if (cp == 0x0130) {
        b.append("i\u0307");
      } else {
        b.appendCodePoint(Character.toLowerCase(cp));
      }
      i += Character.charCount(cp);
    }
    return b.toString();
  }

  private static boolean isFinalSigma(String s, int i) {
    int c = -1;
    for (int j = i; j > 0; ) {
      int cp = s.codePointBefore(j);
      j -= Character.charCount(cp);
      if (!isCaseIgnorable(cp)) {
        c = cp;
        break;
      }
    }
    if (c < 0 || !isCased(c)) {
      return false;
    }
    for (int j = i + 1; j < s.length(); ) {
      int cp = s.codePointAt(j);
      if (!isCaseIgnorable(cp)) {
        return !isCased(cp);
      }
      j += Character.charCount(cp);
    }
    return true;
  }

  /** Unicode's Cased property. */
  private static boolean isCased(int cp) {
    return Character.isLowerCase(cp) || Character.isUpperCase(cp) || Character.isTitleCase(cp);
  }

  /** Unicode's Case_Ignorable: Mn, Me, Cf, Lm, Sk, or Word_Break MidLetter/MidNumLet/Single_Quote. */
  private static boolean isCaseIgnorable(int cp) {
    switch (Character.getType(cp)) {
      case Character.NON_SPACING_MARK:
      case Character.ENCLOSING_MARK:
      case Character.FORMAT:
      case Character.MODIFIER_LETTER:
      case Character.MODIFIER_SYMBOL:
        return true;
      default:
        return CASE_IGNORABLE_PUNCTUATION.indexOf(cp) >= 0;
    }
  }

  private static final String CASE_IGNORABLE_PUNCTUATION =
      "'.:\u00B7\u0387\u055F\u05F4\u2018\u2019\u2024\u2027\uFE13\uFE52\uFE55\uFF07\uFF0E\uFF1A";

  // ---------------------------------------------------------------- ftfy.fix_text

  /**
   * ftfy 6.1.1 {@code fix_text} with the default configuration: the text is fixed in segments,
   * each a line (ending with its '\n') or at most 1,000,000 code points of one; HTML unescaping
   * is on until the first segment containing '<' and stays off from then on; each segment is
   * fixed repeatedly until it stops changing ({@link #fixSegment}).
   */
  static String fixText(String text) {
    return fixText(text, FtfyBudget.forText(text.length()));
  }

  /**
   * {@link #fixText(String)} spending from the given budget.
   *
   * @throws dev.clip4j.InvalidInputException when the budget runs out (see {@link FtfyBudget})
   */
  static String fixText(String text, FtfyBudget budget) {
    if (isInert(text)) {
      return text;
    }
    StringBuilder out = new StringBuilder(text.length());
    boolean unescape = true;
    int pos = 0;
    int n = text.length();
    while (pos < n) {
      int nl = text.indexOf('\n', pos);
      int end = nl < 0 ? n : nl + 1;
      if (text.codePointCount(pos, end) > MAX_SEGMENT_CODE_POINTS) {
        end = text.offsetByCodePoints(pos, MAX_SEGMENT_CODE_POINTS);
      }
      String segment = text.substring(pos, end);
      if (unescape && segment.indexOf('<') >= 0) {
        unescape = false;
      }
      out.append(fixSegment(segment, unescape, budget));
      pos = end;
    }
    return out.toString();
  }

  /**
   * Whether every fix of {@link #fixText} leaves the text as it is, judged from its characters
   * alone: ASCII printable characters but '&', and tab, line feed and form feed (no entity, no
   * mojibake, no escape, control character, carriage return or width/ligature/quote form).
   */
  private static boolean isInert(String text) {
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c >= 0x20 ? (c > 0x7E || c == '&') : (c != '\t' && c != '\n' && c != '\f')) {
        return false;
      }
    }
    return true;
  }

  /**
   * ftfy's {@code fix_and_explain} loop for one segment: unescape_html (when on), fix_encoding
   * ({@link FtfyEncoding}), fix_c1_controls, fix_latin_ligatures, fix_character_width,
   * uncurl_quotes, fix_line_breaks, fix_surrogates, remove_terminal_escapes,
   * remove_control_chars, NFC; repeated until a round changes nothing.
   */
  static String fixSegment(String segment, boolean unescape, FtfyBudget budget) {
    String t = segment;
    while (true) {
      budget.spend(t.length());
      String orig = t;
      if (unescape) {
        t = HtmlEntities.ftfyUnescape(t);
      }
      t = FtfyEncoding.fixEncoding(t, budget);
      t = fixC1Controls(t);
      t = fixLatinLigatures(t);
      t = fixCharacterWidth(t);
      t = uncurlQuotes(t);
      t = fixLineBreaks(t);
      t = fixSurrogates(t);
      t = removeTerminalEscapes(t);
      t = removeControlChars(t);
      if (!Normalizer.isNormalized(t, Normalizer.Form.NFC)) {
        t = Normalizer.normalize(t, Normalizer.Form.NFC);
      }
      if (t.equals(orig)) {
        return t;
      }
    }
  }

  /** U+0080..U+009F to their Windows-1252 characters. */
  static String fixC1Controls(String s) {
    int i = firstIndex(s, c -> c >= 0x80 && c <= 0x9F);
    if (i < 0) {
      return s;
    }
    char[] a = s.toCharArray();
    for (; i < a.length; i++) {
      if (a[i] >= 0x80 && a[i] <= 0x9F) {
        a[i] = windows1252(a[i]);
      }
    }
    return new String(a);
  }

  /** ftfy's LIGATURES table. */
  static String fixLatinLigatures(String s) {
    int i = firstIndex(s, c -> ligature(c) != null);
    if (i < 0) {
      return s;
    }
    StringBuilder b = new StringBuilder(s.length() + 8).append(s, 0, i);
    for (; i < s.length(); i++) {
      char c = s.charAt(i);
      String r = ligature(c);
      if (r == null) {
        b.append(c);
      } else {
        b.append(r);
      }
    }
    return b.toString();
  }

  private static String ligature(char c) {
    switch (c) {
      case '\u0132': return "IJ";
      case '\u0133': return "ij";
      case '\u0149': return "\u02BCn";
      case '\u01F1': return "DZ";
      case '\u01F2': return "Dz";
      case '\u01F3': return "dz";
      case '\u01C4': return "D\u017D";
      case '\u01C5': return "D\u017E";
      case '\u01C6': return "d\u017E";
      case '\u01C7': return "LJ";
      case '\u01C8': return "Lj";
      case '\u01C9': return "lj";
      case '\u01CA': return "NJ";
      case '\u01CB': return "Nj";
      case '\u01CC': return "nj";
      case '\uFB00': return "ff";
      case '\uFB01': return "fi";
      case '\uFB02': return "fl";
      case '\uFB03': return "ffi";
      case '\uFB04': return "ffl";
      case '\uFB05': return "\u017Ft";
      case '\uFB06': return "st";
      default: return null;
    }
  }

  /** Ideographic space to ' ', halfwidth/fullwidth forms to their NFKC forms. */
  static String fixCharacterWidth(String s) {
    int i = firstIndex(s, c -> c == 0x3000 || widthAlternate(c) != null);
    if (i < 0) {
      return s;
    }
    StringBuilder b = new StringBuilder(s.length()).append(s, 0, i);
    for (; i < s.length(); i++) {
      char c = s.charAt(i);
      String r = c == 0x3000 ? " " : widthAlternate(c);
      if (r == null) {
        b.append(c);
      } else {
        b.append(r);
      }
    }
    return b.toString();
  }

  private static String widthAlternate(char c) {
    return c >= WIDTH_FIRST && c <= WIDTH_LAST ? WIDTH_MAP[c - WIDTH_FIRST] : null;
  }

  /** U+02BC and U+2018..U+201B to '\'', U+201C..U+201F to '"'. */
  static String uncurlQuotes(String s) {
    int i = firstIndex(s, c -> c == 0x02BC || (c >= 0x2018 && c <= 0x201F));
    if (i < 0) {
      return s;
    }
    char[] a = s.toCharArray();
    for (; i < a.length; i++) {
      char c = a[i];
      if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) {
        a[i] = '\'';
      } else if (c >= 0x201C && c <= 0x201F) {
        a[i] = '"';
      }
    }
    return new String(a);
  }

  /** CRLF, CR, U+2028, U+2029 and U+0085 to '\n'. */
  static String fixLineBreaks(String s) {
    int i = firstIndex(s, c -> c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85);
    if (i < 0) {
      return s;
    }
    StringBuilder b = new StringBuilder(s.length()).append(s, 0, i);
    for (; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\r') {
        if (i + 1 < s.length() && s.charAt(i + 1) == '\n') {
          continue; // the '\n' that follows is kept
        }
        b.append('\n');
      } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
        b.append('\n');
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  /** Unpaired surrogates to U+FFFD (pairs already are one code point in a Java string). */
  static String fixSurrogates(String s) {
    int n = s.length();
    StringBuilder b = null;
    for (int i = 0; i < n; i++) {
      char c = s.charAt(i);
      boolean lone = false;
      if (Character.isHighSurrogate(c)) {
        if (i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
          if (b != null) {
            b.append(c).append(s.charAt(i + 1));
          }
          i++;
          continue;
        }
        lone = true;
      } else if (Character.isLowSurrogate(c)) {
        lone = true;
      }
      if (lone && b == null) {
        b = new StringBuilder(n).append(s, 0, i);
      }
      if (b != null) {
        b.append(lone ? '\uFFFD' : c);
      }
    }
    return b == null ? s : b.toString();
  }

  /** Removes ANSI escapes {@code \033\[(\d|;)*[a-zA-Z]} (\d: any Unicode decimal digit). */
  static String removeTerminalEscapes(String s) {
    int i = s.indexOf('\u001B');
    if (i < 0) {
      return s;
    }
    StringBuilder b = new StringBuilder(s.length()).append(s, 0, i);
    int n = s.length();
    while (i < n) {
      char c = s.charAt(i);
      if (c == '\u001B' && i + 1 < n && s.charAt(i + 1) == '[') {
        int q = i + 2;
        while (q < n) {
          int cp = s.codePointAt(q);
          if (cp == ';' || Character.getType(cp) == Character.DECIMAL_DIGIT_NUMBER) {
            q += Character.charCount(cp);
          } else {
            break;
          }
        }
        if (q < n && isAsciiLetter(s.charAt(q))) {
          i = q + 1;
          continue;
        }
      }
      b.append(c);
      i++;
    }
    return b.toString();
  }

  /** Removes ftfy's CONTROL_CHARS. */
  static String removeControlChars(String s) {
    int i = firstIndex(s, TextCleaner::isRemovedControl);
    if (i < 0) {
      return s;
    }
    StringBuilder b = new StringBuilder(s.length()).append(s, 0, i);
    for (; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!isRemovedControl(c)) {
        b.append(c);
      }
    }
    return b.toString();
  }

  private static boolean isRemovedControl(int c) {
    return c <= 0x08
        || c == 0x0B
        || (c >= 0x0E && c <= 0x1F)
        || c == 0x7F
        || (c >= 0x206A && c <= 0x206F)
        || c == 0xFEFF
        || (c >= 0xFFF9 && c <= 0xFFFC);
  }

  // ---------------------------------------------------------------- whitespace

  /** Python's {@code str.isspace()} for one code point. */
  static boolean isPythonSpace(int c) {
    return (c >= 0x1C && c <= 0x1F) || isRegexSpace(c);
  }

  /** The {@code regex} module's {@code \s} (Python's isspace without U+001C..U+001F). */
  static boolean isRegexSpace(int c) {
    return (c >= 0x09 && c <= 0x0D)
        || c == 0x20
        || c == 0x85
        || c == 0xA0
        || c == 0x1680
        || (c >= 0x2000 && c <= 0x200A)
        || c == 0x2028
        || c == 0x2029
        || c == 0x202F
        || c == 0x205F
        || c == 0x3000;
  }

  /** Python's {@code str.strip()} (all whitespace here is in the BMP). */
  static String strip(String s) {
    int from = 0;
    int to = s.length();
    while (from < to && isPythonSpace(s.charAt(from))) {
      from++;
    }
    while (to > from && isPythonSpace(s.charAt(to - 1))) {
      to--;
    }
    return s.substring(from, to);
  }

  /** open_clip's whitespace_clean: {@code re.sub(r'\s+', ' ', s).strip()}. */
  static String collapseWhitespace(String s) {
    StringBuilder b = new StringBuilder(s.length());
    boolean inSpace = false;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (isRegexSpace(c)) {
        if (!inSpace) {
          b.append(' ');
          inSpace = true;
        }
      } else {
        b.append(c);
        inSpace = false;
      }
    }
    return strip(b.toString());
  }

  // ---------------------------------------------------------------- helpers

  private interface CharTest {
    boolean test(char c);
  }

  private static int firstIndex(String s, CharTest test) {
    for (int i = 0; i < s.length(); i++) {
      if (test.test(s.charAt(i))) {
        return i;
      }
    }
    return -1;
  }

  private static boolean isAsciiLetter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
}
