package dev.clip4j.tokenize;

/**
 * CLIP's pre-tokenisation: {@code re.findall} of open_clip's pattern {@code
 * <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+},
 * compiled by the {@code regex} module with IGNORECASE, as a linear hand-written scanner (the
 * alternatives are tried in order at each position; where none matches, one code point is
 * skipped). Two IGNORECASE effects are reproduced: 'ſ' (U+017F) matches 's' in the literals, and
 * U+0345 (whose upper-case form is a letter) matches neither {@code [\p{L}]} nor the negated
 * class, so it is dropped. Stateless; thread-safe.
 */
final class PreTokenizer {
  static final String SOT_TEXT = "<start_of_text>";
  static final String EOT_TEXT = "<end_of_text>";

  private static final String[] CONTRACTIONS = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};

  /** Receives pre-tokens; returns false to stop the scan. */
  interface Sink {
    /**
     * @param token the matched text
     * @param special 0 for an ordinary token, 1 for exactly {@code <start_of_text>}, 2 for
     *     exactly {@code <end_of_text>}
     */
    boolean accept(String token, int special);
  }

  private PreTokenizer() {}

  static void split(String s, Sink sink) {
    int n = s.length();
    int i = 0;
    while (i < n) {
      int end;
      int special = 0;
      if ((end = matchLiteral(s, i, SOT_TEXT)) > 0) {
        special = s.startsWith(SOT_TEXT, i) ? 1 : 0;
      } else if ((end = matchLiteral(s, i, EOT_TEXT)) > 0) {
        special = s.startsWith(EOT_TEXT, i) ? 2 : 0;
      } else if ((end = matchContraction(s, i)) > 0) {
        // matched
      } else {
        int cp = s.codePointAt(i);
        int cls = classOf(cp);
        if (cls == LETTER || cls == OTHER) {
          end = i + Character.charCount(cp);
          while (end < n) {
            int c = s.codePointAt(end);
            if (classOf(c) != cls) {
              break;
            }
            end += Character.charCount(c);
          }
        } else if (cls == NUMBER) {
          end = i + Character.charCount(cp);
        } else {
          i += Character.charCount(cp); // whitespace or U+0345: no alternative matches
          continue;
        }
      }
      if (!sink.accept(s.substring(i, end), special)) {
        return;
      }
      i = end;
    }
  }

  private static int matchContraction(String s, int i) {
    if (s.charAt(i) != '\'') {
      return -1;
    }
    for (String c : CONTRACTIONS) {
      int end = matchLiteral(s, i, c);
      if (end > 0) {
        return end;
      }
    }
    return -1;
  }

  /** End of a case-insensitive match of an ASCII literal at i, or -1. */
  private static int matchLiteral(String s, int i, String literal) {
    if (s.length() - i < literal.length()) {
      return -1;
    }
    for (int k = 0; k < literal.length(); k++) {
      char c = s.charAt(i + k);
      char l = literal.charAt(k);
      if (c != l && !(l >= 'a' && l <= 'z' && (c == l - 32 || (l == 's' && c == '\u017F')))) {
        return -1;
      }
    }
    return i + literal.length();
  }

  static final int SPACE = 0;
  static final int LETTER = 1;
  static final int NUMBER = 2;
  static final int OTHER = 3;
  static final int NONE = 4;

  /** Which alternative of the pattern a code point belongs to. */
  static int classOf(int cp) {
    if (TextCleaner.isRegexSpace(cp)) {
      return SPACE;
    }
    switch (Character.getType(cp)) {
      case Character.UPPERCASE_LETTER:
      case Character.LOWERCASE_LETTER:
      case Character.TITLECASE_LETTER:
      case Character.MODIFIER_LETTER:
      case Character.OTHER_LETTER:
        return LETTER;
      case Character.DECIMAL_DIGIT_NUMBER:
      case Character.LETTER_NUMBER:
      case Character.OTHER_NUMBER:
        return NUMBER;
      default:
        return cp == 0x0345 ? NONE : OTHER;
    }
  }
}
