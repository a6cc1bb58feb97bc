package dev.clip4j.tokenize;

/**
 * An immutable set of code points of the Basic Multilingual Plane, stored as a two-level bitmap
 * (256 pages of 256 bits, absent pages empty): a membership test is two array reads. Used for
 * the character classes of ftfy's regular expressions. Thread-safe.
 */
final class BmpSet {
  private final long[][] pages;

  private BmpSet(long[][] pages) {
    this.pages = pages;
  }

  /** Whether the code point is in the set (code points above U+FFFF never are). */
  boolean contains(int cp) {
    if (cp > 0xFFFF || cp < 0) {
      return false;
    }
    long[] page = pages[cp >>> 8];
    return page != null && (page[(cp >>> 6) & 3] & (1L << cp)) != 0;
  }

  /** The members in increasing order. */
  int[] toArray() {
    int[] out = new int[size()];
    int k = 0;
    for (int p = 0; p < 256; p++) {
      long[] page = pages[p];
      for (int w = 0; page != null && w < 4; w++) {
        for (long bits = page[w]; bits != 0; bits &= bits - 1) {
          out[k++] = (p << 8) | (w << 6) | Long.numberOfTrailingZeros(bits);
        }
      }
    }
    return out;
  }

  int size() {
    int n = 0;
    for (long[] page : pages) {
      if (page != null) {
        for (long w : page) {
          n += Long.bitCount(w);
        }
      }
    }
    return n;
  }

  /** The characters of {@code chars} (no range syntax: every char is a member). */
  static BmpSet of(String chars) {
    return builder().add(chars).build();
  }

  static Builder builder() {
    return new Builder();
  }

  /** Collects members; {@link #build()} may be called once. */
  static final class Builder {
    private final long[][] pages = new long[256][];

    Builder add(int cp) {
      if (cp < 0 || cp > 0xFFFF) {
        throw new IllegalArgumentException("not a BMP code point: " + Integer.toHexString(cp));
      }
      long[] page = pages[cp >>> 8];
      if (page == null) {
        page = pages[cp >>> 8] = new long[4];
      }
      page[(cp >>> 6) & 3] |= 1L << cp;
      return this;
    }

    /** Every char of the string. */
    Builder add(String chars) {
      for (int i = 0; i < chars.length(); i++) {
        add(chars.charAt(i));
      }
      return this;
    }

    /** The inclusive range first..last. */
    Builder range(int first, int last) {
      for (int cp = first; cp <= last; cp++) {
        add(cp);
      }
      return this;
    }

    Builder addAll(BmpSet other) {
      for (int p = 0; p < 256; p++) {
        long[] src = other.pages[p];
        for (int w = 0; src != null && w < 4; w++) {
          for (long bits = src[w]; bits != 0; bits &= bits - 1) {
            add((p << 8) | (w << 6) | Long.numberOfTrailingZeros(bits));
          }
        }
      }
      return this;
    }

    BmpSet build() {
      return new BmpSet(pages);
    }
  }
}
