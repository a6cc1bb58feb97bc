package dev.clip4j.head;

import dev.clip4j.DeviceException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.internal.Devices;
import dev.clip4j.internal.HostTensors;
import dev.clip4j.internal.NativeLib;
import dev.clip4j.jni.Clip4jNative;
import dev.clip4j.internal.TensorShapes;
import dev.clip4j.internal.UseGuard;
import java.lang.ref.Cleaner;
import java.util.Objects;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The fused embedding head {@code out = normalize(act(x @ W + b))}, run by clip4j's native kernel
 * (CPU, or CUDA on LibTorch's current stream). For CLIP: W = {@code proj} / {@code
 * text_projection} ([d_in, d_out]), no bias, identity activation, normalisation on.
 *
 * <p>Ownership: the head holds its own references to W and b (the caller's tensors stay the
 * caller's) and releases them on {@link #close()}. Thread safety: {@link #apply} and {@link
 * #applyInto} may run concurrently from many threads; {@code close()} waits for calls in flight
 * and later calls throw {@link IllegalStateException}. Every tensor is validated here (rank,
 * sizes, dtype, device, contiguity) before a pointer reaches native code; violations throw
 * {@link InvalidInputException}.
 *
 * <pre>{@code
 * try (EmbeddingHead head = EmbeddingHead.builder(proj).build()) {
 *   Tensor embeddings = head.apply(features); // [n, d_out], unit rows
 * }
 * }</pre>
 */
public final class EmbeddingHead implements AutoCloseable {
  /** Epsilon of the normalisation, as torch.nn.functional.normalize. */
  public static final float DEFAULT_EPS = 1e-12f;

  private static final Cleaner CLEANER = Cleaner.create();

  private final State state;
  private final Cleaner.Cleanable cleanable;
  private final UseGuard guard = new UseGuard("EmbeddingHead");
  private final WeightLayout layout;
  private final Activation activation;
  private final boolean normalize;
  private final float eps;
  private final long dIn;
  private final long dOut;
  private final ScalarType dtype;
  private final boolean cuda;
  private final int deviceIndex; // the CUDA device's index; -1 on the CPU

  /** Owns the tensor references; cleans them (with a leak warning) if close() was never called. */
  private static final class State implements Runnable {
    final Tensor weight;
    final Tensor bias;
    volatile boolean closedExplicitly;

    State(Tensor weight, Tensor bias) {
      this.weight = weight;
      this.bias = bias;
    }

    @Override
    public void run() {
      if (!closedExplicitly) {
        System.getLogger(EmbeddingHead.class.getName())
            .log(System.Logger.Level.WARNING, "EmbeddingHead was not closed; releasing its tensors");
      }
      if (weight != null) {
        weight.close();
      }
      if (bias != null) {
        bias.close();
      }
    }
  }

  private EmbeddingHead(Builder b) {
    Engine.ensureInitialized();
    NativeLib.load();
    this.layout = b.layout;
    this.activation = b.activation;
    this.normalize = b.normalize;
    this.eps = b.eps;
    Tensor w = b.weight;
    Tensor bias = b.bias;
    if (w != null) {
      require(w.defined(), "weight is undefined");
      require(w.dim() == 2, "weight must be 2-D, got " + w.dim() + "-D");
      dIn = layout == WeightLayout.IN_OUT ? w.size(0) : w.size(1);
      dOut = layout == WeightLayout.IN_OUT ? w.size(1) : w.size(0);
      dtype = w.scalar_type().intern();
      requireCpuOrCuda(w, "weight");
      cuda = w.is_cuda();
      deviceIndex = cuda ? indexOf(w) : -1;
    } else {
      require(b.dim > 0, "without a projection the dimension must be given (> 0)");
      dIn = b.dim;
      dOut = b.dim;
      if (bias != null) {
        requireCpuOrCuda(bias, "bias");
      }
      // Without a projection, the bias (or else the builder's device and dtype) places the head.
      dtype = bias != null ? bias.scalar_type().intern() : b.dtype;
      cuda = bias != null ? bias.is_cuda() : b.cudaIndex >= 0;
      deviceIndex = bias != null ? (cuda ? indexOf(bias) : -1) : b.cudaIndex;
    }
    if (w != null || bias != null) {
      require(b.device == null || b.device.equals(cuda ? "cuda:" + deviceIndex : "cpu"),
          "the head's tensors are on " + (cuda ? "cuda:" + deviceIndex : "cpu") + " but device " + b.device + " was asked for");
      require(b.explicitDtype == null || b.explicitDtype == dtype,
          "the head's tensors are " + dtype + " but dtype " + b.explicitDtype + " was asked for");
    }
    require(dIn >= 1 && dOut >= 1, "projection dimensions must be >= 1");
    checkDtype(dtype, cuda, "weight");
    if (cuda) {
      require(dOut <= 8192, "the CUDA head supports d_out <= 8192, got " + dOut);
    }
    if (bias != null) {
      require(bias.defined() && bias.dim() == 1 && bias.size(0) == dOut,
          "bias must be 1-D of size d_out=" + dOut + ", got " + TensorShapes.describe(bias));
      require(bias.scalar_type().intern() == dtype, "bias dtype " + bias.scalar_type().intern() + " differs from " + dtype);
      require(bias.is_cuda() == cuda && (!cuda || indexOf(bias) == deviceIndex), "bias and weight must be on the same device");
    }
    // The head keeps contiguous references of its own.
    this.state = new State(w == null ? null : w.contiguous(), bias == null ? null : bias.contiguous());
    this.cleanable = CLEANER.register(this, state);
  }

  /** A builder for a head projecting with {@code weight} (CLIP layout [d_in, d_out] by default). */
  public static Builder builder(Tensor weight) {
    return new Builder(Objects.requireNonNull(weight, "weight"), 0);
  }

  /** A builder for a head without projection (activation and normalisation only) of width {@code dim}. */
  public static Builder withoutProjection(int dim) {
    return new Builder(null, dim);
  }

  /** Input width d_in. */
  public long inputDim() {
    return dIn;
  }

  /** Output width d_out. */
  public long outputDim() {
    return dOut;
  }

  public Activation activation() {
    return activation;
  }

  public boolean normalizes() {
    return normalize;
  }

  public WeightLayout layout() {
    return layout;
  }

  public float eps() {
    return eps;
  }

  /** Where the head runs: {@code cpu} or {@code cuda:N}. */
  public String device() {
    return cuda ? "cuda:" + deviceIndex : "cpu";
  }

  /** The dtype of the inputs (and weights) the head takes. */
  public ScalarType dtype() {
    return dtype;
  }

  /**
   * Applies the head to {@code features} [n, d_in] (float32 on CPU; float32, float16 or bfloat16
   * matching the weight on CUDA; same device as the weight) and returns a new float32 tensor
   * [n, d_out] on the same device. A non-contiguous input is copied to a contiguous one first.
   */
  public Tensor apply(Tensor features) {
    try (UseGuard.Use use = guard.enter()) {
      Tensor x = checkInput(features);
      Tensor out;
      // Option objects closed here: nothing per call is left for the GC.
      try (Device dev = x.device();
          org.bytedeco.pytorch.DeviceOptional devOpt = new org.bytedeco.pytorch.DeviceOptional(dev);
          TensorOptions floats = new TensorOptions(ScalarType.Float);
          TensorOptions opts = floats.device(devOpt);
          org.bytedeco.pytorch.MemoryFormatOptional format = new org.bytedeco.pytorch.MemoryFormatOptional()) {
        out = torch.empty(new long[] {x.size(0), dOut}, opts, format);
      }
      try {
        run(x, out);
      } catch (RuntimeException e) {
        out.close();
        throw e;
      } finally {
        if (x != features) {
          x.close();
        }
      }
      return out;
    }
  }

  /**
   * Like {@link #apply} but writes into {@code out} [n, d_out] (contiguous; float32 on CPU;
   * float32, float16 or bfloat16 on CUDA; same device), e.g. a pooled output buffer.
   */
  public void applyInto(Tensor features, Tensor out) {
    try (UseGuard.Use use = guard.enter()) {
      Tensor x = checkInput(features);
      Objects.requireNonNull(out, "out");
      require(out.defined() && out.dim() == 2 && out.size(0) == x.size(0) && out.size(1) == dOut,
          "out must be [" + x.size(0) + ", " + dOut + "], got " + TensorShapes.describe(out));
      require(out.is_cuda() == cuda && (!cuda || indexOf(out) == deviceIndex), "out must be on the head's device " + device());
      checkDtype(out.scalar_type().intern(), cuda, "out");
      require(out.is_contiguous(), "out must be contiguous");
      try {
        run(x, out);
      } finally {
        if (x != features) {
          x.close();
        }
      }
    }
  }

  private Tensor checkInput(Tensor features) {
    Objects.requireNonNull(features, "features");
    require(features.defined(), "features tensor is undefined");
    require(features.dim() == 2, "features must be 2-D [n, " + dIn + "], got " + TensorShapes.describe(features));
    require(features.size(1) == dIn, "features must have " + dIn + " columns, got " + TensorShapes.describe(features));
    boolean sameDevice = cuda ? features.is_cuda() && indexOf(features) == deviceIndex : features.is_cpu();
    if (!sameDevice) { // the message names the device: built only on failure
      require(false, "features are on " + HostTensors.deviceName(features) + " but the head is on " + device());
    }
    require(features.scalar_type().intern() == dtype,
        "features dtype " + features.scalar_type().intern() + " differs from the head's " + dtype);
    return features.is_contiguous() ? features : features.contiguous();
  }

  private void run(Tensor x, Tensor out) {
    long n = x.size(0);
    int status;
    if (!cuda) {
      status = Clip4jNative.clip4j_head_forward_f32(
          HostTensors.floats(x, "features"), n, dIn,
          state.weight == null ? null : HostTensors.floats(state.weight, "weight"), layout.code(), dOut,
          state.bias == null ? null : HostTensors.floats(state.bias, "bias"), activation.code(),
          normalize ? 1 : 0, eps, HostTensors.floats(out, "out"));
      NativeLib.check(status);
      return;
    }
    // Device addresses only: handed to the kernel, never read here.
    Pointer w = state.weight == null ? null : HostTensors.devicePointer(state.weight, "weight");
    Pointer b = state.bias == null ? null : HostTensors.devicePointer(state.bias, "bias");
    try (Device device = x.device(); AutoCloseable g = CudaSupport.guard(device)) {
      long stream = CudaSupport.currentStream(device.index());
      status = Clip4jNative.clip4j_head_forward_cuda(
          HostTensors.devicePointer(x, "features"), dtypeCode(dtype), n, dIn, w, layout.code(), dOut, b,
          activation.code(), normalize ? 1 : 0, eps, HostTensors.devicePointer(out, "out"),
          dtypeCode(out.scalar_type().intern()), new Pointer() {{ address = stream; }});
    } catch (RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
    if (status == Clip4jNative.CLIP4J_ERR_UNSUPPORTED) {
      // CUDA tensors exist, so LibTorch's CUDA works; clip4j's CUDA companion library does not.
      throw new DeviceException(ErrorCode.DEVICE, "the CUDA embedding head cannot run: " + NativeLib.lastError());
    }
    NativeLib.check(status);
  }

  private static int indexOf(Tensor t) {
    try (Device d = t.device()) {
      return d.index();
    }
  }

  private static void requireCpuOrCuda(Tensor t, String what) {
    require(t.defined(), what + " is undefined");
    require(t.is_cpu() || t.is_cuda(), what + " is on " + HostTensors.deviceName(t) + "; the head runs on cpu or cuda");
  }

  private static int dtypeCode(ScalarType t) {
    switch (t) {
      case Half:
        return Clip4jNative.CLIP4J_DTYPE_F16;
      case BFloat16:
        return Clip4jNative.CLIP4J_DTYPE_BF16;
      default:
        return Clip4jNative.CLIP4J_DTYPE_F32;
    }
  }

  private static void checkDtype(ScalarType t, boolean cuda, String what) {
    boolean ok = t == ScalarType.Float || (cuda && (t == ScalarType.Half || t == ScalarType.BFloat16));
    require(ok, what + " dtype " + t + " is not supported " + (cuda
        ? "on CUDA (float32, float16, bfloat16)" : "on CPU (float32 only)"));
  }


  private static void require(boolean condition, String message) {
    if (!condition) {
      throw new InvalidInputException("EmbeddingHead: " + message);
    }
  }


  /** Waits for calls in flight, then releases the tensors. Idempotent. */
  @Override
  public void close() {
    guard.close(() -> {
      state.closedExplicitly = true;
      cleanable.clean();
    });
  }

  /** Configures an {@link EmbeddingHead}; defaults are CLIP's: no bias, identity, normalised. */
  public static final class Builder {
    private final Tensor weight;
    private final int dim;
    private Tensor bias;
    private WeightLayout layout = WeightLayout.IN_OUT;
    private Activation activation = Activation.IDENTITY;
    private boolean normalize = true;
    private float eps = DEFAULT_EPS;
    private String device;
    private int cudaIndex = -1;
    private ScalarType explicitDtype;
    private ScalarType dtype = ScalarType.Float;

    private Builder(Tensor weight, int dim) {
      this.weight = weight;
      this.dim = dim;
    }

    /** The weight's layout (default {@link WeightLayout#IN_OUT}). */
    public Builder layout(WeightLayout layout) {
      this.layout = Objects.requireNonNull(layout, "layout");
      return this;
    }

    /** An optional bias [d_out] (CLIP projections have none). */
    public Builder bias(Tensor bias) {
      this.bias = bias;
      return this;
    }

    /** The activation after projection and bias (default identity, as in CLIP). */
    public Builder activation(Activation activation) {
      this.activation = Objects.requireNonNull(activation, "activation");
      return this;
    }

    /** Whether rows are L2-normalised (default true). */
    public Builder normalize(boolean normalize) {
      this.normalize = normalize;
      return this;
    }

    /** The normalisation epsilon: rows are divided by max(norm, eps); default 1e-12. */
    public Builder eps(float eps) {
      if (!(eps > 0) || Float.isInfinite(eps)) {
        throw new IllegalArgumentException("eps must be finite and > 0, got " + eps);
      }
      this.eps = eps;
      return this;
    }

    /**
     * The device of a head without projection or bias ({@code cpu} or {@code cuda:N}; default
     * cpu). A head with tensors runs where they are; naming another device there is an error.
     */
    public Builder device(String device) {
      String canonical = Devices.canonical(device);
      this.device = canonical;
      this.cudaIndex = canonical.equals("cpu") ? -1 : Devices.cudaIndex(canonical);
      return this;
    }

    /**
     * The input dtype of a head without projection or bias (float32 default; float16 and bfloat16
     * on CUDA). A head with tensors takes their dtype; naming another is an error.
     */
    public Builder dtype(ScalarType dtype) {
      this.explicitDtype = Objects.requireNonNull(dtype, "dtype").intern();
      this.dtype = explicitDtype;
      return this;
    }

    public EmbeddingHead build() {
      return new EmbeddingHead(this);
    }
  }
}
