package dev.clip4j.tokenize;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * HTML character references, decoded the two ways open_clip's text cleaning does: Python's {@code
 * html.unescape} (the HTML5 rules: numeric references, the complete named table, legacy names
 * without ';', longest-prefix matching) and ftfy 6.1.1's stricter {@code unescape_html} (only
 * references ending in ';', plus upper-cased variants of lower-case names such as {@code
 * &EACUTE;}).
 *
 * <p>The named table is the complete HTML5 list (resource {@code html5_entities.tsv}, 2231
 * names), so every reference Python knows is decoded here too. Stateless; thread-safe.
 */
final class HtmlEntities {
  private static final int MAX_NAME_CODE_POINTS = 32;

  /** Python's html.entities.html5: name (with ';' where spelled so) to replacement. */
  private static final Map<String, String> HTML5 = loadTable();

  /** ftfy's HTML_ENTITIES: "&name;" to replacement. */
  private static final Map<String, String> FTFY = buildFtfyTable();

  private HtmlEntities() {}

  /** Number of names in the HTML5 table (for tests). */
  static int html5Size() {
    return HTML5.size();
  }

  private static Map<String, String> loadTable() {
    Map<String, String> table = new HashMap<>(4096);
    try (InputStream in = HtmlEntities.class.getResourceAsStream("html5_entities.tsv")) {
      if (in == null) {
        throw new IllegalStateException("resource dev/clip4j/tokenize/html5_entities.tsv missing");
      }
      BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
      for (String line = r.readLine(); line != null; line = r.readLine()) {
        if (line.isEmpty() || line.startsWith("#")) {
          continue;
        }
        int tab = line.indexOf('\t');
        StringBuilder value = new StringBuilder(2);
        for (String hex : line.substring(tab + 1).split(" ")) {
          value.appendCodePoint(Integer.parseInt(hex, 16));
        }
        table.put(line.substring(0, tab), value.toString());
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return table;
  }

  private static Map<String, String> buildFtfyTable() {
    Map<String, String> table = new HashMap<>(4096);
    for (Map.Entry<String, String> e : HTML5.entrySet()) {
      String name = e.getKey();
      if (!name.endsWith(";")) {
        continue;
      }
      table.put("&" + name, e.getValue());
      // ftfy also accepts the all-caps spelling of an all-lower-case name, unless Python's
      // html.unescape would already read that spelling as something (names are ASCII).
      if (name.equals(name.toLowerCase(Locale.ROOT))) {
        String upper = "&" + name.toUpperCase(Locale.ROOT);
        if (unescape(upper).equals(upper)) {
          table.putIfAbsent(upper, e.getValue().toUpperCase(Locale.ROOT));
        }
      }
    }
    return table;
  }

  /**
   * Python's {@code html.unescape(s)}: replaces every match of {@code &(#[0-9]+;? |
   * #[xX][0-9a-fA-F]+;? | [^\t\n\f <&#;]{1,32};?)}, scanning left to right without rescanning
   * replacements.
   */
  static String unescape(String s) {
    int amp = s.indexOf('&');
    if (amp < 0) {
      return s;
    }
    StringBuilder out = new StringBuilder(s.length());
    out.append(s, 0, amp);
    int i = amp;
    int n = s.length();
    while (i < n) {
      char c = s.charAt(i);
      if (c != '&') {
        out.append(c);
        i++;
        continue;
      }
      int end = matchCharRef(s, i + 1, out);
      if (end < 0) {
        out.append('&');
        i++;
      } else {
        i = end;
      }
    }
    return out.toString();
  }

  /**
   * Tries to match a reference body at {@code p} (just after '&'); on success appends the
   * replacement and returns the index after the match, else returns -1 and appends nothing.
   */
  private static int matchCharRef(String s, int p, StringBuilder out) {
    int n = s.length();
    if (p >= n) {
      return -1;
    }
    if (s.charAt(p) == '#') {
      int q = p + 1;
      boolean hex = q < n && (s.charAt(q) == 'x' || s.charAt(q) == 'X');
      if (hex) {
        q++;
      }
      int start = q;
      while (q < n && (hex ? isHexDigit(s.charAt(q)) : isAsciiDigit(s.charAt(q)))) {
        q++;
      }
      if (q == start) {
        return -1; // "&#" or "&#x" without digits is no reference ('#' cannot start a name)
      }
      int codePoint = parseCapped(s, start, q, hex ? 16 : 10);
      if (q < n && s.charAt(q) == ';') {
        q++;
      }
      appendNumeric(codePoint, out);
      return q;
    }
    // Named: up to 32 code points outside [\t\n\f <&#;], then an optional ';'.
    int q = p;
    int count = 0;
    while (q < n && count < MAX_NAME_CODE_POINTS) {
      int cp = s.codePointAt(q);
      if (cp == '\t' || cp == '\n' || cp == '\f' || cp == ' ' || cp == '<' || cp == '&'
          || cp == '#' || cp == ';') {
        break;
      }
      q += Character.charCount(cp);
      count++;
    }
    if (count == 0) {
      return -1;
    }
    if (q < n && s.charAt(q) == ';') {
      q++;
    }
    String name = s.substring(p, q);
    String value = HTML5.get(name);
    if (value != null) {
      out.append(value);
      return q;
    }
    // Longest prefix of at least two code points that is a known name.
    int[] cps = name.codePoints().toArray();
    for (int x = cps.length - 1; x > 1; x--) {
      String prefix = new String(cps, 0, x);
      value = HTML5.get(prefix);
      if (value != null) {
        out.append(value).append(name, prefix.length(), name.length());
        return q;
      }
    }
    out.append('&').append(name);
    return q;
  }

  /** Value of digits s[from, to) in the radix, or Integer.MAX_VALUE when beyond U+10FFFF. */
  private static int parseCapped(String s, int from, int to, int radix) {
    long v = 0;
    for (int k = from; k < to; k++) {
      v = v * radix + Character.digit(s.charAt(k), radix);
      if (v > Character.MAX_CODE_POINT) {
        return Integer.MAX_VALUE;
      }
    }
    return (int) v;
  }

  /** The replacement Python's html module gives a numeric reference. */
  private static void appendNumeric(int num, StringBuilder out) {
    if (num == 0x00) {
      out.append('\uFFFD');
    } else if (num == 0x0D) {
      out.append('\r');
    } else if (num >= 0x80 && num <= 0x9F) {
      // Windows-1252 reading of C1 references (0x81, 0x8D, 0x8F, 0x90, 0x9D stay as they are).
      out.append(TextCleaner.windows1252(num));
    } else if ((num >= 0xD800 && num <= 0xDFFF) || num > Character.MAX_CODE_POINT) {
      out.append('\uFFFD');
    } else if (isInvalidCodePoint(num)) {
      // dropped
    } else {
      out.appendCodePoint(num);
    }
  }

  /** Python's html._invalid_codepoints, less the C1 range handled before. */
  private static boolean isInvalidCodePoint(int num) {
    return (num >= 0x1 && num <= 0x8)
        || num == 0xB
        || (num >= 0xE && num <= 0x1F)
        || num == 0x7F
        || (num >= 0xFDD0 && num <= 0xFDEF)
        || (num & 0xFFFE) == 0xFFFE;
  }

  /**
   * ftfy 6.1.1's {@code unescape_html}: replaces matches of {@code &#?[0-9A-Za-z]{1,24};} that
   * are a known "&name;" (HTML5, or an all-caps variant) or a complete numeric reference.
   */
  static String ftfyUnescape(String s) {
    int amp = s.indexOf('&');
    if (amp < 0) {
      return s;
    }
    StringBuilder out = new StringBuilder(s.length());
    out.append(s, 0, amp);
    int i = amp;
    int n = s.length();
    while (i < n) {
      char c = s.charAt(i);
      if (c != '&') {
        out.append(c);
        i++;
        continue;
      }
      int q = i + 1;
      if (q < n && s.charAt(q) == '#') {
        q++;
      }
      int start = q;
      while (q < n && q - start < 24 && isAsciiAlnum(s.charAt(q))) {
        q++;
      }
      if (q == start || q >= n || s.charAt(q) != ';') {
        out.append('&');
        i++;
        continue;
      }
      String ref = s.substring(i, q + 1);
      String value = FTFY.get(ref);
      if (value != null) {
        out.append(value);
      } else if (ref.startsWith("&#")) {
        // ftfy keeps the text unless html.unescape consumes the whole reference (no ';' left).
        String decoded = unescape(ref);
        out.append(decoded.indexOf(';') >= 0 ? ref : decoded);
      } else {
        out.append(ref);
      }
      i = q + 1;
    }
    return out.toString();
  }

  private static boolean isAsciiDigit(char c) {
    return c >= '0' && c <= '9';
  }

  private static boolean isHexDigit(char c) {
    return isAsciiDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  private static boolean isAsciiAlnum(char c) {
    return isAsciiDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
}
