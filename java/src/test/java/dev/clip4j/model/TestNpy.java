package dev.clip4j.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A minimal test-only reader of the fixtures' .npy files (format 1.0, little-endian, C order,
 * {@code <f4} or {@code <i8}). Not the product's reader.
 */
final class TestNpy {
  private static final Pattern DESCR = Pattern.compile("'descr':\\s*'([^']+)'");
  private static final Pattern FORTRAN = Pattern.compile("'fortran_order':\\s*(True|False)");
  private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");

  /** The array: shape and the values of one of the two types. */
  record Array(long[] shape, float[] floats, long[] longs) {
    int rows() {
      return (int) shape[0];
    }

    /** Elements per row (product of the shape after the first dimension). */
    int rowSize() {
      long n = 1;
      for (int i = 1; i < shape.length; i++) {
        n *= shape[i];
      }
      return (int) n;
    }
  }

  private TestNpy() {}

  static Array read(Path file) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    byte[] magic = new byte[6];
    b.get(magic);
    if (magic[0] != (byte) 0x93 || !new String(magic, 1, 5, StandardCharsets.US_ASCII).equals("NUMPY")) {
      throw new IOException(file + ": not an .npy file");
    }
    int major = b.get();
    b.get();
    if (major != 1) {
      throw new IOException(file + ": .npy version " + major + " not supported by the test reader");
    }
    int headerLen = Short.toUnsignedInt(b.getShort());
    byte[] header = new byte[headerLen];
    b.get(header);
    String h = new String(header, StandardCharsets.US_ASCII);
    Matcher d = DESCR.matcher(h);
    Matcher f = FORTRAN.matcher(h);
    Matcher s = SHAPE.matcher(h);
    if (!d.find() || !f.find() || !s.find() || f.group(1).equals("True")) {
      throw new IOException(file + ": unsupported header " + h);
    }
    String[] parts = s.group(1).split(",");
    long n = 1;
    java.util.List<Long> dims = new java.util.ArrayList<>();
    for (String p : parts) {
      if (!p.isBlank()) {
        dims.add(Long.parseLong(p.trim()));
        n *= dims.get(dims.size() - 1);
      }
    }
    long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
    switch (d.group(1)) {
      case "<f4": {
        float[] v = new float[(int) n];
        b.asFloatBuffer().get(v);
        return new Array(shape, v, null);
      }
      case "<i8": {
        long[] v = new long[(int) n];
        b.asLongBuffer().get(v);
        return new Array(shape, null, v);
      }
      default:
        throw new IOException(file + ": dtype " + d.group(1) + " not supported by the test reader");
    }
  }
}
