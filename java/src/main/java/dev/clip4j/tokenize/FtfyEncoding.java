package dev.clip4j.tokenize;

/**
 * ftfy 6.1.1's {@code fix_encoding} with the default configuration: mojibake detection and
 * repair, as {@code ftfy.fix_text} applies it to each segment.
 *
 * <p>One step ({@code _fix_encoding_one_step_and_explain}) leaves ASCII text and text that does
 * not look like mojibake ({@link FtfyBadness#isBad}) alone; otherwise it tries, in ftfy's order:
 *
 * <ol>
 *   <li>for each of ftfy's single-byte code pages the text can be encoded in ({@link
 *       FtfyCharmaps#CHARMAP_ENCODINGS}): encode, apply {@code restore_byte_a0} (when {@code
 *       ALTERED_UTF8_RE} matches) and, for the sloppy code pages, {@code replace_lossy_sequences},
 *       then decode as UTF-8 ({@code utf-8-variants} when a byte 0xED or 0xC0 is present); the
 *       first decode that succeeds is the result;
 *   <li>{@code decode_inconsistent_utf8}: each run of UTF-8-looking mojibake ({@code
 *       UTF8_DETECTOR_RE}) shorter than the text that is bad on its own is fixed by itself;
 *   <li>text that is all Latin-1 is read as Windows-1252 (strict: a byte Windows-1252 leaves
 *       undefined makes this step fail; ftfy 6.1.1's check for "the text is also Windows-1252"
 *       compares against a name its list never holds, so it never short-cuts);
 *   <li>{@code fix_c1_controls}: remaining C1 controls read as sloppy Windows-1252.
 * </ol>
 *
 * {@code fix_encoding} repeats the step until the text stops changing. Each step is linear in the
 * text; ordinary mojibake needs a round per layer of encoding, but where each repair exposes the
 * next ("Ãƒ©" repeated) it takes a round per link, as in ftfy, which {@link FtfyBudget} bounds.
 * Stateless; thread-safe.
 */
final class FtfyEncoding {
  private FtfyEncoding() {}

  /** Letters that a Latin-1-like code page decodes from UTF-8 lead bytes 0xC2..0xDF. */
  private static final BmpSet FIRST_OF_2 =
      BmpSet.builder()
          .range(0xC2, 0xDF)
          .add("\u0102\u0106\u010C\u010E\u0110\u0118\u011A\u011E\u0130\u0139\u0143\u0147\u0150")
          .add("\u0158\u015E\u0162\u016E\u0170")
          .range(0x392, 0x3A1)
          .range(0x3A3, 0x3AF)
          .range(0x412, 0x42F)
          .build();

  /** ... from lead bytes 0xE0..0xEF. */
  private static final BmpSet FIRST_OF_3 =
      BmpSet.builder()
          .range(0xE0, 0xEF)
          .add("\u0103\u0107\u010D\u010F\u0119\u011B\u013A\u0155")
          .range(0x3B0, 0x3BF)
          .range(0x430, 0x43F)
          .build();

  /** ... from lead bytes 0xF0 and 0xF3. */
  private static final BmpSet FIRST_OF_4 = BmpSet.of("\u00F0\u00F3\u0111\u011F\u03C0\u03C3\u0440\u0443");

  private static final BmpSet FIRST_OF_ANY =
      BmpSet.builder().addAll(FIRST_OF_2).addAll(FIRST_OF_3).addAll(FIRST_OF_4).build();

  /** ... from continuation bytes 0x80..0xBF, excluding what often stands for itself. */
  private static final String CONTINUATION_STRICT_CHARS =
      "\u0104\u0105\u013D\u013E\u0141\u0142\u0152\u0153\u015A\u015B\u015E\u015F\u0160\u0161"
          + "\u0164\u0165\u0178\u0179\u017A\u017B\u017C\u017D\u017E\u0192\u02C6\u02C7\u02D8"
          + "\u02DB\u02DC\u02DD\u0384\u0385\u0386\u0388\u0389\u038A\u038C\u038E\u038F\u0401"
          + "\u0402\u0403\u0404\u0405\u0406\u0407\u0408\u0409\u040A\u040B\u040C\u040E\u040F"
          + "\u0451\u0452\u0453\u0454\u0455\u0456\u0457\u0458\u0459\u045A\u045B\u045C\u045E"
          + "\u045F\u0490\u0491\u2020\u2021\u2022\u2030\u2039\u203A\u20AC\u2116\u2122";

  private static final BmpSet CONTINUATION_STRICT =
      BmpSet.builder().range(0x80, 0xBF).add(CONTINUATION_STRICT_CHARS).build();

  /** The strict set plus dashes, quotation marks, the ellipsis and a space (for U+00A0). */
  private static final BmpSet CONTINUATION =
      BmpSet.builder()
          .addAll(CONTINUATION_STRICT)
          .add("\u2013\u2014\u2015\u2018\u2019\u201A\u201C\u201D\u201E\u2026 ")
          .build();

  /** Test hook: BmpSets of the detector, in the order first-of-2, -3, -4, continuation, strict. */
  static BmpSet[] detectorSets() {
    return new BmpSet[] {FIRST_OF_2, FIRST_OF_3, FIRST_OF_4, CONTINUATION, CONTINUATION_STRICT};
  }

  /** ftfy's {@code fix_encoding(text)} without a work limit (for tests of this step alone). */
  static String fixEncoding(String text) {
    return fixEncoding(text, FtfyBudget.unlimited());
  }

