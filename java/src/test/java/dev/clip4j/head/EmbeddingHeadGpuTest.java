package dev.clip4j.head;

import static dev.clip4j.testing.Tensors.fromFloats;
import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.randn;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.clip4j.Engine;
import dev.clip4j.EngineReport;
import java.util.Random;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The CUDA head against the CPU head on the same (dtype-rounded) values. Run on a CUDA host with
 * {@code mvn -Pgpu verify -Dgroups=gpu}; excluded from the default build.
 */
@Tag("gpu")
class EmbeddingHeadGpuTest {

  private static Tensor to(Tensor t, ScalarType type, boolean cuda) {
    TensorOptions o = new TensorOptions(type);
    if (cuda) {
      o = o.device(new org.bytedeco.pytorch.DeviceOptional(new Device("cuda:0")));
    }
    return t.to(o, false, true, new org.bytedeco.pytorch.MemoryFormatOptional());
  }

  @ParameterizedTest
  @CsvSource({
    "Float, IN_OUT, 1e-5", "Float, OUT_IN, 1e-5",
    "Half, IN_OUT, 2e-3", "Half, OUT_IN, 2e-3",
    "BFloat16, IN_OUT, 1e-2", "BFloat16, OUT_IN, 1e-2"
  })
  void cudaHeadMatchesCpuHead(String dtypeName, String layoutName, double tol) {
    EngineReport r = Engine.ensureInitialized();
    assumeTrue(r.cudaAvailable(), "no CUDA device");
    assertThat(r.nativeCudaKernels()).as("libclip4j_cuda must load on a CUDA host").isTrue();
    ScalarType dtype = ScalarType.valueOf(dtypeName);
    WeightLayout layout = WeightLayout.valueOf(layoutName);
    Random rng = new Random(11);
    int n = 33, dIn = 768, dOut = 512;
    Tensor x = fromFloats(randn(rng, n * dIn, 1.0), n, dIn);
    long[] ws = layout == WeightLayout.IN_OUT ? new long[] {dIn, dOut} : new long[] {dOut, dIn};
    Tensor w = fromFloats(randn(rng, dIn * dOut, 0.05), ws);
    Tensor b = fromFloats(randn(rng, dOut, 0.1), dOut);
    // Round through the dtype so both sides see the same inputs.
    Tensor xr = to(to(x, dtype, false), ScalarType.Float, false);
    Tensor wr = to(to(w, dtype, false), ScalarType.Float, false);
    Tensor br = to(to(b, dtype, false), ScalarType.Float, false);
    for (Activation act : Activation.values()) {
      try (EmbeddingHead cpu = EmbeddingHead.builder(wr).layout(layout).bias(br).activation(act).build();
          EmbeddingHead gpu =
              EmbeddingHead.builder(to(w, dtype, true)).layout(layout).bias(to(b, dtype, true)).activation(act).build()) {
        float[] want = toFloats(cpu.apply(xr));
        Tensor out = gpu.apply(to(x, dtype, true));
        float[] got = toFloats(to(out, ScalarType.Float, false));
        assertThat(maxAbsDiff(got, want)).as("%s %s %s", dtype, layout, act).isLessThanOrEqualTo(tol);
      }
    }
  }
}
