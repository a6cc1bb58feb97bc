package dev.clip4j.tokenize;

import java.io.ByteArrayOutputStream;

/**
 * The byte-level steps of ftfy 6.1.1's {@code fix_encoding}: Python's strict UTF-8 decoder,
 * ftfy's {@code utf-8-variants} decoder (CESU-8 and Java's modified UTF-8), {@code
 * restore_byte_a0} (with {@code ALTERED_UTF8_RE} and {@code A_GRAVE_WORD_RE}) and {@code
 * replace_lossy_sequences} ({@code LOSSY_UTF8_RE}).
 *
 * <p>ftfy's byte patterns are alternations of fixed-length sequences of byte classes; here each is
 * a table of 256-bit sets matched directly, with Python's rules: at each position the
 * alternatives are tried in source order and the first that matches wins, substitutions do not
 * overlap and resume after the match. Linear time. Stateless; thread-safe.
 */
final class FtfyBytes {
  private FtfyBytes() {}

  // ---------------------------------------------------------------- byte-class sequences

  /** An alternation of fixed-length sequences of byte sets. */
  static final class Alternation {
    /** Per value of the first byte, the alternatives that can start with it, in source order. */
    private final long[][][][] byFirstByte = new long[256][][][];

    Alternation(long[][]... alternatives) {
      for (int v = 0; v < 256; v++) {
        java.util.List<long[][]> list = new java.util.ArrayList<>();
        for (long[][] seq : alternatives) {
          if ((seq[0][v >>> 6] & (1L << v)) != 0) {
            list.add(seq);
          }
        }
        byFirstByte[v] = list.isEmpty() ? null : list.toArray(new long[0][][]);
      }
    }

    /** Length of the first alternative matching at pos, or -1. */
    int matchAt(byte[] b, int pos) {
      long[][][] candidates = byFirstByte[b[pos] & 0xFF];
      if (candidates == null) {
        return -1;
      }
      outer:
      for (long[][] seq : candidates) {
        if (pos + seq.length > b.length) {
          continue;
        }
        for (int k = 1; k < seq.length; k++) {
          int v = b[pos + k] & 0xFF;
          if ((seq[k][v >>> 6] & (1L << v)) == 0) {
            continue outer;
          }
        }
        return seq.length;
      }
      return -1;
    }

    /** Python's {@code pattern.search(b) is not None}. */
    boolean search(byte[] b) {
      for (int i = 0; i < b.length; i++) {
        if (matchAt(b, i) > 0) {
          return true;
        }
      }
      return false;
    }
  }

  /** A byte set from single bytes and inclusive ranges written as {lo, hi} pairs. */
  static long[] bytes(int... loHiPairs) {
    long[] set = new long[4];
    for (int i = 0; i < loHiPairs.length; i += 2) {
      for (int v = loHiPairs[i]; v <= loHiPairs[i + 1]; v++) {
        set[v >>> 6] |= 1L << v;
      }
    }
    return set;
  }

  private static long[] one(int v) {
    return bytes(v, v);
  }

  private static long[][] seq(long[]... sets) {
    return sets;
  }

  private static final long[] CONT = bytes(0x80, 0xBF);
  private static final long[] SPACE = one(0x20);
  /** Continuation bytes except 0x85 and 0xA0: [\x80-\x84\x86-\x9f\xa1-\xbf]. */
  private static final long[] CONT_NOT_85_A0 = bytes(0x80, 0x84, 0x86, 0x9F, 0xA1, 0xBF);

  /**
   * ftfy's ALTERED_UTF8_RE: UTF-8 sequences that would be valid if one byte 0x20 were 0xA0 (a
   * no-break space flattened to a space).
   */
  static final Alternation ALTERED_UTF8 =
      new Alternation(
          seq(bytes(0xC2, 0xC3, 0xC5, 0xC5, 0xCE, 0xCE, 0xD0, 0xD0, 0xD9, 0xD9), SPACE),
          seq(bytes(0xE2, 0xE3), SPACE, CONT_NOT_85_A0),
          seq(bytes(0xE0, 0xE3), CONT_NOT_85_A0, SPACE),
          seq(one(0xF0), SPACE, CONT, CONT),
          seq(one(0xF0), CONT, SPACE, CONT),
          seq(one(0xF0), CONT, CONT, SPACE));

  private static final long[] SUB_OR_Q = bytes(0x1A, 0x1A, '?', '?');
  private static final long[] SUB_OR_CONT = bytes(0x1A, 0x1A, 0x80, 0xBF);
  private static final long[] SUB_Q_OR_CONT = bytes(0x1A, 0x1A, '?', '?', 0x80, 0xBF);

