package dev.clip4j.tokenize;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The single-byte code pages ftfy 6.1.1's {@code fix_encoding} tries, exactly as Python and
 * ftfy's "sloppy" codecs define them: Latin-1, sloppy Windows-1252/1251/1250/1253/1254,
 * ISO-8859-2, MacRoman and CP437, in that order (ftfy's {@code CHARMAP_ENCODINGS}), plus Python's
 * strict Windows-1252.
 *
 * <p>A sloppy code page decodes the bytes its standard leaves undefined as the Latin-1 character
 * of the same number (so Java's own windows-125x charsets, which differ there, are not used), and
 * encodes U+FFFD as byte 0x1A (so the control character U+001A itself cannot be encoded). The
 * tables come from resource {@code ftfy_charmaps.tsv}, written by {@code
 * tools/reference/ftfy_charmaps.py} from Python's codecs. Immutable; thread-safe.
 */
final class FtfyCharmaps {
  /** ftfy's CHARMAP_ENCODINGS, in the order fix_encoding tries them. */
  static final List<FtfyCharmaps> CHARMAP_ENCODINGS;

  /** Python's strict windows-1252 (undefined: 0x81, 0x8D, 0x8F, 0x90, 0x9D). */
  static final FtfyCharmaps WINDOWS_1252;

  static final String LATIN_1 = "latin-1";

  private static final int UNDEFINED = -1;

  final String name;
  final boolean sloppy;
  /** Code point of each byte, or UNDEFINED. */
  private final int[] decode;
  /** Sorted characters above U+007F that encode, and their bytes. */
  private final char[] encodeChars;
  private final byte[] encodeBytes;

  static {
    List<FtfyCharmaps> pages = new ArrayList<>();
    FtfyCharmaps strict1252 = null;
    try (InputStream in = FtfyCharmaps.class.getResourceAsStream("ftfy_charmaps.tsv")) {
      if (in == null) {
        throw new IllegalStateException("resource dev/clip4j/tokenize/ftfy_charmaps.tsv missing");
      }
      BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
      for (String line = r.readLine(); line != null; line = r.readLine()) {
        if (line.isEmpty() || line.startsWith("#")) {
          continue;
        }
        int tab = line.indexOf('\t');
        String name = line.substring(0, tab);
        String[] cells = line.substring(tab + 1).split(" ");
        if (cells.length != 128) {
          throw new IllegalStateException("ftfy_charmaps.tsv: " + name + " has " + cells.length + " cells");
        }
        FtfyCharmaps page = new FtfyCharmaps(name, cells);
        if (name.equals("windows-1252")) {
          strict1252 = page;
        } else {
          pages.add(page);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    if (pages.size() != 9 || strict1252 == null || !pages.get(0).name.equals(LATIN_1)) {
      throw new IllegalStateException("ftfy_charmaps.tsv: unexpected code pages");
    }
    CHARMAP_ENCODINGS = List.copyOf(pages);
    WINDOWS_1252 = strict1252;
  }

  private FtfyCharmaps(String name, String[] high) {
    this.name = name;
    this.sloppy = name.startsWith("sloppy-");
    decode = new int[256];
    for (int b = 0; b < 0x80; b++) {
      decode[b] = b;
    }
    if (sloppy) {
      decode[0x1A] = 0xFFFD;
    }
    int defined = 0;
    for (int i = 0; i < 128; i++) {
      decode[0x80 + i] = high[i].equals("-") ? UNDEFINED : Integer.parseInt(high[i], 16);
      defined += decode[0x80 + i] == UNDEFINED ? 0 : 1;
    }
    // Characters above U+007F (and U+FFFD for byte 0x1A), sorted for binary search.
    int count = defined + (sloppy ? 1 : 0);
    long[] pairs = new long[count];
    int k = 0;
    for (int b = 0; b < 256; b++) {
      if (decode[b] != UNDEFINED && decode[b] >= 0x80) {
        pairs[k++] = ((long) decode[b] << 8) | b;
      }
    }
    Arrays.sort(pairs);
    encodeChars = new char[count];
    encodeBytes = new byte[count];
    for (int i = 0; i < count; i++) {
      encodeChars[i] = (char) (pairs[i] >>> 8);
      encodeBytes[i] = (byte) pairs[i];
    }
  }

  /** The character byte b decodes to, or -1 where the code page leaves it undefined. */
  int decode(int b) {
    return decode[b & 0xFF];
  }

  /**
   * Python's {@code text.encode(name)}, or null where a character has no byte (ftfy's {@code
   * possible_encoding} is false exactly then).
   */
  byte[] encode(CharSequence text) {
    int n = text.length();
    byte[] out = new byte[n];
    for (int i = 0; i < n; i++) {
      char c = text.charAt(i);
      if (c < 0x80) {
        if (c == 0x1A && sloppy) {
          return null;
        }
        out[i] = (byte) c;
      } else {
        int at = Arrays.binarySearch(encodeChars, c);
        if (at < 0) {
          return null; // includes every surrogate: no code page here has them
        }
        out[i] = encodeBytes[at];
      }
    }
    return out;
  }

  /** Whether every char of the text can be encoded (ftfy's {@code possible_encoding}). */
  boolean canEncode(CharSequence text) {
    int n = text.length();
    for (int i = 0; i < n; i++) {
      char c = text.charAt(i);
      if (c < 0x80 ? (c == 0x1A && sloppy) : Arrays.binarySearch(encodeChars, c) < 0) {
        return false;
      }
    }
    return true;
  }

  /** Decodes every byte; null if one is undefined (Python's strict decode failing). */
  String decode(byte[] bytes) {
    char[] out = new char[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      int cp = decode[bytes[i] & 0xFF];
      if (cp == UNDEFINED) {
        return null;
      }
      out[i] = (char) cp;
    }
    return new String(out);
  }

  @Override
  public String toString() {
    return name;
  }
}
