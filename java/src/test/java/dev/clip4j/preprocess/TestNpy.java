package dev.clip4j.preprocess;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Test-only reader of little-endian float32 and uint8 C-order .npy files (format 1.0). */
final class TestNpy {
  private TestNpy() {}

  static float[] readFloat32(Path path, int... expectedShape) throws IOException {
    ByteBuffer data = read(path, "<f4", expectedShape);
    float[] out = new float[data.remaining() / 4];
    data.asFloatBuffer().get(out);
    return out;
  }

  /** A uint8 ('|u1') .npy file's bytes, C order. */
  static byte[] readUint8(Path path, int... expectedShape) throws IOException {
    ByteBuffer data = read(path, "|u1", expectedShape);
    byte[] out = new byte[data.remaining()];
    data.get(out);
    return out;
  }

  private static ByteBuffer read(Path path, String descr, int... expectedShape) throws IOException {
    byte[] b = Files.readAllBytes(path);
    if (b.length < 10 || (b[0] & 0xFF) != 0x93 || b[1] != 'N' || b[6] != 1) {
      throw new IOException(path + ": not an .npy v1 file");
    }
    int headerLen = (b[8] & 0xFF) | ((b[9] & 0xFF) << 8);
    String header = new String(b, 10, headerLen, StandardCharsets.ISO_8859_1);
    if (!header.contains("'descr': '" + descr + "'") || !header.contains("'fortran_order': False")) {
      throw new IOException(path + ": expected " + descr + " C order, got " + header);
    }
    Matcher m = Pattern.compile("'shape': \\(([^)]*)\\)").matcher(header);
    if (!m.find()) {
      throw new IOException(path + ": no shape in " + header);
    }
    String[] dims = m.group(1).replace(" ", "").split(",");
    long count = 1;
    int k = 0;
    for (String d : dims) {
      if (d.isEmpty()) {
        continue;
      }
      int v = Integer.parseInt(d);
      if (k < expectedShape.length && expectedShape[k] != v) {
        throw new IOException(path + ": shape " + m.group(1) + " is not the expected one");
      }
      count *= v;
      k++;
    }
    int size = descr.equals("|u1") ? 1 : 4;
    if (b.length - 10 - headerLen != count * size) {
      throw new IOException(path + ": " + (b.length - 10 - headerLen) + " data bytes for shape " + m.group(1));
    }
    return ByteBuffer.wrap(b, 10 + headerLen, b.length - 10 - headerLen).slice().order(ByteOrder.LITTLE_ENDIAN);
  }
}