  /**
   * ftfy's LOSSY_UTF8_RE: UTF-8 (and CESU-8) sequences with a continuation byte lost to 0x1A (the
   * sloppy codecs' byte for U+FFFD) or, at most once, '?'; and 0x1A alone.
   */
  static final Alternation LOSSY_UTF8 =
      new Alternation(
          seq(bytes(0xC2, 0xDF), one(0x1A)),
          seq(bytes(0xC2, 0xC3), one('?')),
          seq(one(0xED), bytes(0xA0, 0xAF), SUB_OR_Q, one(0xED), bytes(0xB0, 0xBF), SUB_Q_OR_CONT),
          seq(one(0xED), bytes(0xA0, 0xAF), SUB_Q_OR_CONT, one(0xED), bytes(0xB0, 0xBF), SUB_OR_Q),
          seq(bytes(0xE0, 0xEF), SUB_OR_Q, SUB_OR_CONT),
          seq(bytes(0xE0, 0xEF), SUB_OR_CONT, SUB_OR_Q),
          seq(bytes(0xF0, 0xF4), SUB_OR_Q, SUB_OR_CONT, SUB_OR_CONT),
          seq(bytes(0xF0, 0xF4), SUB_OR_CONT, SUB_OR_Q, SUB_OR_CONT),
          seq(bytes(0xF0, 0xF4), SUB_OR_CONT, SUB_OR_CONT, SUB_OR_Q),
          seq(one(0x1A)));

  // ---------------------------------------------------------------- transcoders

  /**
   * ftfy's {@code restore_byte_a0}: first "Ã " as a word of its own becomes "à " (0xC3 0x20 to
   * 0xC3 0xA0 0x20, A_GRAVE_WORD_RE: not before " ", "quele", "quela", "quilo" or "s "), then every
   * ALTERED_UTF8_RE match gets its 0x20 back as 0xA0.
   */
  static byte[] restoreByteA0(byte[] in) {
    ByteArrayOutputStream a = new ByteArrayOutputStream(in.length + 8);
    int n = in.length;
    for (int i = 0; i < n; ) {
      if ((in[i] & 0xFF) == 0xC3 && i + 1 < n && in[i + 1] == ' ' && !aGraveExceptionAt(in, i + 2)) {
        a.write(0xC3);
        a.write(0xA0);
        a.write(' ');
        i += 2;
      } else {
        a.write(in[i]);
        i++;
      }
    }
    byte[] b = a.toByteArray();
    for (int i = 0; i < b.length; ) {
      int len = ALTERED_UTF8.matchAt(b, i);
      if (len > 0) {
        for (int k = i; k < i + len; k++) {
          if (b[k] == ' ') {
            b[k] = (byte) 0xA0;
          }
        }
        i += len;
      } else {
        i++;
      }
    }
    return b;
  }

  private static final byte[][] A_GRAVE_EXCEPTIONS = {
    {' '}, ascii("quele"), ascii("quela"), ascii("quilo"), ascii("s ")
  };

  private static byte[] ascii(String s) {
    return s.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  }

