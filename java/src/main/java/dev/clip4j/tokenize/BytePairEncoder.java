package dev.clip4j.tokenize;

import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * CLIP's byte-level BPE over one pre-token. Symbols are vocabulary ids; the initial word is one
 * symbol per UTF-8 byte, the last one carrying the {@code </w>} end-of-word marker. The lowest-
 * ranked adjacent pair present is merged, all its non-overlapping occurrences left to right,
 * until no ranked pair remains: exactly open_clip's {@code bpe()}, but in O(n log n) with a heap
 * instead of O(n^2), so a 100k-byte word stays cheap. Results of short tokens are cached in a
 * bounded Guava cache. Immutable apart from the cache; thread-safe.
 */
final class BytePairEncoder {
  static final String END_OF_WORD = "</w>";

  /** Tokens longer than this (in chars) are not cached. */
  private static final int MAX_CACHED_TOKEN_LENGTH = 64;

  private static final long CACHE_ENTRIES = 65_536;

  /** bytes_to_unicode(): byte value to its printable stand-in character. */
  private static final char[] BYTE_CHARS = byteChars();

  /** The 256 byte symbols in open_clip's vocabulary order (printable ranges first). */
  private static final int[] BYTES_IN_VOCAB_ORDER = bytesInVocabOrder();

  private final int[] byteId = new int[256];
  private final int[] byteEndId = new int[256];
  private final PairTable pairs;
  private final Cache<String, int[]> cache =
      CacheBuilder.newBuilder().maximumSize(CACHE_ENTRIES).build();

  /**
   * @param encoder symbol to id; must hold all 256 byte symbols and their {@code </w>} forms
   * @param merges merge pairs by rank (index); a later duplicate pair overrides an earlier one, as
   *     a Python dict does. Merges whose parts are not in the vocabulary can never apply and are
   *     ignored.
   * @throws IllegalArgumentException naming the missing symbol when the vocabulary lacks a byte
   *     symbol or the result of a merge
   */
  BytePairEncoder(Map<String, Integer> encoder, List<String[]> merges) {
    for (int b = 0; b < 256; b++) {
      String c = String.valueOf(BYTE_CHARS[b]);
      byteId[b] = require(encoder, c, "byte symbol");
      byteEndId[b] = require(encoder, c + END_OF_WORD, "byte symbol");
    }
    pairs = new PairTable(merges.size());
    for (int rank = 0; rank < merges.size(); rank++) {
      String[] m = merges.get(rank);
      Integer left = encoder.get(m[0]);
      Integer right = encoder.get(m[1]);
      if (left == null || right == null) {
        continue;
      }
      int merged = require(encoder, m[0] + m[1], "merge result");
      pairs.put(left, right, ((long) rank << 32) | merged);
    }
  }

  private static int require(Map<String, Integer> encoder, String symbol, String what) {
    Integer id = encoder.get(symbol);
    if (id == null) {
      throw new IllegalArgumentException(what + " '" + symbol + "' is not in the vocabulary");
    }
    return id;
  }

  private static char[] byteChars() {
    char[] map = new char[256];
    int extra = 0;
    for (int b = 0; b < 256; b++) {
      map[b] = isPrintableByte(b) ? (char) b : (char) (256 + extra++);
    }
    return map;
  }

  private static boolean isPrintableByte(int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  }

  private static int[] bytesInVocabOrder() {
    int[] order = new int[256];
    int k = 0;
    for (int b = 0; b < 256; b++) {
      if (isPrintableByte(b)) {
        order[k++] = b;
      }
    }
    for (int b = 0; b < 256; b++) {
      if (!isPrintableByte(b)) {
        order[k++] = b;
      }
    }
    return order;
  }

  /** The initial BPE symbols of one pre-token: its UTF-8 bytes as byte symbols, the last with {@code </w>}. */
  static java.util.List<String> symbolsOf(String token) {
    byte[] bytes = token.getBytes(StandardCharsets.UTF_8);
    java.util.List<String> s = new java.util.ArrayList<>(bytes.length);
    for (int i = 0; i < bytes.length; i++) {
      String c = String.valueOf(BYTE_CHARS[bytes[i] & 0xFF]);
      s.add(i == bytes.length - 1 ? c + END_OF_WORD : c);
    }
    return s;
  }

  /** The byte symbol strings in open_clip's vocabulary order (ids 0..255). */
  static String[] byteSymbolsInVocabOrder() {
    String[] s = new String[256];
    for (int i = 0; i < 256; i++) {
      s[i] = String.valueOf(BYTE_CHARS[BYTES_IN_VOCAB_ORDER[i]]);
    }
    return s;
  }

