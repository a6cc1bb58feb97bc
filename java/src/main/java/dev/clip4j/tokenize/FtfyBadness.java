package dev.clip4j.tokenize;

import java.util.ArrayList;
import java.util.List;

/**
 * ftfy 6.1.1's mojibake heuristic, {@code ftfy.badness.is_bad}: whether the text contains one of
 * the character sequences of {@code BADNESS_RE}, an alternation of short, fixed-length
 * sequences of character classes built from ftfy's {@code MOJIBAKE_CATEGORIES}.
 *
 * <p>Instead of a regular expression this is a direct scan: each code point looks up which
 * alternatives can start with it (a bitmap page table), and only those are tried. Every
 * alternative is at most seven code points long, so the cost is linear in the text with a small
 * constant. Semantics follow Python's {@code re}: {@code \s} is {@code str.isspace()}, {@code
 * \w} is {@code str.isalnum()} or '_', {@code .} is any code point but '\n', {@code ^} is the
 * start of the text. Stateless; thread-safe.
 */
final class FtfyBadness {
  private FtfyBadness() {}

  // ---------------------------------------------------------------- ftfy's MOJIBAKE_CATEGORIES

  /** Characters with many legitimate uses: no-break space, soft hyphen, middle dot, acute, dashes, ellipsis, ’. */
  static final String COMMON = "\u00A0\u00AD\u00B7\u00B4\u2013\u2014\u2015\u2026\u2019";

  /** ¦ ¤ ¨ ¬ ¯ ¶ § ¸ ƒ ˆ ˇ ˘ ˛ ˜ † ‡ ‰ ⌐ ◊ U+FFFD ª º: nearly only ever seen in mojibake. */
  static final String BAD =
      "\u00A6\u00A4\u00A8\u00AC\u00AF\u00B6\u00A7\u00B8\u0192\u02C6\u02C7\u02D8\u02DB\u02DC"
          + "\u2020\u2021\u2030\u2310\u25CA\uFFFD\u00AA\u00BA";

  /** ¢ £ ¥ ₧ €. */
  static final String CURRENCY = "\u00A2\u00A3\u00A5\u20A7\u20AC";

  /** ¡ « ¿ © ΄ ΅ ‘ ‚ “ „ • ‹ and U+F8FF (Apple logo). */
  static final String START_PUNCTUATION =
      "\u00A1\u00AB\u00BF\u00A9\u0384\u0385\u2018\u201A\u201C\u201E\u2022\u2039\uF8FF";

  /** ® » ˝ ” › ™. */
  static final String END_PUNCTUATION = "\u00AE\u00BB\u02DD\u201D\u203A\u2122";

  /** ² ³ ¹ ± ¼ ½ ¾ × µ ÷ ⁄ ∂ ∆ ∏ ∑ √ ∞ ∩ ∫ ≈ ≠ ≡ ≤ ≥ №. */
  static final String NUMERIC =
      "\u00B2\u00B3\u00B9\u00B1\u00BC\u00BD\u00BE\u00D7\u00B5\u00F7\u2044\u2202\u2206\u220F"
          + "\u2211\u221A\u221E\u2229\u222B\u2248\u2260\u2261\u2264\u2265\u2116";

  static final BmpSet C1 = BmpSet.builder().range(0x80, 0x9F).build();

  /** Letters that can make up kaomoji faces: Ò-Ö Ù-Ü ò-ö ø-ü Ő °. */
  static final BmpSet KAOMOJI =
      BmpSet.builder()
          .range(0xD2, 0xD6)
          .range(0xD9, 0xDC)
          .range(0xF2, 0xF6)
          .range(0xF8, 0xFC)
          .add("\u0150\u00B0")
          .build();

  /** À-Ñ, Ø Ü Ý and the capital accented letters of Windows-125x and Ґ. */
  static final BmpSet UPPER_ACCENTED =
      BmpSet.builder()
          .range(0xC0, 0xD1)
          .add("\u00D8\u00DC\u00DD\u0102\u0104\u0106\u010C\u010E\u0110\u0118\u011A\u011E\u0130")
          .add("\u0139\u013D\u0141\u0143\u0147\u0152\u0158\u015A\u015E\u0160\u0162\u0164\u016E")
          .add("\u0170\u0178\u0179\u017B\u017D\u0490")
          .build();

