package dev.clip4j.io;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.internal.UserFiles;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NumPy {@code .npy} files (format versions 1.0, 2.0 and 3.0) of little-endian float32, float64,
 * int64 and int32 in C order: what clip4j writes ([N, D] float32 embeddings, [N, L] int64 token
 * ids, [N, 3, H, W] pixels) and reads back. Headers are parsed strictly (exactly the keys descr,
 * fortran_order, shape) with bounded sizes, so a hostile file is an {@link InvalidInputException}
 * naming it, never an oversized allocation. Writes are atomic (temp file + rename).
 */
public final class Npy {
  private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
  private static final int MAX_HEADER = 1 << 16;
  private static final long MAX_ELEMENTS = Integer.MAX_VALUE - 8;
  // Possessive quantifiers: no backtracking, so a header of 64 KiB of whitespace fails in linear time
  // (the greedy version backtracked quadratically and hung on one).
  private static final Pattern HEADER = Pattern.compile(
      "\\{\\s*+(?:'descr'\\s*+:\\s*+'(?<d>[^']*+)'|'fortran_order'\\s*+:\\s*+(?<f>True|False)|'shape'\\s*+:\\s*+\\((?<s>[0-9,\\s]*+)\\))"
          + "\\s*+,\\s*+(?:'descr'\\s*+:\\s*+'(?<d2>[^']*+)'|'fortran_order'\\s*+:\\s*+(?<f2>True|False)|'shape'\\s*+:\\s*+\\((?<s2>[0-9,\\s]*+)\\))"
          + "\\s*+,\\s*+(?:'descr'\\s*+:\\s*+'(?<d3>[^']*+)'|'fortran_order'\\s*+:\\s*+(?<f3>True|False)|'shape'\\s*+:\\s*+\\((?<s3>[0-9,\\s]*+)\\))"
          + "\\s*+,?\\s*+\\}\\s*+");

  private Npy() {}

  /** Element types clip4j reads and writes. */
  public enum DType {
    FLOAT32("<f4", 4),
    FLOAT64("<f8", 8),
    INT64("<i8", 8),
    INT32("<i4", 4);

    final String descr;
    final int size;

    DType(String descr, int size) {
      this.descr = descr;
      this.size = size;
    }

    /** Bytes per element. */
    public int size() {
      return size;
    }

    static DType of(String descr) {
      for (DType t : values()) {
        if (t.descr.equals(descr) || (t.size == 1 && descr.equals("|" + t.descr.substring(1)))) {
          return t;
        }
      }
      return null;
    }
  }

  /** A loaded array: dtype, shape, and its little-endian data. */
  public record Array(DType dtype, long[] shape, ByteBuffer data) {
    /** Number of elements. */
    public long numel() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }

    /** The elements as floats (float32/float64 arrays). */
    public float[] floats() {
      float[] out = new float[(int) numel()];
      ByteBuffer b = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
      if (dtype == DType.FLOAT32) {
        b.asFloatBuffer().get(out);
      } else if (dtype == DType.FLOAT64) {
        for (int i = 0; i < out.length; i++) {
          out[i] = (float) b.getDouble(i * 8);
        }
      } else {
        throw new IllegalStateException("not a float array: " + dtype);
      }
      return out;
    }

