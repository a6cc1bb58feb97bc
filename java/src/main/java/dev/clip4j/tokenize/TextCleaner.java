package dev.clip4j.tokenize;

import java.nio.charset.Charset;
import java.text.Normalizer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * open_clip's text cleaning before BPE: {@code whitespace_clean(basic_clean(text)).lower()},
 * where {@code basic_clean} is {@code ftfy.fix_text} (ftfy 6.1.1 defaults) followed by {@code
 * html.unescape} twice and a strip.
 *
 * <p>Reproduced ftfy fixes, applied in ftfy's order and repeated until nothing changes, as
 * ftfy does: HTML entity unescaping (skipped when the text contains '&lt;', ftfy's "auto"),
 * terminal escape removal, C1 control characters decoded as Windows-1252, Latin ligatures
 * (ﬁ → fi), full-width and half-width forms to their normal width, curly quotes to straight
 * ones, line breaks (\r\n, \r, U+2028, U+2029, U+0085) to \n, lone surrogates to U+FFFD, control
 * character removal, NFC.
 *
 * <p><b>Not reproduced</b> (documented differences): ftfy's mojibake repair ({@code
 * fix_encoding}: re-decoding text that was UTF-8 decoded as Latin-1/Windows-1252, e.g. "Ã©" →
 * "é") and its companions {@code restore_byte_a0}, {@code replace_lossy_sequences} and {@code
 * decode_inconsistent_utf8}. Text that is already correct Unicode, which is what a JVM string
 * normally holds, is unaffected by those fixes.
 */
