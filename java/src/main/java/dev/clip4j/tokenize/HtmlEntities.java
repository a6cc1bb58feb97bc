package dev.clip4j.tokenize;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Python's {@code html.unescape}, reproduced: numeric references (decimal and hex, with or
 * without ';', invalid code points replaced as the HTML5 spec says) and the full HTML5 named
 * reference table, including the legacy names that match without ';' by longest prefix.
 */
final class HtmlEntities {
  private static final Pattern CHARREF = Pattern.compile("&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\\t\\n\\f <&#;]{1,32};?)");
  private static final Map<String, String> HTML5 = load();
  private static final Map<Integer, Integer> INVALID_CHARREFS = Map.ofEntries(
      Map.entry(0x00, 0xfffd), Map.entry(0x0d, 0x0d), Map.entry(0x80, 0x20ac), Map.entry(0x81, 0x81),
      Map.entry(0x82, 0x201a), Map.entry(0x83, 0x0192), Map.entry(0x84, 0x201e), Map.entry(0x85, 0x2026),
      Map.entry(0x86, 0x2020), Map.entry(0x87, 0x2021), Map.entry(0x88, 0x02c6), Map.entry(0x89, 0x2030),
      Map.entry(0x8a, 0x0160), Map.entry(0x8b, 0x2039), Map.entry(0x8c, 0x0152), Map.entry(0x8d, 0x8d),
      Map.entry(0x8e, 0x017d), Map.entry(0x8f, 0x8f), Map.entry(0x90, 0x90), Map.entry(0x91, 0x2018),
      Map.entry(0x92, 0x2019), Map.entry(0x93, 0x201c), Map.entry(0x94, 0x201d), Map.entry(0x95, 0x2022),
      Map.entry(0x96, 0x2013), Map.entry(0x97, 0x2014), Map.entry(0x98, 0x02dc), Map.entry(0x99, 0x2122),
      Map.entry(0x9a, 0x0161), Map.entry(0x9b, 0x203a), Map.entry(0x9c, 0x0153), Map.entry(0x9d, 0x9d),
      Map.entry(0x9e, 0x017e), Map.entry(0x9f, 0x0178));

  private HtmlEntities() {}

  private static Map<String, String> load() {
    Map<String, String> m = new HashMap<>();
    try (InputStream in = HtmlEntities.class.getResourceAsStream("html5_entities.tsv");
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        if (line.startsWith("#") || line.isEmpty()) {
          continue;
        }
        int tab = line.indexOf('\t');
        StringBuilder sb = new StringBuilder();
        for (String cp : line.substring(tab + 1).split(" ")) {
          sb.appendCodePoint(Integer.parseInt(cp, 16));
        }
        m.put(line.substring(0, tab), sb.toString());
      }
    } catch (IOException | NullPointerException e) {
      throw new UncheckedIOException(new IOException("html5_entities.tsv resource missing", e));
    }
    return m;
  }

  /** {@code html.unescape(s)}. */
  static String unescape(String s) {
    if (s.indexOf('&') < 0) {
      return s;
    }
    Matcher m = CHARREF.matcher(s);
    StringBuilder out = new StringBuilder(s.length());
    int last = 0;
    while (m.find()) {
      out.append(s, last, m.start());
      out.append(replace(m.group(1)));
      last = m.end();
    }
    return out.append(s, last, s.length()).toString();
  }

  private static String replace(String ref) {
    if (ref.charAt(0) == '#') {
      String digits = ref.endsWith(";") ? ref.substring(1, ref.length() - 1) : ref.substring(1);
      long num;
      try {
        if (digits.charAt(0) == 'x' || digits.charAt(0) == 'X') {
          String hex = digits.substring(1);
          num = hex.length() > 8 ? Long.MAX_VALUE : Long.parseLong(hex, 16);
        } else {
          num = digits.length() > 10 ? Long.MAX_VALUE : Long.parseLong(digits);
        }
      } catch (NumberFormatException e) {
        return "&" + ref;
      }
      if (num <= 0x9f && INVALID_CHARREFS.containsKey((int) num)) {
        return new String(Character.toChars(INVALID_CHARREFS.get((int) num)));
      }
      if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) {
        return "\ufffd";
      }
      if ((num >= 0x1 && num <= 0x8) || (num >= 0xe && num <= 0x1f) || (num >= 0x7f && num <= 0x9f)
          || (num >= 0xfdd0 && num <= 0xfdef) || num == 0xb || (num & 0xfffe) == 0xfffe) {
        return ""; // Python drops these "invalid code points"
      }
      return new String(Character.toChars((int) num));
    }
    String v = HTML5.get(ref);
    if (v != null) {
      return v;
    }
    // Longest prefix that is a (legacy, no-';') named reference.
    for (int x = ref.length() - 1; x > 1; x--) {
      String p = HTML5.get(ref.substring(0, x));
      if (p != null) {
        return p + ref.substring(x);
      }
    }
    return "&" + ref;
  }
}