    /** The elements as longs (int64/int32 arrays). */
    public long[] longs() {
      long[] out = new long[(int) numel()];
      ByteBuffer b = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
      if (dtype == DType.INT64) {
        b.asLongBuffer().get(out);
      } else if (dtype == DType.INT32) {
        for (int i = 0; i < out.length; i++) {
          out[i] = b.getInt(i * 4);
        }
      } else {
        throw new IllegalStateException("not an integer array: " + dtype);
      }
      return out;
    }
  }

  /**
   * The parsed header of a {@code .npy} file: element type, shape, and where the data starts.
   *
   * @param dtype element type
   * @param shape dimensions (C order)
   * @param dataOffset byte offset of the first element in the file
   * @param dataBytes size of the data section in bytes (checked to equal the rest of the file)
   */
  public record Header(DType dtype, long[] shape, long dataOffset, long dataBytes) {
    /** Number of elements. */
    public long numel() {
      return dataBytes / dtype.size;
    }
  }

  /**
   * Reads and strictly validates the header of a {@code .npy} file without reading its data:
   * the same checks as {@link #read(Path)} (magic, version, exactly descr/fortran_order/shape, a
   * supported little-endian dtype, C order, data section size equal to the rest of the file),
   * but no element-count cap, so callers can memory-map arrays larger than a heap array.
   *
   * @throws InvalidInputException naming the file when it is not a valid array
   */
  public static Header readHeader(Path file) {
    UserFiles.requireRegularFile(file, InvalidInputException::new);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      return parseHeader(ch, file);
    } catch (ArithmeticException e) {
      throw bad(file, "shape overflows");
    } catch (IOException e) {
      throw new InvalidInputException(file + ": cannot read: " + e.getMessage(), e);
    }
  }

  private static Header parseHeader(FileChannel ch, Path file) throws IOException {
    long size = ch.size();
    ByteBuffer pre = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
    readFully(ch, pre, 0, file);
    pre.flip();
    for (byte m : MAGIC) {
      if (pre.get() != m) {
        throw bad(file, "not a .npy file (bad magic)");
      }
    }
    int major = pre.get() & 0xff;
    pre.get();
    long headerLen;
    int prefix;
    if (major == 1) {
      headerLen = pre.getShort(8) & 0xffff;
      prefix = 10;
    } else if (major == 2 || major == 3) {
      headerLen = pre.getInt(8) & 0xffffffffL;
      prefix = 12;
    } else {
      throw bad(file, "unsupported .npy format version " + major);
    }
    if (headerLen > MAX_HEADER || prefix + headerLen > size) {
      throw bad(file, "header length " + headerLen + " is out of bounds");
    }
    ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
    readFully(ch, hb, prefix, file);
    String header = new String(hb.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
    Matcher m = HEADER.matcher(header);
    if (!m.matches()) {
      throw bad(file, "header is not a dict of exactly descr, fortran_order and shape: " + abbreviate(header));
    }
    String descr = first(m, "d", "d2", "d3");
    String fortran = first(m, "f", "f2", "f3");
    String shapeText = first(m, "s", "s2", "s3");
    if (descr == null || fortran == null || shapeText == null) {
      throw bad(file, "header lacks descr, fortran_order or shape: " + abbreviate(header));
    }
    DType dtype = DType.of(descr);
    if (dtype == null) {
      throw bad(file, "dtype '" + descr + "' is not supported (little-endian <f4, <f8, <i8, <i4)");
    }
    if (fortran.equals("True")) {
      throw bad(file, "fortran_order arrays are not supported; save with np.ascontiguousarray");
    }
    long[] shape = parseShape(shapeText, file);
    long numel = 1;
    for (long d : shape) {
      numel = Math.multiplyExact(numel, d);
    }
    long dataBytes = Math.multiplyExact(numel, (long) dtype.size);
    long offset = prefix + headerLen;
    if (size - offset != dataBytes) {
      throw bad(file, "data section has " + (size - offset) + " bytes, shape " + Arrays.toString(shape)
          + " of " + descr + " needs " + dataBytes);
    }
    return new Header(dtype, shape, offset, dataBytes);
  }

  /** Reads a whole {@code .npy} file. */
  public static Array read(Path file) {
    UserFiles.requireRegularFile(file, InvalidInputException::new);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      Header h = parseHeader(ch, file);
      if (h.numel() > MAX_ELEMENTS) {
        throw bad(file, "array of shape " + Arrays.toString(h.shape()) + " is too large");
      }
      if (h.dataBytes() > Integer.MAX_VALUE - 8) {
        throw bad(file, "array of shape " + Arrays.toString(h.shape()) + " (" + h.dataBytes()
            + " bytes) is larger than the 2 GiB a .npy read can hold");
      }
      ByteBuffer data = ByteBuffer.allocate((int) h.dataBytes()).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, data, h.dataOffset(), file);
      data.flip();
      return new Array(h.dtype(), h.shape(), data.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN));
    } catch (ArithmeticException e) {
      throw bad(file, "shape overflows");
    } catch (IOException e) {
      throw new InvalidInputException(file + ": cannot read: " + e.getMessage(), e);
    }
  }

  private static String first(Matcher m, String... groups) {
    String found = null;
    for (String g : groups) {
      String v = m.group(g);
      if (v != null) {
        if (found != null) {
          return null; // a key given twice
        }
        found = v;
      }
    }
    return found;
  }

  private static long[] parseShape(String text, Path file) {
    List<Long> dims = new ArrayList<>();
    String t = text.trim();
    if (!t.isEmpty()) {
      String[] parts = t.split(",", -1);
      for (int i = 0; i < parts.length; i++) {
        String p = parts[i].trim();
        if (p.isEmpty()) {
          if (i == parts.length - 1 && i > 0) {
            continue; // trailing comma: (3,)
          }
          throw bad(file, "malformed shape (" + text + ")");
        }
        if (p.length() > 12) {
          throw bad(file, "dimension " + p + " is too large");
        }
        if (!p.chars().allMatch(c -> c >= '0' && c <= '9')) { // e.g. "(2 3,)": found by fuzzing
          throw bad(file, "malformed shape (" + text + ")");
        }
        dims.add(Long.parseLong(p));
      }
    }
    if (dims.size() > 16) {
      throw bad(file, "more than 16 dimensions");
    }
    return dims.stream().mapToLong(Long::longValue).toArray();
  }

  private static void readFully(FileChannel ch, ByteBuffer b, long pos, Path file) throws IOException {
    while (b.hasRemaining()) {
      int n = ch.read(b, pos);
      if (n < 0) {
        throw bad(file, "file is truncated");
      }
      pos += n;
    }
  }

  private static InvalidInputException bad(Path file, String what) {
    return new InvalidInputException(file + ": " + what);
  }

  private static String abbreviate(String s) {
    return s.length() > 120 ? s.substring(0, 120) + "..." : s;
  }

  /** Writes float32 {@code data} with {@code shape} (C order). */
  public static void writeFloat32(Path file, float[] data, long... shape) {
    checkCount(data.length, shape);
    ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(data);
    write(file, DType.FLOAT32, shape, b);
  }

  /** Writes int64 {@code data} with {@code shape} (C order). */
  public static void writeInt64(Path file, long[] data, long... shape) {
    checkCount(data.length, shape);
    ByteBuffer b = ByteBuffer.allocate(data.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    b.asLongBuffer().put(data);
    write(file, DType.INT64, shape, b);
  }

  private static void checkCount(long count, long[] shape) {
    long n = 1;
    for (long d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
      }
      n = Math.multiplyExact(n, d);
    }
    if (n != count) {
      throw new IllegalArgumentException(count + " elements do not fill shape " + Arrays.toString(shape));
    }
  }

  /** The header bytes (version 1.0, padded to a multiple of 64 as NumPy writes it). */
  static byte[] header(DType dtype, long[] shape) {
    StringBuilder s = new StringBuilder("{'descr': '").append(dtype.descr).append("', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < shape.length; i++) {
      s.append(i == 0 ? "" : ", ").append(shape[i]);
    }
    s.append(shape.length == 1 ? ",), }" : "), }");
    int unpadded = 10 + s.length() + 1;
    int pad = (64 - unpadded % 64) % 64;
    s.append(" ".repeat(pad)).append('\n');
    byte[] text = s.toString().getBytes(StandardCharsets.ISO_8859_1);
    ByteBuffer b = ByteBuffer.allocate(10 + text.length).order(ByteOrder.LITTLE_ENDIAN);
    b.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) text.length).put(text);
    return b.array();
  }

  /** Writes raw little-endian {@code data} of {@code dtype} atomically (temp file + rename). */
  public static void write(Path file, DType dtype, long[] shape, ByteBuffer data) {
    Path abs = file.toAbsolutePath();
    Path tmp = abs.resolveSibling("." + abs.getFileName() + ".tmp");
    try {
      try (OutputStream out = Files.newOutputStream(tmp)) {
        out.write(header(dtype, shape));
        ByteBuffer d = data.duplicate();
        byte[] chunk = new byte[1 << 16];
        while (d.hasRemaining()) {
          int n = Math.min(chunk.length, d.remaining());
          d.get(chunk, 0, n);
          out.write(chunk, 0, n);
        }
      }
      Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException ignored) {
        // best effort
      }
      throw new Clip4jException(ErrorCode.IO, "cannot write " + file + ": " + e.getMessage(), e);
    }
  }
}
