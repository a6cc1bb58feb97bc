package dev.clip4j.internal;

import java.nio.FloatBuffer;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The one way clip4j's host code touches tensor memory. A CUDA (or any non-CPU) tensor's data
 * pointer is a device address: dereferencing it on the host crashes the JVM, so every host read or
 * write of tensor data goes through here, and here only CPU tensors are dereferenced. {@link
 * #pointer} refuses any other device; the {@code read*} methods copy a CUDA tensor to the CPU first
 * (a synchronous device-to-host copy) and refuse devices without data (meta). {@link
 * #devicePointer} hands a CUDA tensor's address to a kernel and never dereferences it.
 *
 * <p>A test (HostReadsTest) fails when {@code data_ptr} appears anywhere else in clip4j's sources
 * except a short list of CPU-only files it names with the reason. Stateless and thread-safe.
 */
public final class HostTensors {
  private HostTensors() {}

  /**
   * The host address of {@code t}'s data, for reading or writing it on the host or handing it to
   * a CPU kernel. {@code t} must be a defined, contiguous CPU tensor.
   *
   * @param what names the tensor in the message
   * @throws IllegalArgumentException for a tensor on another device, or not contiguous
   */
  public static Pointer pointer(Tensor t, String what) {
    requireCpu(t, what);
    if (!t.is_contiguous()) {
      throw new IllegalArgumentException(what + " must be contiguous to be read on the host");
    }
    return t.data_ptr();
  }

  /** {@link #pointer} typed as floats, capacity = numel; {@code t} must be float32. */
  public static FloatPointer floats(Tensor t, String what) {
    requireType(t, ScalarType.Float, what);
    return new FloatPointer(pointer(t, what)).capacity(t.numel());
  }

  /** {@link #pointer} typed as longs, capacity = numel; {@code t} must be int64. */
  public static LongPointer longs(Tensor t, String what) {
    requireType(t, ScalarType.Long, what);
    return new LongPointer(pointer(t, what)).capacity(t.numel());
  }

  /** The bytes of a contiguous CPU tensor, capacity = its size in bytes. */
  public static BytePointer bytes(Tensor t, String what) {
    Pointer p = pointer(t, what);
    return new BytePointer(p).capacity(t.numel() * t.element_size());
  }

  /** A float32 CPU tensor's data as a buffer over its memory (no copy); see {@link #floats}. */
  public static FloatBuffer floatBuffer(Tensor t, String what) {
    return floats(t, what).asBuffer();
  }

  /**
   * The device address of a CUDA tensor's data, for a kernel argument only: never dereferenced on
   * the host.
   *
   * @throws IllegalArgumentException when {@code t} is not a CUDA tensor
   */
  public static Pointer devicePointer(Tensor t, String what) {
    requireDefined(t, what);
    if (!t.is_cuda()) {
      throw new IllegalArgumentException(what + " is on " + deviceName(t) + ", not a CUDA device");
    }
    return t.data_ptr();
  }

  /**
   * {@code t}'s elements as float32, in C order: a CPU tensor is read in place (converted and made
   * contiguous first if needed); a CUDA tensor is copied to the CPU first (a synchronous copy on
   * the current stream, so work queued there is finished).
   *
   * @throws IllegalArgumentException for a device that holds no data the host can copy (meta, ...)
   */
  public static float[] readFloats(Tensor t, String what) {
    try (Tensor host = toHost(t, ScalarType.Float, what)) {
      float[] out = new float[Math.toIntExact(host.numel())];
      floats(host, what).get(out);
      return out;
    }
  }

  /** {@code t}'s elements as int64 in C order; see {@link #readFloats}. */
  public static long[] readLongs(Tensor t, String what) {
    try (Tensor host = toHost(t, ScalarType.Long, what)) {
      long[] out = new long[Math.toIntExact(host.numel())];
      longs(host, what).get(out);
      return out;
    }
  }

  /** The rows of a 2-D tensor as float32 arrays; see {@link #readFloats}. */
  public static float[][] readRows(Tensor t, String what) {
    requireDefined(t, what);
    if (t.dim() != 2) {
      throw new IllegalArgumentException(what + " must be 2-D, got " + TensorShapes.describe(t));
    }
    int n = Math.toIntExact(t.size(0));
    int d = Math.toIntExact(t.size(1));
    float[] flat = readFloats(t, what);
    float[][] rows = new float[n][];
    for (int i = 0; i < n; i++) {
      rows[i] = java.util.Arrays.copyOfRange(flat, i * d, (i + 1) * d);
    }
    return rows;
  }

  /**
   * A contiguous CPU tensor of {@code type} with {@code t}'s values: {@code t} itself (a new handle)
   * when it already is one, else a copy. Close it.
   */
  public static Tensor toHost(Tensor t, ScalarType type, String what) {
    requireDefined(t, what);
    if (!t.is_cpu() && !t.is_cuda()) {
      throw new IllegalArgumentException(what + " is on " + deviceName(t)
          + ", which holds no data the host can read");
    }
    if (t.is_cpu() && t.scalar_type().intern() == type && t.is_contiguous()) {
      return new Tensor(t);
    }
    try (Device cpu = new Device("cpu");
        DeviceOptional d = new DeviceOptional(cpu);
        TensorOptions typed = new TensorOptions(type);
        TensorOptions o = typed.device(d);
        MemoryFormatOptional contiguous = new MemoryFormatOptional(org.bytedeco.pytorch.global.torch.MemoryFormat.Contiguous)) {
      // non_blocking = false: the copy has landed when this returns.
      return t.to(o, false, true, contiguous);
    }
  }

  /** A new int64 CPU tensor of {@code shape} holding a copy of {@code data} (row-major). Close it. */
  public static Tensor fromLongs(long[] data, long... shape) {
    long n = 1;
    for (long d : shape) {
      n = Math.multiplyExact(n, d);
    }
    if (n != data.length) {
      throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape) + " needs " + n + " values, got "
          + data.length);
    }
    try (LongPointer p = new LongPointer(data);
        TensorOptions longs = new TensorOptions(ScalarType.Long);
        Tensor view = org.bytedeco.pytorch.global.torch.from_blob(p, shape, longs)) {
      return view.clone();
    }
  }

  private static void requireCpu(Tensor t, String what) {
    requireDefined(t, what);
    if (!t.is_cpu()) {
      throw new IllegalArgumentException(what + " is on " + deviceName(t)
          + ": host code reads only CPU tensors (copy it to the CPU first)");
    }
  }

  private static void requireType(Tensor t, ScalarType type, String what) {
    requireDefined(t, what);
    ScalarType actual = t.scalar_type().intern();
    if (actual != type) {
      throw new IllegalArgumentException(what + " must be " + type + ", got " + actual);
    }
  }

  private static void requireDefined(Tensor t, String what) {
    if (t == null || !t.defined()) {
      throw new IllegalArgumentException(what + " is " + (t == null ? "null" : "undefined"));
    }
  }

  /** The device of {@code t} as LibTorch names it ("cpu", "cuda:0", "meta"). */
  public static String deviceName(Tensor t) {
    try (Device d = t.device(); BytePointer s = d.str()) {
      return s.getString();
    }
  }
}