  /** ß, à-ñ, the small accented letters of Windows-125x, ґ, and the ligatures ﬁ ﬂ. */
  static final BmpSet LOWER_ACCENTED =
      BmpSet.builder()
          .add('\u00DF')
          .range(0xE0, 0xF1)
          .add("\u0103\u0105\u0107\u010D\u010F\u0111\u0119\u011B\u011F\u013A\u013E\u0142\u0153")
          .add("\u0155\u015B\u015F\u0161\u0165\u00FC\u017A\u017C\u017E\u0491\uFB01\uFB02")
          .build();

  /** Þ, Greek capitals Α-Ω and those with tonos/dialytika, Cyrillic capitals Ё-Я. */
  static final BmpSet UPPER_COMMON =
      BmpSet.builder()
          .add('\u00DE')
          .range(0x391, 0x3A9)
          .add("\u0386\u0388\u0389\u038A\u038C\u038E\u038F\u03AA\u03AB")
          .range(0x401, 0x42F)
          .build();

  /** Greek small α-ω and those with tonos, ΰ, Cyrillic small а-џ. */
  static final BmpSet LOWER_COMMON =
      BmpSet.builder()
          .range(0x3B1, 0x3C9)
          .add("\u03AC\u03AD\u03AE\u03AF\u03B0")
          .range(0x430, 0x45F)
          .build();

  /** Box drawing │┌┐┘├┤┬┼, ═-╬, ▀▄█▌▐░▒▓ (not the single horizontal line). */
  static final BmpSet BOX =
      BmpSet.builder()
          .add("\u2502\u250C\u2510\u2518\u251C\u2524\u252C\u253C")
          .range(0x2550, 0x256C)
          .add("\u2580\u2584\u2588\u258C\u2590\u2591\u2592\u2593")
          .build();

  // ---------------------------------------------------------------- the pattern

  /** One element of a sequence: a set, or one of the predicate classes of Python's re. */
  private static final class Element {
    static final int SET = 0;
    static final int WORD = 1;
    static final int ANY_BUT_NEWLINE = 2;
    static final int NOT_ASCII_LETTER = 3;

    final int kind;
    final BmpSet set;

    Element(int kind, BmpSet set) {
      this.kind = kind;
      this.set = set;
    }

