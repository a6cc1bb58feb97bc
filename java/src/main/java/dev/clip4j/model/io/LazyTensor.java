package dev.clip4j.model.io;

import java.util.Arrays;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * A tensor whose name, dtype and shape are known before its data exists: converters describe
 * their whole output this way (so a safetensors header can be written first) and then produce
 * one tensor at a time, so a model is converted without holding two copies of it.
 *
 * <p>{@link #load()} calls the supplier every time (nothing is cached) and checks that what it
 * produced is what was declared. Immutable; thread-safe if the supplier is.
 *
 * @param name the tensor's name in the output
 * @param dtype its element type
 * @param shape its shape
 * @param supplier produces the data (a view of a memory-mapped file, or a new buffer)
 */
public record LazyTensor(String name, DType dtype, long[] shape, Supplier<TensorData> supplier) {

  public LazyTensor {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(dtype, "dtype");
    Objects.requireNonNull(supplier, "supplier");
    shape = shape.clone();
  }

  /** A tensor that already exists, under {@code name}. */
  public static LazyTensor of(String name, TensorData data) {
    Objects.requireNonNull(data, "data");
    return new LazyTensor(name, data.dtype(), data.shape(), () -> data);
  }

  /** A copy of the declared shape. */
  @Override
  public long[] shape() {
    return shape.clone();
  }

  /** Bytes of the declared tensor. */
  public long byteSize() {
    return Math.multiplyExact(TensorData.numel(shape), dtype.byteSize());
  }

  /**
   * Produces the data, named {@link #name()}.
   *
   * @throws IllegalStateException if the supplier produced another dtype or shape than declared
   */
  public TensorData load() {
    TensorData t = Objects.requireNonNull(supplier.get(), name + ": the supplier returned null");
    if (t.dtype() != dtype || !Arrays.equals(t.shape(), shape)) {
      throw new IllegalStateException(name + ": declared " + dtype + " " + Arrays.toString(shape) + ", produced "
          + t.dtype() + " " + Arrays.toString(t.shape()));
    }
    return t.withName(name);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof LazyTensor l && l.name.equals(name) && l.dtype == dtype && Arrays.equals(l.shape, shape)
        && l.supplier.equals(supplier);
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, dtype, Arrays.hashCode(shape));
  }

  @Override
  public String toString() {
    return name + " " + dtype + " " + Arrays.toString(shape);
  }
}
