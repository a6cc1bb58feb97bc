package dev.clip4j.head;

import static dev.clip4j.testing.Tensors.fromFloats;
import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.randn;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.Engine;
import dev.clip4j.InvalidInputException;
import dev.clip4j.testing.Gpu;
import java.util.Arrays;
import java.util.Random;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.cuda.CUDAEvent;
import org.bytedeco.pytorch.cuda.CUDAStream;
import org.bytedeco.pytorch.cuda.CUDAStreamGuard;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.bytedeco.pytorch.global.torch_cuda;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CUDA head against the CPU head on the same (dtype-rounded) values. Run on a CUDA host with
 * {@code mvn -Pgpu verify -Dgroups=gpu}; excluded from the default build. Without a usable CUDA
 * device every test here FAILS (Gpu.requireCuda), it never skips. Every read of a result goes
 * through HostTensors (Tensors.toFloats), which copies a CUDA tensor to the CPU first.
 */
@Tag("gpu")
class EmbeddingHeadGpuTest {
  private String cuda;

  @BeforeEach
  void requireCuda() {
    cuda = Gpu.requireCuda();
    assertThat(Engine.report().nativeCudaKernels()).as("libclip4j_cuda must load on a CUDA host").isTrue();
  }

  /** {@code t} converted to {@code type} on the CPU or on the CUDA device: the device is always explicit. */
  private Tensor to(Tensor t, ScalarType type, boolean onCuda) {
    try (Device d = new Device(onCuda ? cuda : "cpu");
        DeviceOptional o = new DeviceOptional(d);
        TensorOptions typed = new TensorOptions(type);
        TensorOptions opts = typed.device(o)) {
      return t.to(opts, false, true, new MemoryFormatOptional());
    }
  }

  private Tensor rounded(Tensor t, ScalarType type) {
    try (Tensor low = to(t, type, false)) {
      return to(low, ScalarType.Float, false);
    }
  }

  private static double tolerance(ScalarType t) {
    return t == ScalarType.Float ? 1e-5 : t == ScalarType.Half ? 2e-3 : 1e-2;
  }