    boolean matches(int cp) {
      switch (kind) {
        case SET:
          return set.contains(cp);
        case WORD:
          return isPythonWord(cp);
        case ANY_BUT_NEWLINE:
          return cp != '\n';
        default:
          return !((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'));
      }
    }
  }

  /** The alternatives of BADNESS_RE in source order ({@code \s?} expanded into two). */
  private static final Element[][] ALTERNATIVES;

  /** The alternative anchored at the start of the text: {@code ^[ÃÂ][ ]}. */
  private static final Element[] ANCHORED;

  /** Per code point (BMP), the alternatives that can start with it, as a bit mask. */
  private static final long[][] START_MASK = new long[256][];

  /** Per code point (BMP), the alternatives whose second element is a set holding it. */
  private static final long[][] SECOND_MASK = new long[256][];

  /** The alternatives whose second element is a predicate class (checked in full instead). */
  private static final long SECOND_ANY;

  /** The alternatives of a single element ([c1]). */
  private static final long SINGLE;

  static {
    List<Element[]> alts = new ArrayList<>();
    BmpSet bad = BmpSet.of(BAD);
    BmpSet c1 = C1;
    BmpSet currency = BmpSet.of(CURRENCY);
    BmpSet start = BmpSet.of(START_PUNCTUATION);
    BmpSet end = BmpSet.of(END_PUNCTUATION);
    BmpSet numeric = BmpSet.of(NUMERIC);
    BmpSet lowerAcc = LOWER_ACCENTED;
    BmpSet upperAcc = UPPER_ACCENTED;
    BmpSet box = BOX;
    BmpSet asciiLetter = BmpSet.builder().range('a', 'z').range('A', 'Z').build();
    BmpSet asciiLower = BmpSet.builder().range('a', 'z').build();
    Element word = new Element(Element.WORD, null);
    Element any = new Element(Element.ANY_BUT_NEWLINE, null);
    Element notAsciiLetter = new Element(Element.NOT_ASCII_LETTER, null);
    BmpSet.Builder space = BmpSet.builder();
    for (int cp = 0; cp <= 0xFFFF; cp++) {
      if (TextCleaner.isPythonSpace(cp)) {
        space.add(cp);
      }
    }
    BmpSet whitespace = space.build();

    // [c1]
    alts.add(seq(c1));
    // [bad lower_accented upper_accented box start end currency numeric] [bad]
    alts.add(seq(union(bad, lowerAcc, upperAcc, box, start, end, currency, numeric), bad));
    // [a-zA-Z] [lower_common upper_common] [bad]
    alts.add(seq(asciiLetter, union(LOWER_COMMON, UPPER_COMMON), bad));
    // [bad] [lower_accented upper_accented box start end currency numeric]
    alts.add(seq(bad, union(lowerAcc, upperAcc, box, start, end, currency, numeric)));
    // [lower_accented lower_common box end currency numeric] [upper_accented]
    alts.add(seq(union(lowerAcc, LOWER_COMMON, box, end, currency, numeric), upperAcc));
    // [box end currency numeric] [lower_accented]
    alts.add(seq(union(box, end, currency, numeric), lowerAcc));
    // [lower_accented box end] [currency]
    alts.add(seq(union(lowerAcc, box, end), currency));
    // \s [upper_accented] [currency]
    alts.add(seq(whitespace, upperAcc, currency));
    // [upper_accented box] [numeric]
    alts.add(seq(union(upperAcc, box), numeric));
    // [lower_accented upper_accented box currency end] [start] [numeric]
    alts.add(seq(union(lowerAcc, upperAcc, box, currency, end), start, numeric));
    // [lower_accented upper_accented currency numeric box] [end] [start]
    alts.add(seq(union(lowerAcc, upperAcc, currency, numeric, box), end, start));
    // [currency numeric box] [start]
    alts.add(seq(union(currency, numeric, box), start));
    // [a-z] [upper_accented] [start currency]
    alts.add(seq(asciiLower, upperAcc, union(start, currency)));
    // [box] [kaomoji]
    alts.add(seq(box, KAOMOJI));
    // [lower_accented upper_accented currency numeric start end] [box]
    alts.add(seq(union(lowerAcc, upperAcc, currency, numeric, start, end), box));
    // [box] [end]
    alts.add(seq(box, end));
    // [lower_accented upper_accented] [end] \w
    alts.add(new Element[] {set(union(lowerAcc, upperAcc)), set(end), word});
    // [Œœ][^A-Za-z]
    alts.add(new Element[] {set(BmpSet.of("\u0152\u0153")), notAsciiLetter});
    // [ÂÃÎÐ][€Šš¢£Ÿž\xa0\xad®©°·» start end –—´]
    alts.add(
        seq(
            BmpSet.of("\u00C2\u00C3\u00CE\u00D0"),
            union(
                BmpSet.of(
                    "\u20AC\u0160\u0161\u00A2\u00A3\u0178\u017E\u00A0\u00AD\u00AE\u00A9\u00B0"
                        + "\u00B7\u00BB\u2013\u2014\u00B4"),
                start,
                end)));
    // × [²³]
    alts.add(seq(BmpSet.of("\u00D7"), BmpSet.of("\u00B2\u00B3")));
    // Arabic in Windows-1252: [ØÙ] [common currency bad numeric start ŸŠ®°µ»], twice
    BmpSet arabicSecond =
        union(BmpSet.of(COMMON), currency, bad, numeric, start,
            BmpSet.of("\u0178\u0160\u00AE\u00B0\u00B5\u00BB"));
    BmpSet arabicFirst = BmpSet.of("\u00D8\u00D9");
    alts.add(seq(arabicFirst, arabicSecond, arabicFirst, arabicSecond));
    // South Asian scripts in Windows-1252: à[²µ¹¼½¾]
    alts.add(seq(BmpSet.of("\u00E0"), BmpSet.of("\u00B2\u00B5\u00B9\u00BC\u00BD\u00BE")));
    // MacRoman: √[±∂†≠®™´≤≥¥µø]
    alts.add(
        seq(
            BmpSet.of("\u221A"),
            BmpSet.of("\u00B1\u2202\u2020\u2260\u00AE\u2122\u00B4\u2264\u2265\u00A5\u00B5\u00F8")));
    // ≈[°¢]
    alts.add(seq(BmpSet.of("\u2248"), BmpSet.of("\u00B0\u00A2")));
    // ‚Ä[ìîïòôúùû†°¢π]
    alts.add(
        seq(
            BmpSet.of("\u201A"),
            BmpSet.of("\u00C4"),
            BmpSet.of("\u00EC\u00EE\u00EF\u00F2\u00F4\u00FA\u00F9\u00FB\u2020\u00B0\u00A2\u03C0")));
    // ‚[âó][àä°ê]
    alts.add(
        seq(BmpSet.of("\u201A"), BmpSet.of("\u00E2\u00F3"), BmpSet.of("\u00E0\u00E4\u00B0\u00EA")));
    // Windows-1251 mojibake of the U+2000 range: вЂ
    alts.add(seq(BmpSet.of("\u0432"), BmpSet.of("\u0402")));
    // [ВГРС][c1 bad start end currency °µ][ВГРС]
    BmpSet cyrillicEnds = BmpSet.of("\u0412\u0413\u0420\u0421");
    alts.add(
        seq(cyrillicEnds, union(c1, bad, start, end, currency, BmpSet.of("\u00B0\u00B5")),
            cyrillicEnds));
    // ГўВЂВ.[A-Za-z ]
    alts.add(
        new Element[] {
          set(BmpSet.of("\u0413")), set(BmpSet.of("\u045E")), set(BmpSet.of("\u0412")),
          set(BmpSet.of("\u0402")), set(BmpSet.of("\u0412")), any,
          set(BmpSet.builder().range('a', 'z').range('A', 'Z').add(' ').build())
        });
    // Ã[\xa0¡]
    alts.add(seq(BmpSet.of("\u00C3"), BmpSet.of("\u00A0\u00A1")));
    // [a-z]\s?[ÃÂ][ ]  (as two alternatives: without and with the space)
    BmpSet aTilde = BmpSet.of("\u00C3\u00C2");
    BmpSet blank = BmpSet.of(" ");
    alts.add(seq(asciiLower, aTilde, blank));
    alts.add(seq(asciiLower, whitespace, aTilde, blank));
    // [a-z.,?! end] Â [ start end]
    alts.add(
        seq(
            union(BmpSet.builder().range('a', 'z').add(".,?!").build(), end),
            BmpSet.of("\u00C2"),
            union(blank, start, end)));
    // Windows-1253 mojibake of the U+2000 range: β€[™\xa0Ά\xad®°]
    alts.add(
        seq(BmpSet.of("\u03B2"), BmpSet.of("\u20AC"),
            BmpSet.of("\u2122\u00A0\u0386\u00AD\u00AE\u00B0")));
    // [ΒΓΞΟ][c1 bad start end currency °][ΒΓΞΟ]
    BmpSet greekEnds = BmpSet.of("\u0392\u0393\u039E\u039F");
    alts.add(
        seq(greekEnds, union(c1, bad, start, end, currency, BmpSet.of("\u00B0")), greekEnds));

    ALTERNATIVES = alts.toArray(new Element[0][]);
    if (ALTERNATIVES.length > 64) {
      throw new AssertionError("start masks hold at most 64 alternatives");
    }
    // ^[ÃÂ][ ]
    ANCHORED = new Element[] {set(aTilde), set(blank)};

    long secondAny = 0;
    long single = 0;
    for (int a = 0; a < ALTERNATIVES.length; a++) {
      Element[] alt = ALTERNATIVES[a];
      mark(START_MASK, alt[0].set, a); // every alternative starts with an explicit set
      if (alt.length == 1) {
        single |= 1L << a;
      } else if (alt[1].kind == Element.SET) {
        mark(SECOND_MASK, alt[1].set, a);
      } else {
        secondAny |= 1L << a;
      }
    }
    SECOND_ANY = secondAny;
    SINGLE = single;
  }

  private static void mark(long[][] table, BmpSet set, int alternative) {
    for (int cp : set.toArray()) {
      long[] page = table[cp >>> 8];
      if (page == null) {
        page = table[cp >>> 8] = new long[256];
      }
      page[cp & 0xFF] |= 1L << alternative;
    }
  }

  private static long mask(long[][] table, int cp) {
    if (cp > 0xFFFF) {
      return 0;
    }
    long[] page = table[cp >>> 8];
    return page == null ? 0 : page[cp & 0xFF];
  }

  private static Element set(BmpSet s) {
    return new Element(Element.SET, s);
  }

  private static Element[] seq(BmpSet... sets) {
    Element[] out = new Element[sets.length];
    for (int i = 0; i < sets.length; i++) {
      out[i] = set(sets[i]);
    }
    return out;
  }

  private static BmpSet union(BmpSet... sets) {
    BmpSet.Builder b = BmpSet.builder();
    for (BmpSet s : sets) {
      b.addAll(s);
    }
    return b.build();
  }

  /** Python re's {@code \w} for a str pattern: {@code str.isalnum()} or '_'. */
  static boolean isPythonWord(int cp) {
    if (cp == '_') {
      return true;
    }
    switch (Character.getType(cp)) {
      case Character.UPPERCASE_LETTER:
      case Character.LOWERCASE_LETTER:
      case Character.TITLECASE_LETTER:
      case Character.MODIFIER_LETTER:
      case Character.OTHER_LETTER:
      case Character.DECIMAL_DIGIT_NUMBER:
      case Character.LETTER_NUMBER:
      case Character.OTHER_NUMBER:
        return true;
      default:
        return false;
    }
  }

  // ---------------------------------------------------------------- matching

  /** ftfy's {@code is_bad(text)}: whether BADNESS_RE matches anywhere in the text. */
  static boolean isBad(CharSequence text) {
    int n = text.length();
    if (matchesAt(ANCHORED, text, 0)) {
      return true;
    }
    // Each position's candidates: alternatives whose first set holds this code point and whose
    // second element admits the next one; only those are checked in full.
    for (int i = 0; i < n; ) {
      int cp = Character.codePointAt(text, i);
      int next = i + Character.charCount(cp);
      long candidates = mask(START_MASK, cp);
      if (candidates != 0) {
        if ((candidates & SINGLE) != 0) {
          return true;
        }
        if (next < n) {
          candidates &= mask(SECOND_MASK, Character.codePointAt(text, next)) | SECOND_ANY;
          while (candidates != 0) {
            int a = Long.numberOfTrailingZeros(candidates);
            candidates &= candidates - 1;
            if (matchesAt(ALTERNATIVES[a], 1, text, next)) {
              return true;
            }
          }
        }
      }
      i = next;
    }
    return false;
  }

  private static boolean matchesAt(Element[] seq, CharSequence text, int pos) {
    return matchesAt(seq, 0, text, pos);
  }

  /** Whether seq[from..] matches text at pos, one code point per element. */
  private static boolean matchesAt(Element[] seq, int from, CharSequence text, int pos) {
    int n = text.length();
    int p = pos;
    for (int k = from; k < seq.length; k++) {
      if (p >= n) {
        return false;
      }
      int cp = Character.codePointAt(text, p);
      if (!seq[k].matches(cp)) {
        return false;
      }
      p += Character.charCount(cp);
    }
    return true;
  }

  /**
   * For tests: each alternative as a list of its elements, an element being the sorted code
   * points of its set or the name of its predicate (WORD, ANY_BUT_NEWLINE, NOT_ASCII_LETTER); the
   * anchored alternative last.
   */
  static List<List<Object>> describe() {
    List<List<Object>> out = new ArrayList<>();
    for (Element[] alt : ALTERNATIVES) {
      out.add(describe(alt));
    }
    out.add(describe(ANCHORED));
    return out;
  }

  private static List<Object> describe(Element[] alt) {
    List<Object> seq = new ArrayList<>();
    for (Element e : alt) {
      switch (e.kind) {
        case Element.SET:
          seq.add(e.set.toArray());
          break;
        case Element.WORD:
          seq.add("WORD");
          break;
        case Element.ANY_BUT_NEWLINE:
          seq.add("ANY_BUT_NEWLINE");
          break;
        default:
          seq.add("NOT_ASCII_LETTER");
      }
    }
    return seq;
  }
}
