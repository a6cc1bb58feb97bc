package dev.clip4j.model.io;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;

/**
 * One named tensor read from a checkpoint: dtype, shape and exactly {@code numel * byteSize}
 * bytes of little-endian, C-ordered data (often a read-only slice of a memory-mapped file).
 * Immutable.
 */
public final class TensorData {
  private final String name;
  private final DType dtype;
  private final long[] shape;
  private final ByteBuffer data;

  TensorData(String name, DType dtype, long[] shape, ByteBuffer data) {
    this.name = name;
    this.dtype = dtype;
    this.shape = shape.clone();
    this.data = data.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * A tensor over {@code data} from its position to its limit (not copied: the caller must not
   * change those bytes afterwards), which must hold exactly {@code numel(shape) *
   * dtype.byteSize()} bytes, little-endian and C-ordered. For readers and converters that build
   * tensors (a fused attention projection, a transposed matrix).
   *
   * @throws IllegalArgumentException if a dimension is negative, there are more than 16, the
   *     element count overflows, or the byte count does not match
   */
  public static TensorData of(String name, DType dtype, long[] shape, ByteBuffer data) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(dtype, "dtype");
    Objects.requireNonNull(shape, "shape");
    Objects.requireNonNull(data, "data");
    if (shape.length > 16) {
      throw new IllegalArgumentException(name + ": more than 16 dimensions");
    }
    for (long d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException(name + ": negative dimension in " + Arrays.toString(shape));
      }
    }
    long bytes;
    try {
      bytes = Math.multiplyExact(numel(shape), dtype.byteSize());
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException(name + ": shape " + Arrays.toString(shape) + " overflows", e);
    }
    if (data.remaining() != bytes) {
      throw new IllegalArgumentException(name + ": " + dtype + " " + Arrays.toString(shape) + " needs " + bytes
          + " bytes, the buffer has " + data.remaining());
    }
    return new TensorData(name, dtype, shape, data.slice());
  }

  /** The same tensor under another name (the data is shared, not copied). */
  public TensorData withName(String newName) {
    Objects.requireNonNull(newName, "newName");
    return newName.equals(name) ? this : new TensorData(newName, dtype, shape, data.duplicate());
  }

  /** Bytes of data, {@code numel * dtype.byteSize()}. */
  public long byteSize() {
    return numel() * dtype.byteSize();
  }

  public String name() {
    return name;
  }

  public DType dtype() {
    return dtype;
  }

  /** A copy of the shape. */
  public long[] shape() {
    return shape.clone();
  }

  /** Number of elements. */
  public long numel() {
    return numel(shape);
  }

  static long numel(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /** The data: read-only, little-endian, position 0, limit = numel * byteSize. */
  public ByteBuffer data() {
    return data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
  }

  /** The elements as floats (F32, F16, BF16, F64), for tests and small tensors. */
  public float[] toFloatArray() {
    int n = Math.toIntExact(numel());
    float[] out = new float[n];
    ByteBuffer b = data();
    switch (dtype) {
      case F32:
        b.asFloatBuffer().get(out);
        break;
      case F64:
        for (int i = 0; i < n; i++) {
          out[i] = (float) b.getDouble(i * 8);
        }
        break;
      case F16:
        for (int i = 0; i < n; i++) {
          out[i] = halfToFloat(b.getShort(i * 2));
        }
        break;
      case BF16:
        for (int i = 0; i < n; i++) {
          out[i] = Float.intBitsToFloat((b.getShort(i * 2) & 0xffff) << 16);
        }
        break;
      default:
        throw new IllegalStateException(name + " is " + dtype + ", not a floating-point tensor");
    }
    return out;
  }

  /** IEEE 754 binary16 to float (exact). */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1f;
    int mant = bits & 0x3ff;
    if (exp == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    }
    if (exp == 0) {
      float v = mant * 0x1p-24f; // subnormal (or zero)
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  @Override
  public String toString() {
    return name + " " + dtype + " " + Arrays.toString(shape);
  }
}