  /**
   * Ids of one pre-token (already cleaned and lower-cased). The array may be shared with the
   * cache: callers must not modify it.
   */
  int[] encode(String token) {
    if (token.length() > MAX_CACHED_TOKEN_LENGTH) {
      return bpe(token.getBytes(StandardCharsets.UTF_8));
    }
    int[] ids = cache.getIfPresent(token);
    if (ids == null) {
      ids = bpe(token.getBytes(StandardCharsets.UTF_8));
      cache.put(token, ids);
    }
    return ids;
  }

  private int[] bpe(byte[] bytes) {
    int n = bytes.length;
    int[] sym = new int[n];
    int[] prev = new int[n];
    int[] next = new int[n];
    for (int i = 0; i < n; i++) {
      int b = bytes[i] & 0xFF;
      sym[i] = i == n - 1 ? byteEndId[b] : byteId[b];
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    LongHeap heap = new LongHeap(Math.max(4, n));
    for (int i = 0; i + 1 < n; i++) {
      push(heap, i, sym[i], sym[i + 1]);
    }
    int[] round = new int[16];
    while (!heap.isEmpty()) {
      // One round of open_clip's loop: the lowest rank present, every occurrence left to right.
      // A merge never creates a pair of the same rank, so this round's entries are all in the
      // heap already; entries made stale by earlier merges are skipped by re-checking the pair.
      long rank = heap.peek() >>> 32;
      int m = 0;
      while (!heap.isEmpty() && (heap.peek() >>> 32) == rank) {
        if (m == round.length) {
          round = Arrays.copyOf(round, m * 2);
        }
        round[m++] = (int) heap.pop();
      }
      for (int k = 0; k < m; k++) {
        int p = round[k];
        int q = next[p];
        if (sym[p] < 0 || q < 0) {
          continue;
        }
        long v = pairs.get(sym[p], sym[q]);
        if (v < 0 || (v >>> 32) != rank) {
          continue;
        }
        sym[p] = (int) v;
        sym[q] = -1;
        next[p] = next[q];
        if (next[q] >= 0) {
          prev[next[q]] = p;
        }
        if (prev[p] >= 0) {
          push(heap, prev[p], sym[prev[p]], sym[p]);
        }
        if (next[p] >= 0) {
          push(heap, p, sym[p], sym[next[p]]);
        }
      }
    }
    int count = 0;
    for (int i = 0; i >= 0; i = next[i]) {
      count++;
    }
    int[] out = new int[count];
    int k = 0;
    for (int i = 0; i >= 0; i = next[i]) {
      out[k++] = sym[i];
    }
    return out;
  }

  private void push(LongHeap heap, int pos, int left, int right) {
    long v = pairs.get(left, right);
    if (v >= 0) {
      heap.push((v & 0xFFFF_FFFF_0000_0000L) | pos);
    }
  }

  /** Open-addressing map from a symbol pair to (rank << 32 | merged id). */
  private static final class PairTable {
    private final long[] keys;
    private final long[] values;
    private final int mask;

    PairTable(int expected) {
      int cap = Integer.highestOneBit(Math.max(4, expected) * 2) * 2;
      keys = new long[cap];
      values = new long[cap];
      Arrays.fill(values, -1L);
      mask = cap - 1;
    }

    private static long key(int left, int right) {
      return ((long) left << 32) | (right & 0xFFFF_FFFFL);
    }

    private int slot(long key) {
      long h = key * 0x9E3779B97F4A7C15L;
      return (int) (h >>> 40) & mask;
    }

    void put(int left, int right, long value) {
      long k = key(left, right);
      int s = slot(k);
      while (values[s] >= 0 && keys[s] != k) {
        s = (s + 1) & mask;
      }
      keys[s] = k;
      values[s] = value;
    }

    /** The value, or -1 when the pair has no rank. */
    long get(int left, int right) {
      long k = key(left, right);
      for (int s = slot(k); values[s] >= 0; s = (s + 1) & mask) {
        if (keys[s] == k) {
          return values[s];
        }
      }
      return -1L;
    }
  }

  /** A binary min-heap of longs. */
  private static final class LongHeap {
    private long[] a;
    private int size;

    LongHeap(int capacity) {
      a = new long[capacity];
    }

    boolean isEmpty() {
      return size == 0;
    }

    long peek() {
      return a[0];
    }

    void push(long v) {
      if (size == a.length) {
        a = Arrays.copyOf(a, size * 2);
      }
      int i = size++;
      while (i > 0) {
        int parent = (i - 1) >>> 1;
        if (a[parent] <= v) {
          break;
        }
        a[i] = a[parent];
        i = parent;
      }
      a[i] = v;
    }

    long pop() {
      long top = a[0];
      long last = a[--size];
      int i = 0;
      while (true) {
        int c = 2 * i + 1;
        if (c >= size) {
          break;
        }
        if (c + 1 < size && a[c + 1] < a[c]) {
          c++;
        }
        if (a[c] >= last) {
          break;
        }
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
      return top;
    }
  }
}
