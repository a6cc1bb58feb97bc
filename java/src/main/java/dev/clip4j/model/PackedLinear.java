package dev.clip4j.model;

import dev.clip4j.internal.GemmPool;
import dev.clip4j.internal.NativeLib;
import dev.clip4j.internal.TensorShapes;
import dev.clip4j.jni.Clip4jNative;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * An nn.Linear ({@code y = x @ W^T + b}, CPU) whose weight was packed once for one family of
 * clip4j's batch-invariant GEMM kernels ({@code clip4j_packed_weight}, fp32 or bf16): a row's
 * result is bitwise the same whatever the number of rows it is computed with. Owns the packed
 * weight (a native handle, freed by {@link #close()}) and a copy of the bias. Thread safety:
 * {@link #forward} and {@link #apply} may run from many threads at once; {@code close()} must not
 * run while they do (the owner, PackedTowers, guarantees it).
 */
final class PackedLinear implements AutoCloseable {
  private final long n;
  private final long k;
  private final int kernels;
  private final boolean bf16;
  private final long packedBytes;
  private final Tensor bias;
  private final TensorOptions floats;
  private final MemoryFormatOptional contiguousFormat;
  private final FloatPointer biasPtr; // made once: no JavaCPP object per call on the hot path
  private volatile Clip4jNative.clip4j_packed_weight packed;

  /**
   * Packs {@code weight} [n, k] (float32 on the CPU, any strides; bf16 rounds each weight to the
   * nearest bf16) for the resolved family {@code kernels} ({@code CLIP4J_CPU_KERNELS_AVX2} or
   * {@code _AVX512}, see {@link GemmPool#resolveKernels}), and copies {@code bias} [n] (or none when
   * null). The caller keeps its tensors.
   */
  PackedLinear(Tensor weight, Tensor bias, int kernels, boolean bf16) {
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
    this.kernels = kernels;
    this.bf16 = bf16;
    Clip4jNative.clip4j_packed_weight h = new Clip4jNative.clip4j_packed_weight();
    try (Tensor w = weight.contiguous()) {
      NativeLib.check(Clip4jNative.clip4j_packed_weight_create(new FloatPointer(w.data_ptr()), n, k, kernels,
          bf16 ? Clip4jNative.CLIP4J_DTYPE_BF16 : Clip4jNative.CLIP4J_DTYPE_F32, h));
    }
    try (LongPointer bytes = new LongPointer(1)) {
      NativeLib.check(Clip4jNative.clip4j_packed_weight_describe(h, (LongPointer) null, (LongPointer) null,
          (IntPointer) null, (IntPointer) null, bytes));
      this.packedBytes = bytes.get();
      this.bias = bias == null ? null : bias.contiguous().clone();
    } catch (RuntimeException e) {
      Clip4jNative.clip4j_packed_weight_destroy(h); // not yet owned by anyone else
      throw e;
    }
    this.packed = h;
    this.floats = new TensorOptions(ScalarType.Float);
    this.contiguousFormat = new MemoryFormatOptional(torch.MemoryFormat.Contiguous);
    this.biasPtr = this.bias == null ? null : new FloatPointer(this.bias.data_ptr());
  }

  /**
   * The fused form on raw buffers the caller owns and has sized ({@code clip4j_gemm_packed}):
   * {@code c[i, :] (+)= act(a[i, :] @ W^T + b) * colscale} for i in [0, m). PackedTowers calls it
   * on its workspaces, whose capacities it checks before.
   */
  void apply(GemmPool pool, FloatPointer a, long m, long lda, int activation, FloatPointer colscale,
      boolean accumulate, FloatPointer partial, long ldp, FloatPointer c, long ldc) {
    Clip4jNative.clip4j_packed_weight h = packed;
    if (h == null) {
      throw new IllegalStateException("PackedLinear is closed");
    }
    NativeLib.check(Clip4jNative.clip4j_gemm_packed(pool == null ? null : pool.handle(), a, m, lda, h, biasPtr,
        activation, colscale, accumulate ? 1 : 0, partial, ldp, c, ldc));
  }

  /** Output features. */
  long outFeatures() {
    return n;
  }

  /** Input features. */
  long inFeatures() {
    return k;
  }

  /** The family the weight was packed for ({@code CLIP4J_CPU_KERNELS_AVX2} or {@code _AVX512}). */
  int kernels() {
    return kernels;
  }

  /** True when the weight is held in bf16. */
  boolean bf16() {
    return bf16;
  }

  /** Bytes of native memory the packed weight holds. */
  long packedBytes() {
    return packedBytes;
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

  /** Frees the packed weight and the bias. Idempotent. */
  @Override
  public synchronized void close() {
    Clip4jNative.clip4j_packed_weight h = packed;
    if (h == null) {
      return;
    }
    packed = null;
    Clip4jNative.clip4j_packed_weight_destroy(h);
    h.setNull();
    if (bias != null) {
      bias.close();
    }
    floats.close();
    contiguousFormat.close();
  }
}