final class TextCleaner {
  private static final Pattern HTML_ENTITY = Pattern.compile("&#?[0-9A-Za-z]{1,24};");
  private static final Pattern ANSI = Pattern.compile("\u001b\\[((?:\\d|;)*)([a-zA-Z])");
  private static final Pattern SINGLE_QUOTES = Pattern.compile("[\u02bc\u2018-\u201b]");
  private static final Pattern DOUBLE_QUOTES = Pattern.compile("[\u201c-\u201f]");
  private static final Pattern C1 = Pattern.compile("[\u0080-\u009f]");
  private static final Pattern WHITESPACE = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);
  private static final Charset CP1252 = Charset.forName("windows-1252");
  private static final int[] WIDTH_MAP = widthMap();

  private TextCleaner() {}

  /** The full cleaning open_clip applies, including lower-casing. */
  static String clean(String text) {
    String s = fixText(text);
    s = HtmlEntities.unescape(HtmlEntities.unescape(s));
    s = stripPython(s);
    s = WHITESPACE.matcher(s).replaceAll(" ");
    s = stripPython(s);
    return s.toLowerCase(java.util.Locale.ROOT);
  }

  /** ftfy.fix_text with the fixes listed in the class comment. */
  static String fixText(String text) {
    boolean unescape = text.indexOf('<') < 0;
    String s = text;
    for (int pass = 0; pass < 16; pass++) {
      String orig = s;
      if (unescape) {
        s = unescapeHtml(s);
      }
      s = ANSI.matcher(s).replaceAll("");
      s = fixC1(s);
      s = fixLigatures(s);
      s = fixWidth(s);
      s = SINGLE_QUOTES.matcher(s).replaceAll("'");
      s = DOUBLE_QUOTES.matcher(s).replaceAll("\"");
      s = s.replace("\r\n", "\n").replace('\r', '\n').replace('\u2028', '\n').replace('\u2029', '\n').replace('\u0085', '\n');
      s = fixSurrogates(s);
      s = removeControlChars(s);
      s = Normalizer.normalize(s, Normalizer.Form.NFC);
      if (s.equals(orig)) {
        return s;
      }
    }
    return s;
  }

  /** ftfy's unescape_html: entities with a ';' only, through html.unescape. */
  private static String unescapeHtml(String s) {
    if (s.indexOf('&') < 0) {
      return s;
    }
    Matcher m = HTML_ENTITY.matcher(s);
    StringBuilder out = new StringBuilder();
    int last = 0;
    while (m.find()) {
      out.append(s, last, m.start());
      String entity = m.group();
      String u = HtmlEntities.unescape(entity);
      if (u.equals(entity)) {
        // ftfy also accepts upper-case names such as &NTILDE; when only the lower-case one exists.
        String lower = entity.toLowerCase(java.util.Locale.ROOT);
        String ul = HtmlEntities.unescape(lower);
        u = ul.equals(lower) ? entity : ul.toUpperCase(java.util.Locale.ROOT);
      }
      out.append(u);
      last = m.end();
    }
    return out.append(s, last, s.length()).toString();
  }

  private static String fixC1(String s) {
    Matcher m = C1.matcher(s);
    if (!m.find()) {
      return s;
    }
    StringBuilder out = new StringBuilder();
    int last = 0;
    do {
      out.append(s, last, m.start());
      int b = m.group().charAt(0);
      String d = new String(new byte[] {(byte) b}, CP1252);
      // "sloppy" windows-1252: bytes without a character keep their own code point.
      out.append(d.equals("\ufffd") ? String.valueOf((char) b) : d);
      last = m.end();
    } while (m.find());
    return out.append(s, last, s.length()).toString();
  }

  private static String fixLigatures(String s) {
    StringBuilder out = null;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      String r = ligature(c);
      if (r != null && out == null) {
        out = new StringBuilder(s.length() + 8).append(s, 0, i);
      }
      if (out != null) {
        out.append(r != null ? r : String.valueOf(c));
      }
    }
    return out == null ? s : out.toString();
  }

  private static String ligature(char c) {
    switch (c) {
      case '\u0132': return "IJ";
      case '\u0133': return "ij";
      case '\u0149': return "\u02bcn";
      case '\u01c4': return "D\u017d";
      case '\u01c5': return "D\u017e";
      case '\u01c6': return "d\u017e";
      case '\u01c7': return "LJ";
      case '\u01c8': return "Lj";
      case '\u01c9': return "lj";
      case '\u01ca': return "NJ";
      case '\u01cb': return "Nj";
      case '\u01cc': return "nj";
      case '\u01f1': return "DZ";
      case '\u01f2': return "Dz";
      case '\u01f3': return "dz";
      case '\ufb00': return "ff";
      case '\ufb01': return "fi";
      case '\ufb02': return "fl";
      case '\ufb03': return "ffi";
      case '\ufb04': return "ffl";
      case '\ufb05': return "\u017ft";
      case '\ufb06': return "st";
      default: return null;
    }
  }

  /** ftfy's WIDTH_MAP: U+FF01..U+FFEF whose NFKC form is one character, and U+3000 to a space. */
  private static int[] widthMap() {
    int[] map = new int[0x10000];
    for (int i = 0; i < map.length; i++) {
      map[i] = i;
    }
    for (int i = 0xff01; i < 0xfff0; i++) {
      String alt = Normalizer.normalize(String.valueOf((char) i), Normalizer.Form.NFKC);
      if (alt.length() == 1) {
        map[i] = alt.charAt(0);
      }
    }
    map[0x3000] = ' ';
    return map;
  }

  private static String fixWidth(String s) {
    char[] c = null;
    for (int i = 0; i < s.length(); i++) {
      char ch = s.charAt(i);
      if (WIDTH_MAP[ch] != ch) {
        if (c == null) {
          c = s.toCharArray();
        }
        c[i] = (char) WIDTH_MAP[ch];
      }
    }
    return c == null ? s : new String(c);
  }

  private static String fixSurrogates(String s) {
    StringBuilder out = null;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean lone = Character.isHighSurrogate(c)
          ? !(i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1)))
          : Character.isLowSurrogate(c) && !(i > 0 && Character.isHighSurrogate(s.charAt(i - 1)));
      if (lone && out == null) {
        out = new StringBuilder(s.length()).append(s, 0, i);
      }
      if (out != null) {
        out.append(lone ? '\ufffd' : c);
      }
    }
    return out == null ? s : out.toString();
  }

  private static boolean isControl(int cp) {
    return (cp >= 0x00 && cp < 0x09) || cp == 0x0b || (cp >= 0x0e && cp < 0x20) || cp == 0x7f
        || (cp >= 0x206a && cp < 0x2070) || cp == 0xfeff || (cp >= 0xfff9 && cp < 0xfffd)
        || (cp >= 0x1d173 && cp < 0x1d17b) || (cp >= 0xe0000 && cp < 0xe0080);
  }

  private static String removeControlChars(String s) {
    StringBuilder out = null;
    int i = 0;
    while (i < s.length()) {
      int cp = s.codePointAt(i);
      int n = Character.charCount(cp);
      boolean drop = isControl(cp);
      if (drop && out == null) {
        out = new StringBuilder(s.length()).append(s, 0, i);
      }
      if (out != null && !drop) {
        out.appendCodePoint(cp);
      }
      i += n;
    }
    return out == null ? s : out.toString();
  }

  /** Python's str.strip(): removes leading/trailing characters for which isspace() is true. */
  static String stripPython(String s) {
    int b = 0;
    int e = s.length();
    while (b < e && isPySpace(s.charAt(b))) {
      b++;
    }
    while (e > b && isPySpace(s.charAt(e - 1))) {
      e--;
    }
    return s.substring(b, e);
  }

  private static boolean isPySpace(char c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680
        || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
  }
}