  private static boolean aGraveExceptionAt(byte[] b, int pos) {
    outer:
    for (byte[] word : A_GRAVE_EXCEPTIONS) {
      if (pos + word.length > b.length) {
        continue;
      }
      for (int k = 0; k < word.length; k++) {
        if (b[pos + k] != word[k]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  /** ftfy's {@code replace_lossy_sequences}: every LOSSY_UTF8_RE match becomes UTF-8 U+FFFD. */
  static byte[] replaceLossySequences(byte[] in) {
    ByteArrayOutputStream out = null;
    int copied = 0;
    for (int i = 0; i < in.length; ) {
      int len = LOSSY_UTF8.matchAt(in, i);
      if (len > 0) {
        if (out == null) {
          out = new ByteArrayOutputStream(in.length + 8);
        }
        out.write(in, copied, i - copied);
        out.write(0xEF);
        out.write(0xBF);
        out.write(0xBD);
        i += len;
        copied = i;
      } else {
        i++;
      }
    }
    if (out == null) {
      return in;
    }
    out.write(in, copied, in.length - copied);
    return out.toByteArray();
  }

  // ---------------------------------------------------------------- UTF-8 decoders

  /** Python's {@code bytes.decode("utf-8")} (strict); null where Python raises UnicodeDecodeError. */
  static String decodeUtf8(byte[] b) {
    return decode(b, false);
  }

  /**
   * ftfy's {@code bytes.decode("utf-8-variants")}: strict UTF-8, plus 0xC0 0x80 as U+0000 (Java's
   * modified UTF-8) and six-byte CESU-8 surrogate pairs as one supplementary character; null where
   * ftfy's decoder raises.
   *
   * <p>Two quirks of ftfy's decoder are kept, both from its patterns using {@code $}, which in
   * Python also matches just before a final newline: a final "0xC0 '\n'" decodes to U+0000 (the
   * newline is consumed), and a final CESU-8 pair whose last byte is '\n' decodes with that
   * byte's low six bits.
   */
  static String decodeUtf8Variants(byte[] b) {
    return decode(b, true);
  }

  /**
   * Decodes in two passes: the first checks the bytes and counts the chars (so a failing decode
   * stops at the first bad byte without building anything), the second writes them.
   */
  private static String decode(byte[] b, boolean variants) {
    int chars = scan(b, variants, null);
    if (chars < 0) {
      return null;
    }
    char[] out = new char[chars];
    scan(b, variants, out);
    return new String(out);
  }

  /** Checks (out == null) or decodes into out; returns the number of chars, or -1 if invalid. */
  private static int scan(byte[] b, boolean variants, char[] out) {
    int n = b.length;
    int o = 0;
    int i = 0;
    while (i < n) {
      int b0 = b[i] & 0xFF;
      if (b0 < 0x80) {
        if (out != null) {
          out[o] = (char) b0;
        }
        o++;
        i++;
        continue;
      }
      int cp;
      int length;
      if (variants && b0 == 0xC0) {
        // 0xC0 0x80, or 0xC0 then a final '\n' (see above); any other 0xC0 is an error.
        if (i + 1 < n && ((b[i + 1] & 0xFF) == 0x80 || (i + 2 == n && b[i + 1] == '\n'))) {
          cp = 0;
          length = 2;
        } else {
          return -1;
        }
      } else if (variants && b0 == 0xED && i + 1 < n && (b[i + 1] & 0xFF) >= 0xA0) {
        // A surrogate: only a complete CESU-8 pair decodes.
        if (n - i >= 6 && isCesu8Pair(b, i, n)) {
          cp =
              ((b[i + 1] & 0x0F) << 16)
                  + ((b[i + 2] & 0x3F) << 10)
                  + ((b[i + 4] & 0x0F) << 6)
                  + (b[i + 5] & 0x3F)
                  + 0x10000;
          length = 6;
        } else {
          return -1;
        }
      } else {
        int lo = 0x80;
        int hi = 0xBF;
        if (b0 >= 0xC2 && b0 <= 0xDF) {
          length = 2;
          cp = b0 & 0x1F;
        } else if (b0 >= 0xE0 && b0 <= 0xEF) {
          length = 3;
          cp = b0 & 0x0F;
          if (b0 == 0xE0) {
            lo = 0xA0; // no overlong forms
          } else if (b0 == 0xED) {
            hi = 0x9F; // no surrogates
          }
        } else if (b0 >= 0xF0 && b0 <= 0xF4) {
          length = 4;
          cp = b0 & 0x07;
          if (b0 == 0xF0) {
            lo = 0x90;
          } else if (b0 == 0xF4) {
            hi = 0x8F; // nothing above U+10FFFF
          }
        } else {
          return -1;
        }
        if (i + length > n) {
          return -1;
        }
        for (int k = 1; k < length; k++) {
          int c = b[i + k] & 0xFF;
          if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) {
            return -1;
          }
          cp = (cp << 6) | (c & 0x3F);
        }
      }
      if (cp >= 0x10000) {
        if (out != null) {
          out[o] = Character.highSurrogate(cp);
          out[o + 1] = Character.lowSurrogate(cp);
        }
        o += 2;
      } else {
        if (out != null) {
          out[o] = (char) cp;
        }
        o++;
      }
      i += length;
    }
    return o;
  }

  /** ED [A0-AF] [80-BF] ED [B0-BF] [80-BF], the last byte also '\n' when it ends the input. */
  private static boolean isCesu8Pair(byte[] b, int i, int n) {
    int b1 = b[i + 1] & 0xFF;
    int b2 = b[i + 2] & 0xFF;
    int b3 = b[i + 3] & 0xFF;
    int b4 = b[i + 4] & 0xFF;
    int b5 = b[i + 5] & 0xFF;
    return b1 >= 0xA0 && b1 <= 0xAF
        && b2 >= 0x80 && b2 <= 0xBF
        && b3 == 0xED
        && b4 >= 0xB0 && b4 <= 0xBF
        && ((b5 >= 0x80 && b5 <= 0xBF) || (b5 == '\n' && i + 6 == n));
  }
}
