package dev.clip4j.model;

import dev.clip4j.internal.GemmPool;
import dev.clip4j.internal.NativeLib;
import dev.clip4j.internal.TensorShapes;
import dev.clip4j.jni.Clip4jNative;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * An nn.Linear ({@code y = x @ W^T + b}, fp32, CPU) whose weight was packed once for clip4j's
 * batch-invariant GEMM ({@code clip4j_gemm_f32}): a row's result is bitwise the same whatever
 * the number of rows it is computed with. Owns the packed weight and the bias (LibTorch tensors,
 * freed by {@link #close()}). Thread safety: {@link #forward} may run from many threads at once.
 */
final class PackedLinear implements AutoCloseable {
  private final long n;
  private final long k;
  private final long packedLength;
  private final Tensor packed;
  private final Tensor bias;
  private final TensorOptions floats;
  private final MemoryFormatOptional contiguousFormat;
  // Addresses made once: no JavaCPP object per call on the hot path.
  private final FloatPointer packedPtr;
  private final FloatPointer biasPtr;

  /**
   * Packs {@code weight} [n, k] (and copies {@code bias} [n], or none when null); both float32 on
   * the CPU, any strides. The caller keeps its tensors.
   */
  PackedLinear(Tensor weight, Tensor bias) {
    if (weight.dim() != 2 || weight.scalar_type().intern() != ScalarType.Float || !weight.is_cpu()) {
      throw new IllegalArgumentException("a packed linear needs a float32 CPU weight [n, k], got "
          + TensorShapes.describe(weight));
    }
    this.n = weight.size(0);
    this.k = weight.size(1);
    if (bias != null && (bias.dim() != 1 || bias.size(0) != n || bias.scalar_type().intern() != ScalarType.Float)) {
      throw new IllegalArgumentException("bias must be float32 [" + n + "], got " + TensorShapes.describe(bias));
    }
    NativeLib.load();
    try (LongPointer len = new LongPointer(1)) {
      NativeLib.check(Clip4jNative.clip4j_gemm_packed_size(n, k, len));
      this.packedLength = len.get();
    }
    this.floats = new TensorOptions(ScalarType.Float);
    this.contiguousFormat = new MemoryFormatOptional(torch.MemoryFormat.Contiguous);
    this.packed = torch.empty(new long[] {packedLength}, floats, contiguousFormat);
    try (Tensor w = weight.contiguous()) {
      NativeLib.check(Clip4jNative.clip4j_gemm_pack_f32(
          new FloatPointer(w.data_ptr()), n, k, new FloatPointer(packed.data_ptr()), packedLength));
    }
    this.bias = bias == null ? null : bias.contiguous().clone();
    this.packedPtr = new FloatPointer(packed.data_ptr());
    this.biasPtr = this.bias == null ? null : new FloatPointer(this.bias.data_ptr());
  }

  /**
   * The fused form on raw buffers the caller owns and has sized ({@code clip4j_gemm_ex_f32}):
   * {@code c[i, :] (+)= act(a[i, :] @ W^T + b) * colscale} for i in [0, m). PackedTowers calls it
   * on its workspaces, whose capacities it checks before.
   */
  void apply(GemmPool pool, FloatPointer a, long m, long lda, int activation, FloatPointer colscale,
      boolean accumulate, FloatPointer partial, long ldp, FloatPointer c, long ldc) {
    NativeLib.check(Clip4jNative.clip4j_gemm_ex_f32(pool == null ? null : pool.handle(), a, m, k, lda, packedPtr,
        packedLength, n, biasPtr, activation, colscale, accumulate ? 1 : 0, partial, ldp, c, ldc));
  }

  /** Output features. */
  long outFeatures() {
    return n;
  }

  /** Input features. */
  long inFeatures() {
    return k;
  }

  /**
   * {@code x @ W^T + b} for x float32 [..., k], contiguous, on the CPU; returns a new float32
   * tensor [..., n].
   */
  Tensor forward(GemmPool pool, Tensor x) {
    int dims = (int) x.dim();
    long[] shape = new long[Math.max(dims, 1)];
    for (int i = 0; i < dims; i++) {
      shape[i] = x.size(i);
    }
    if (dims < 1 || shape[dims - 1] != k || x.scalar_type().intern() != ScalarType.Float
        || !x.is_contiguous() || !x.is_cpu()) {
      throw new IllegalArgumentException("a packed linear [" + n + ", " + k + "] needs contiguous float32 CPU input [..., "
          + k + "], got " + TensorShapes.describe(x));
    }
    long m = x.numel() / k;
    shape[shape.length - 1] = n;
    Tensor out = torch.empty(shape, floats, contiguousFormat);
    try {
      apply(pool, new FloatPointer(x.data_ptr()), m, k, Clip4jNative.CLIP4J_ACT_IDENTITY, null, false, null, 0,
          new FloatPointer(out.data_ptr()), n);
    } catch (RuntimeException e) {
      out.close();
      throw e;
    }
    return out;
  }

  @Override
  public void close() {
    packed.close();
    if (bias != null) {
      bias.close();
    }
    floats.close();
    contiguousFormat.close();
  }
}
