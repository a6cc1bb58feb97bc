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

  /**
   * Every character above U+007F that some code page here encodes gets a slot number (from 1);
   * SLOTS[c >>> 8][c & 0xFF] is the slot of c, 0 for none (null page: none on that page).
   */
  private static final short[][] SLOTS = new short[256][];

  /** Per slot, the bit (1 << index) of each CHARMAP_ENCODINGS code page that encodes it. */
  private static short[] slotMask = new short[1];

  /** The bits of all CHARMAP_ENCODINGS code pages, and of those that are sloppy. */
  private static final int ALL;
  private static final int SLOPPY;

  final String name;
  final boolean sloppy;
  /** Bit of this code page in masks (0 for WINDOWS_1252, which is not in CHARMAP_ENCODINGS). */
  final int bit;
  /** Code point of each byte, or UNDEFINED. */
  private final int[] decode;
  /** Byte of each slot (meaningful where this page's bit is set in slotMask). */
  private byte[] slotByte = new byte[1];

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
        if (name.equals("windows-1252")) {
          strict1252 = new FtfyCharmaps(name, cells, 0);
        } else {
          pages.add(new FtfyCharmaps(name, cells, 1 << pages.size()));
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
    int all = 0;
    int sloppyBits = 0;
    for (FtfyCharmaps page : pages) {
      all |= page.bit;
      sloppyBits |= page.sloppy ? page.bit : 0;
    }
    ALL = all;
    SLOPPY = sloppyBits;
  }

  private FtfyCharmaps(String name, String[] high, int bit) {
    this.name = name;
    this.sloppy = name.startsWith("sloppy-");
    this.bit = bit;
    decode = new int[256];
    for (int b = 0; b < 0x80; b++) {
      decode[b] = b;
    }
    if (sloppy) {
      decode[0x1A] = 0xFFFD;
    }
    for (int i = 0; i < 128; i++) {
      decode[0x80 + i] = high[i].equals("-") ? UNDEFINED : Integer.parseInt(high[i], 16);
    }
    if (bit == 0) {
      return; // decoding only
    }
    for (int b = 0; b < 256; b++) {
      int c = decode[b];
      if (c != UNDEFINED && c >= 0x80) {
        int slot = slotOf(c);
        if (slot == 0) {
          slot = newSlot(c);
        }
        if ((slotMask[slot] & bit) != 0) {
          throw new IllegalStateException(name + ": U+" + Integer.toHexString(c) + " from two bytes");
        }
        slotMask[slot] |= (short) bit;
        if (slotByte.length <= slot) {
          slotByte = Arrays.copyOf(slotByte, Math.max(slot + 1, 2 * slotByte.length));
        }
        slotByte[slot] = (byte) b;
      }
    }
  }

  private static int slotOf(int c) {
    short[] page = SLOTS[c >>> 8];
    return page == null ? 0 : page[c & 0xFF];
  }

  private static int newSlot(int c) {
    int slot = slotMask.length;
    slotMask = Arrays.copyOf(slotMask, slot + 1);
    short[] page = SLOTS[c >>> 8];
    if (page == null) {
      page = SLOTS[c >>> 8] = new short[256];
    }
    page[c & 0xFF] = (short) slot;
    return slot;
  }

  /**
   * The bits of the CHARMAP_ENCODINGS code pages that can encode every char of the text (ftfy's
   * {@code possible_encoding}, for all of them in one pass).
   */
  static int encodableMask(CharSequence text) {
    int mask = ALL;
    int n = text.length();
    for (int i = 0; i < n && mask != 0; i++) {
      char c = text.charAt(i);
      if (c < 0x80) {
        if (c == 0x1A) {
          mask &= ~SLOPPY; // the sloppy pages use byte 0x1A for U+FFFD
        }
      } else {
        mask &= slotMask[slotOf(c)]; // slot 0 (none) has mask 0
      }
    }
    return mask;
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
        int slot = slotOf(c);
        if ((slotMask[slot] & bit) == 0) {
          return null; // includes every surrogate: no code page here has them
        }
        out[i] = slotByte[slot];
      }
    }
    return out;
  }

  /** The character byte b decodes to, or -1 where the code page leaves it undefined. */
  int decode(int b) {
    return decode[b & 0xFF];
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