  /**
   * ftfy's {@code fix_encoding(text)}: one step at a time until the text stops changing.
   *
   * @throws dev.clip4j.InvalidInputException when the budget runs out
   */
  static String fixEncoding(String text, FtfyBudget budget) {
    String t = text;
    while (true) {
      String next = fixEncodingStep(t, budget);
      if (next.equals(t)) {
        return next;
      }
      t = next;
    }
  }

  /** ftfy's {@code _fix_encoding_one_step_and_explain}, without the explanation. */
  static String fixEncodingStep(String text, FtfyBudget budget) {
    budget.spend(text.length());
    if (text.isEmpty() || isAscii(text) || !FtfyBadness.isBad(text)) {
      return text;
    }
    int possible = FtfyCharmaps.encodableMask(text);
    for (FtfyCharmaps page : FtfyCharmaps.CHARMAP_ENCODINGS) {
      if ((possible & page.bit) == 0) {
        continue;
      }
      byte[] bytes = page.encode(text);
      if (FtfyBytes.ALTERED_UTF8.search(bytes)) {
        bytes = FtfyBytes.restoreByteA0(bytes);
      }
      if (page.sloppy) {
        bytes = FtfyBytes.replaceLossySequences(bytes);
      }
      String decoded =
          contains(bytes, 0xED) || contains(bytes, 0xC0)
              ? FtfyBytes.decodeUtf8Variants(bytes)
              : FtfyBytes.decodeUtf8(bytes);
      if (decoded != null) {
        return decoded;
      }
    }

    if (findUtf8Run(text, 0) >= 0) {
      String fixed = decodeInconsistentUtf8(text, budget);
      if (!fixed.equals(text)) {
        return fixed;
      }
    }

    FtfyCharmaps latin1 = FtfyCharmaps.CHARMAP_ENCODINGS.get(0);
    if ((possible & latin1.bit) != 0) {
      byte[] bytes = latin1.encode(text);
      String fixed = FtfyCharmaps.WINDOWS_1252.decode(bytes);
      if (fixed != null && !fixed.equals(text)) {
        return fixed;
      }
    }

    if (hasC1(text)) {
      return TextCleaner.fixC1Controls(text);
    }
    return text;
  }

  /**
   * ftfy's {@code decode_inconsistent_utf8}: every UTF8_DETECTOR_RE match (a run of
   * UTF-8-looking mojibake not preceded by a strict continuation character) that is shorter than
   * the text and bad on its own is replaced by its {@link #fixEncoding}.
   */
  static String decodeInconsistentUtf8(String text, FtfyBudget budget) {
    int n = text.length();
    StringBuilder out = null;
    int copied = 0;
    int from = 0;
    while (true) {
      int start = findUtf8Run(text, from);
      if (start < 0) {
        break;
      }
      int end = utf8RunEnd(text, start);
      if (start > 0 || end < n) {
        String run = text.substring(start, end);
        if (FtfyBadness.isBad(run)) {
          String fixed = fixEncoding(run, budget);
          if (out == null) {
            out = new StringBuilder(n);
          }
          out.append(text, copied, start).append(fixed);
          copied = end;
        }
      }
      from = end;
    }
    if (out == null) {
      return text;
    }
    return out.append(text, copied, n).toString();
  }

  /** Start of the first UTF8_DETECTOR_RE match at or after {@code from}, or -1. */
  private static int findUtf8Run(String text, int from) {
    int n = text.length();
    for (int i = from; i < n; ) {
      int cp = text.codePointAt(i);
      if (FIRST_OF_ANY.contains(cp)
          && (i == 0 || !CONTINUATION_STRICT.contains(text.codePointBefore(i)))
          && oneSequence(text, i) > i) {
        return i;
      }
      i += Character.charCount(cp);
    }
    return -1;
  }

  /** End of the greedy run of sequences starting at {@code start} (which holds one). */
  private static int utf8RunEnd(String text, int start) {
    int p = start;
    while (true) {
      int next = oneSequence(text, p);
      if (next <= p) {
        return p;
      }
      p = next;
    }
  }

  /**
   * One repetition of the detector's group at p: a first-of-2 then one continuation, a first-of-3
   * then two, or a first-of-4 then three, tried in that order; returns the end, or p if none.
   */
  private static int oneSequence(String text, int p) {
    int n = text.length();
    if (p >= n) {
      return p;
    }
    int cp = text.codePointAt(p);
    int after = p + Character.charCount(cp);
    int end;
    if (FIRST_OF_2.contains(cp) && (end = continuations(text, after, 1)) > 0) {
      return end;
    }
    if (FIRST_OF_3.contains(cp) && (end = continuations(text, after, 2)) > 0) {
      return end;
    }
    if (FIRST_OF_4.contains(cp) && (end = continuations(text, after, 3)) > 0) {
      return end;
    }
    return p;
  }

  /** End of {@code count} CONTINUATION characters at p, or -1. */
  private static int continuations(String text, int p, int count) {
    int n = text.length();
    int q = p;
    for (int k = 0; k < count; k++) {
      if (q >= n) {
        return -1;
      }
      int cp = text.codePointAt(q); // all members are in the BMP
      if (!CONTINUATION.contains(cp)) {
        return -1;
      }
      q += Character.charCount(cp);
    }
    return q;
  }

  static boolean isAscii(CharSequence s) {
    for (int i = 0; i < s.length(); i++) {
      if (s.charAt(i) >= 0x80) {
        return false;
      }
    }
    return true;
  }

  private static boolean hasC1(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c >= 0x80 && c <= 0x9F) {
        return true;
      }
    }
    return false;
  }

  private static boolean contains(byte[] bytes, int value) {
    for (byte b : bytes) {
      if ((b & 0xFF) == value) {
        return true;
      }
    }
    return false;
  }
}