  @ParameterizedTest
  @CsvSource({
    "Float, IN_OUT", "Float, OUT_IN", "Half, IN_OUT", "Half, OUT_IN", "BFloat16, IN_OUT", "BFloat16, OUT_IN"
  })
  void cudaHeadMatchesCpuHeadForEveryActivationBiasAndNormalisation(String dtypeName, String layoutName) {
    ScalarType dtype = ScalarType.valueOf(dtypeName);
    WeightLayout layout = WeightLayout.valueOf(layoutName);
    Random rng = new Random(11);
    int n = 33, dIn = 768, dOut = 512;
    Tensor x = fromFloats(randn(rng, n * dIn, 1.0), n, dIn);
    long[] ws = layout == WeightLayout.IN_OUT ? new long[] {dIn, dOut} : new long[] {dOut, dIn};
    Tensor w = fromFloats(randn(rng, dIn * dOut, 0.05), ws);
    Tensor b = fromFloats(randn(rng, dOut, 0.1), dOut);
    for (Activation act : Activation.values()) {
      for (boolean bias : new boolean[] {false, true}) {
        for (boolean norm : new boolean[] {false, true}) {
          try (EmbeddingHead cpu = EmbeddingHead.builder(rounded(w, dtype)).layout(layout)
                  .bias(bias ? rounded(b, dtype) : null).activation(act).normalize(norm).build();
              EmbeddingHead gpu = EmbeddingHead.builder(to(w, dtype, true)).layout(layout)
                  .bias(bias ? to(b, dtype, true) : null).activation(act).normalize(norm).build()) {
            assertThat(gpu.device()).isEqualTo(cuda);
            float[] want = toFloats(cpu.apply(rounded(x, dtype)));
            Tensor out = gpu.apply(to(x, dtype, true));
            assertThat(out.is_cuda()).isTrue();
            assertThat(maxAbsDiff(toFloats(out), want)).as("%s %s %s bias=%s norm=%s", dtype, layout, act, bias, norm)
                .isLessThanOrEqualTo(tolerance(dtype) * (norm ? 1 : 8));
          }
        }
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"Half", "BFloat16"})
  void halfOutputsAreTheFloatResultRounded(String outName) {
    ScalarType outType = ScalarType.valueOf(outName);
    Random rng = new Random(3);
    int n = 17, dIn = 96, dOut = 40;
    Tensor x = fromFloats(randn(rng, n * dIn, 1.0), n, dIn);
    Tensor w = fromFloats(randn(rng, dIn * dOut, 0.1), dIn, dOut);
    try (EmbeddingHead gpu = EmbeddingHead.builder(to(w, ScalarType.Float, true)).build();
        Tensor xs = to(x, ScalarType.Float, true);
        Tensor out = torch.empty(new long[] {n, dOut}, new TensorOptions(outType).device(new DeviceOptional(new Device(cuda))),
            new MemoryFormatOptional())) {
      gpu.applyInto(xs, out);
      float[] f32 = toFloats(gpu.apply(xs));
      float[] expected = toFloats(rounded(fromFloats(f32, n, dOut), outType));
      assertThat(toFloats(out)).containsExactly(expected);
    }
  }

  @Test
  void moreRowsThanTheGridHoldsAreEachComputedOnceAndBatchInvariant() {
    int n = 70_001, dIn = 64, dOut = 33; // > 65535 blocks: the kernel strides over rows
    Random rng = new Random(5);
    Tensor x = fromFloats(randn(rng, n * dIn, 1.0), n, dIn);
    Tensor w = fromFloats(randn(rng, dIn * dOut, 0.2), dIn, dOut);
    try (EmbeddingHead cpu = EmbeddingHead.builder(w).build();
        EmbeddingHead gpu = EmbeddingHead.builder(to(w, ScalarType.Float, true)).build();
        Tensor xs = to(x, ScalarType.Float, true)) {
      float[] all = toFloats(gpu.apply(xs));
      assertThat(maxAbsDiff(all, toFloats(cpu.apply(x)))).isLessThanOrEqualTo(1e-5);
      // The last rows (computed by blocks on their second pass) are the bits they get alone.
      try (Tensor tail = xs.narrow(0, n - 3, 3); Tensor tailOwn = tail.clone()) {
        assertThat(toFloats(gpu.apply(tailOwn))).containsExactly(Arrays.copyOfRange(all, (n - 3) * dOut, n * dOut));
      }
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 33, 8192})
  void edgeWidthsMatchTheCpuHead(int dOut) {
    int n = 9, dIn = 48;
    Random rng = new Random(dOut);
    Tensor x = fromFloats(randn(rng, n * dIn, 1.0), n, dIn);
    Tensor w = fromFloats(randn(rng, dIn * dOut, 0.1), dIn, dOut);
    try (EmbeddingHead cpu = EmbeddingHead.builder(w).build();
        EmbeddingHead gpu = EmbeddingHead.builder(to(w, ScalarType.Float, true)).build()) {
      assertThat(maxAbsDiff(toFloats(gpu.apply(to(x, ScalarType.Float, true))), toFloats(cpu.apply(x))))
          .isLessThanOrEqualTo(1e-5);
    }
  }

  @Test
  void widthsBeyond8192AreRefusedBeforeAnyLaunch() {
    Tensor w = to(torch.zeros(4, 8193), ScalarType.Float, true);
    assertThatThrownBy(() -> EmbeddingHead.builder(w).build()).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("8192");
  }

  @Test
  void nonContiguousInputsAreCopiedFirst() {
    Random rng = new Random(8);
    int n = 12, dIn = 64, dOut = 16;
    Tensor xt = fromFloats(randn(rng, n * dIn, 1.0), dIn, n); // transposed below: a non-contiguous [n, dIn]
    Tensor w = fromFloats(randn(rng, dIn * dOut, 0.1), dIn, dOut);
    try (EmbeddingHead cpu = EmbeddingHead.builder(w).build();
        EmbeddingHead gpu = EmbeddingHead.builder(to(w, ScalarType.Float, true)).build();
        Tensor xg = to(xt, ScalarType.Float, true);
        Tensor view = xg.t()) {
      assertThat(view.is_contiguous()).isFalse();
      assertThat(maxAbsDiff(toFloats(gpu.apply(view)), toFloats(cpu.apply(xt.t())))).isLessThanOrEqualTo(1e-5);
    }
  }

  @Test
  void theHeadRunsOnTheCallersCurrentStreamAfterWorkQueuedThere() {
    Random rng = new Random(13);
    int n = 4096, dIn = 256, dOut = 64;
    Tensor x = fromFloats(randn(rng, n * dIn, 1.0), n, dIn);
    Tensor w = fromFloats(randn(rng, dIn * dOut, 0.1), dIn, dOut);
    float[] want;
    try (EmbeddingHead cpu = EmbeddingHead.builder(w).build(); Tensor x3 = x.mul(new org.bytedeco.pytorch.Scalar(3.0))) {
      want = toFloats(cpu.apply(x3));
    }
    try (EmbeddingHead gpu = EmbeddingHead.builder(to(w, ScalarType.Float, true)).build()) {
      CUDAStream side = torch_cuda.getStreamFromPool(false, (byte) 0);
      Tensor out;
      // The input is produced on a side stream and the head is called with that stream current:
      // its launch queues after the producing kernels, on that stream.
      try (CUDAStreamGuard g = new CUDAStreamGuard(side.unwrap());
          Tensor xs = to(x, ScalarType.Float, true)) {
        Tensor x3 = xs.mul(new org.bytedeco.pytorch.Scalar(3.0));
        out = gpu.apply(x3);
      }
      side.synchronize();
      assertThat(maxAbsDiff(toFloats(out), want)).isLessThanOrEqualTo(1e-5);
      // Produced on the side stream, consumed on the default stream after an event: also ordered.
      Tensor x3;
      CUDAEvent produced = new CUDAEvent();
      try (CUDAStreamGuard g = new CUDAStreamGuard(side.unwrap()); Tensor xs = to(x, ScalarType.Float, true)) {
        x3 = xs.mul(new org.bytedeco.pytorch.Scalar(3.0));
        produced.record(side);
      }
      produced.block(torch_cuda.getCurrentCUDAStream((byte) 0));
      assertThat(maxAbsDiff(toFloats(gpu.apply(x3)), want)).isLessThanOrEqualTo(1e-5);
    }
  }

  @Test
  void repeatedCallsGiveTheSameBits() {
    Random rng = new Random(21);
    int n = 64, dIn = 512, dOut = 512;
    Tensor w = to(fromFloats(randn(rng, dIn * dOut, 0.05), dIn, dOut), ScalarType.Half, true);
    try (EmbeddingHead gpu = EmbeddingHead.builder(w).build();
        Tensor x = to(fromFloats(randn(rng, n * dIn, 1.0), n, dIn), ScalarType.Half, true)) {
      float[] first = toFloats(gpu.apply(x));
      for (int i = 0; i < 3; i++) {
        assertThat(toFloats(gpu.apply(x))).containsExactly(first);
      }
    }
  }

  @Test
  void aHeadWithoutProjectionRunsWhereItWasPlaced() {
    Random rng = new Random(2);
    Tensor x = fromFloats(randn(rng, 5 * 24, 1.0), 5, 24);
    try (EmbeddingHead cpu = EmbeddingHead.withoutProjection(24).build();
        EmbeddingHead gpu = EmbeddingHead.withoutProjection(24).device(cuda).dtype(ScalarType.Half).build()) {
      assertThat(gpu.device()).isEqualTo(cuda);
      assertThat(maxAbsDiff(toFloats(gpu.apply(to(x, ScalarType.Half, true))), toFloats(cpu.apply(rounded(x, ScalarType.Half)))))
          .isLessThanOrEqualTo(2e-3);
      assertThatThrownBy(() -> gpu.apply(x)).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("features are on cpu but the head is on " + cuda);
    }
  }
}
