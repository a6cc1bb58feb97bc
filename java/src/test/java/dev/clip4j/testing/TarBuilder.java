package dev.clip4j.testing;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Writes POSIX ustar archives for tests (WebDataset shards): regular members, optional GNU long
 * names, and the two end-of-archive blocks. Written here so the tests do not depend on a tar
 * library; the reader is checked against Debian's tar/Python separately where noted.
 */
public final class TarBuilder {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();

  /** Adds a regular file member {@code name} (ustar name/prefix, or a GNU 'L' record when longer). */
  public TarBuilder add(String name, byte[] data) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    if (n.length > 100) {
      byte[] longName = Arrays.copyOf(n, n.length + 1);
      writeHeader("././@LongLink", longName.length, 'L');
      pad(longName);
      writeHeader(name.substring(0, 99), data.length, '0');
    } else {
      writeHeader(name, data.length, '0');
    }
    pad(data);
    return this;
  }

  /** Adds a UTF-8 text member. */
  public TarBuilder add(String name, String text) {
    return add(name, text.getBytes(StandardCharsets.UTF_8));
  }

  /** Adds a directory entry. */
  public TarBuilder dir(String name) {
    writeHeader(name.endsWith("/") ? name : name + "/", 0, '5');
    return this;
  }

  /** The archive with its end-of-archive marker. */
  public byte[] build() {
    ByteArrayOutputStream copy = new ByteArrayOutputStream();
    copy.writeBytes(out.toByteArray());
    copy.writeBytes(new byte[1024]);
    return copy.toByteArray();
  }

  /** The archive without end blocks (what a writer killed between members leaves). */
  public byte[] buildWithoutEnd() {
    return out.toByteArray();
  }

  private void pad(byte[] data) {
    out.writeBytes(data);
    int rem = data.length % 512;
    if (rem != 0) {
      out.writeBytes(new byte[512 - rem]);
    }
  }

  private void writeHeader(String name, long size, char type) {
    byte[] h = new byte[512];
    put(h, 0, name.getBytes(StandardCharsets.UTF_8), 100);
    put(h, 100, octal(0644, 8), 8);
    put(h, 108, octal(0, 8), 8);
    put(h, 116, octal(0, 8), 8);
    put(h, 124, octal(size, 12), 12);
    put(h, 136, octal(0, 12), 12);
    Arrays.fill(h, 148, 156, (byte) ' ');
    h[156] = (byte) type;
    put(h, 257, "ustar\u000000".getBytes(StandardCharsets.US_ASCII), 8);
    long sum = 0;
    for (byte b : h) {
      sum += b & 0xff;
    }
    byte[] chk = String.format("%06o\0 ", sum).getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(chk, 0, h, 148, 8);
    out.writeBytes(h);
  }

  private static byte[] octal(long v, int width) {
    return String.format("%0" + (width - 1) + "o", v).getBytes(StandardCharsets.US_ASCII);
  }

  private static void put(byte[] h, int off, byte[] v, int max) {
    System.arraycopy(v, 0, h, off, Math.min(v.length, max));
  }
}
