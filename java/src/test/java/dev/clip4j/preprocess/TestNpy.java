package dev.clip4j.preprocess;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Test-only reader of little-endian float32 C-order .npy files (format 1.0). */
final class TestNpy {
  private TestNpy() {}

  static float[] readFloat32(Path path, int... expectedShape) throws IOException {
    byte[] b = Files.readAllBytes(path);
    if (b.length < 10 || (b[0] & 0xFF) != 0x93 || b[1] != 'N' || b[6] != 1) {
      throw new IOException(path + ": not an .npy v1 file");
    }
    int headerLen = (b[8] & 0xFF) | ((b[9] & 0xFF) << 8);
    String header = new String(b, 10, headerLen, StandardCharsets.ISO_8859_1);
    if (!header.contains("'descr': '<f4'") || !header.contains("'fortran_order': False")) {
      throw new IOException(path + ": expected <f4 C order, got " + header);
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
    ByteBuffer data = ByteBuffer.wrap(b, 10 + headerLen, b.length - 10 - headerLen).order(ByteOrder.LITTLE_ENDIAN);
    float[] out = new float[Math.toIntExact(count)];
    data.asFloatBuffer().get(out);
    return out;
  }
}
