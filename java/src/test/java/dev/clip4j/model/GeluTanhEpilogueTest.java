package dev.clip4j.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.clip4j.CpuKernels;
import dev.clip4j.Engine;
import dev.clip4j.internal.GemmPool;
import dev.clip4j.jni.Clip4jNative;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The packed GEMM's GELU-tanh epilogue ({@code CLIP4J_ACT_GELU_TANH}) against what SigLIP2's
 * text MLPs compute in open_clip: LibTorch's own {@code torch.gelu(x, approximate='tanh')} in
 * fp32, over a dense sweep of [-20, 20], tiny values and the special ones, through the Java
 * binding the packed towers use ({@link PackedLinear#apply}).
 */
class GeluTanhEpilogueTest {
  @BeforeAll
  static void init() {
    Engine.ensureInitialized();
    assumeTrue(GemmPool.supported(), "this CPU has no AVX2/FMA: the packed kernels do not run here");
  }

  private static float[] inputs() {
    List<Float> xs = new ArrayList<>();
    int dense = 1 << 16;
    for (int i = 0; i <= dense; i++) {
      xs.add((float) (-20.0 + 40.0 * i / dense));
    }
    for (int e = -149; e <= 4; e++) {
      float v = Math.scalb(1.37f, e);
      xs.add(v);
      xs.add(-v);
    }
    for (float v : new float[] {1e13f, 3e38f, Float.POSITIVE_INFINITY, Float.NaN}) {
      xs.add(v);
      xs.add(-v);
    }
    float[] out = new float[xs.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = xs.get(i);
    }
    return out;
  }

  private static Tensor floats(float[] data, long... shape) {
    try (FloatPointer p = new FloatPointer(data); Tensor view = torch.from_blob(p, shape)) {
      return view.clone();
    }
  }

  /** act(1 * x_j) for every x_j: the inputs as a packed [n, 1] weight, a = [1]. */
  private static float[] packed(float[] xs, CpuKernels family) {
    int kernels = GemmPool.resolveKernels(family, false);
    float[] out = new float[xs.length];
    try (Tensor w = floats(xs, xs.length, 1); PackedLinear lin = new PackedLinear(w, null, kernels, false);
        FloatPointer one = new FloatPointer(1f); FloatPointer c = new FloatPointer(xs.length)) {
      lin.apply(null, one, 1, 1, Clip4jNative.CLIP4J_ACT_GELU_TANH, null, false, null, 0, c, xs.length);
      c.get(out);
    }
    return out;
  }

  @Test
  void matchesTorchsFp32GeluTanh() {
    float[] xs = inputs();
    float[] got = packed(xs, CpuKernels.AUTO);
    float[] want;
    try (Tensor x = floats(xs, xs.length); Tensor y = torch.gelu(x, "tanh"); Tensor c = y.contiguous()) {
      want = new float[xs.length];
      c.data_ptr_float().get(want);
    }
    double worstAbs = 0;
    double worstUlps = 0;
    double kernelExact = 0;
    double torchExact = 0;
    int same = 0;
    for (int i = 0; i < xs.length; i++) {
      float x = xs[i];
      if (Float.isNaN(want[i])) { // NaN and -inf (-inf * (1 + tanh(-inf)) = -inf * 0)
        assertThat(got[i]).as("gelu_tanh(%s)", x).isNaN();
        continue;
      }
      if (Float.isInfinite(want[i])) {
        assertThat(got[i]).as("gelu_tanh(%s)", x).isEqualTo(want[i]);
        continue;
      }
      double diff = Math.abs((double) got[i] - want[i]);
      worstAbs = Math.max(worstAbs, diff);
      if (Float.floatToRawIntBits(got[i]) == Float.floatToRawIntBits(want[i])) {
        same++;
      }
      if (Math.abs(x) <= 20) {
        double u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
        double exact = x / (1 + Math.exp(-2 * u));
        kernelExact = Math.max(kernelExact, Math.abs(got[i] - exact));
        torchExact = Math.max(torchExact, Math.abs(want[i] - exact));
      }
      // For x < 0 torch's fp32 1 + tanh(u) cancels: its absolute error is up to about |x| 2^-25
      // (it is 0 below x ~ -5.15, where the kernel keeps x e^(2u)). For x >= 0 both are a few
      // float ulps from the exact value.
      double ulp = Math.ulp(Math.max(Math.abs(want[i]), Float.MIN_NORMAL));
      if (x >= 0) {
        worstUlps = Math.max(worstUlps, diff / ulp);
      }
      assertThat(diff).as("gelu_tanh(%s): kernel %s, torch %s", x, got[i], want[i])
          .isLessThanOrEqualTo(x >= 0 ? 4 * ulp : Math.abs(x) * 0x1p-24 + 4 * ulp);
      if (want[i] == 0 && x < 0) {
        assertThat(got[i]).as("gelu_tanh(%s)", x).isLessThanOrEqualTo(0f); // -0 or a tiny negative
      }
    }
    System.out.printf("gelu_tanh epilogue (%s) vs torch fp32 over %d inputs: max |diff| %.3g, max %.3g ulps where"
        + " x >= 0, %d bit-identical; max |error| vs exact (|x| <= 20): kernel %.3g, torch %.3g%n",
        GemmPool.kernelsName(GemmPool.resolveKernels(CpuKernels.AUTO, false), false), xs.length, worstAbs, worstUlps,
        same, kernelExact, torchExact);
    assertThat(worstAbs).isLessThan(1e-6);
  }

  @Test
  void avx2AndAvx512GiveTheSameBits() {
    float[] xs = inputs();
    float[] avx2 = packed(xs, CpuKernels.AVX2);
    int best = GemmPool.resolveKernels(CpuKernels.AUTO, false);
    assumeTrue(best == Clip4jNative.CLIP4J_CPU_KERNELS_AVX512, "this CPU has no AVX-512: one fp32 family only");
    float[] avx512 = packed(xs, CpuKernels.AVX512);
    for (int i = 0; i < xs.length; i++) {
      assertThat(Float.floatToRawIntBits(avx512[i])).as("gelu_tanh(%s)", xs[i])
          .isEqualTo(Float.floatToRawIntBits(avx2[i]));
    }
  }
}
