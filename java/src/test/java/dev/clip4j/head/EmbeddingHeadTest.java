package dev.clip4j.head;

import static dev.clip4j.testing.Tensors.fromFloats;
import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.randn;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.Engine;
import dev.clip4j.InvalidInputException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class EmbeddingHeadTest {

  @BeforeAll
  static void init() {
    Engine.ensureInitialized();
  }

  /** normalize(act(x @ W + b)) with plain LibTorch ops, the way open_clip computes it. */
  private static Tensor reference(Tensor x, Tensor w, WeightLayout layout, Tensor b, Activation act, boolean norm) {
    Tensor y = layout == WeightLayout.IN_OUT ? x.matmul(w) : x.matmul(w.t());
    if (b != null) {
      y = y.add(b);
    }
    switch (act) {
      case QUICK_GELU:
        y = y.mul(torch.sigmoid(y.mul(new Scalar(1.702))));
        break;
      case GELU:
        y = torch.gelu(y);
        break;
      case TANH:
        y = torch.tanh(y);
        break;
      case GELU_TANH:
        y = torch.gelu(y, "tanh");
        break;
      default:
        break;
    }
    if (norm) {
      Tensor n = y.norm(new ScalarOptional(new Scalar(2.0)), new long[] {-1}, true).clamp_min(new Scalar(1e-12));
      y = y.div(n);
    }
    return y;
  }

  @ParameterizedTest
  @EnumSource(Activation.class)
  void matchesLibTorchOpsForEveryActivationLayoutAndBias(Activation act) {
    Random rng = new Random(42 + act.ordinal());
    int[][] shapes = {{1, 7, 3}, {5, 64, 32}, {9, 77, 100}, {32, 768, 512}};
    for (int[] s : shapes) {
      int n = s[0], dIn = s[1], dOut = s[2];
      for (WeightLayout layout : WeightLayout.values()) {
        for (boolean withBias : new boolean[] {false, true}) {
          for (boolean norm : new boolean[] {false, true}) {
            Tensor x = fromFloats(randn(rng, n * dIn, 1.0), n, dIn);
            long[] wShape = layout == WeightLayout.IN_OUT ? new long[] {dIn, dOut} : new long[] {dOut, dIn};
            Tensor w = fromFloats(randn(rng, dIn * dOut, 1.0 / Math.sqrt(dIn)), wShape);
            Tensor b = withBias ? fromFloats(randn(rng, dOut, 0.5), dOut) : null;
            try (EmbeddingHead head =
                EmbeddingHead.builder(w).layout(layout).bias(b).activation(act).normalize(norm).build()) {
              float[] got = toFloats(head.apply(x));
              float[] want = toFloats(reference(x, w, layout, b, act, norm));
              // Unit rows: 1e-6 absolute. Raw rows: fp32 sums of up to 768 products in another
              // order than LibTorch's sgemm differ by a few ulps of the largest value.
              double tol = norm ? 1e-6 : 1e-5 * Math.max(1.0, maxAbs(want));
              assertThat(maxAbsDiff(got, want))
                  .as("n=%d d_in=%d d_out=%d %s layout=%s bias=%s norm=%s", n, dIn, dOut, act, layout, withBias, norm)
                  .isLessThanOrEqualTo(tol);
            }
          }
        }
      }
    }
  }

  private static double maxAbs(float[] v) {
    double m = 0;
    for (float f : v) {
      m = Math.max(m, Math.abs(f));
    }
    return m;
  }

  @Test
  void clipHeadRowsAreUnitNorm() {
    Random rng = new Random(1);
    Tensor x = fromFloats(randn(rng, 4 * 16, 3.0), 4, 16);
    Tensor w = fromFloats(randn(rng, 16 * 8, 1.0), 16, 8);
    try (EmbeddingHead head = EmbeddingHead.builder(w).build()) {
      assertThat(head.activation()).isEqualTo(Activation.IDENTITY);
      assertThat(head.normalizes()).isTrue();
      float[] y = toFloats(head.apply(x));
      for (int r = 0; r < 4; r++) {
        double ss = 0;
        for (int j = 0; j < 8; j++) {
          ss += y[r * 8 + j] * (double) y[r * 8 + j];
        }
        assertThat(Math.sqrt(ss)).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-6));
      }
    }
  }

  @Test
  void withoutProjectionOnlyNormalises() {
    Tensor x = fromFloats(new float[] {3, 4, 0, 0, 0, 5}, 2, 3);
    try (EmbeddingHead head = EmbeddingHead.withoutProjection(3).build()) {
      assertThat(toFloats(head.apply(x))).containsExactly(0.6f, 0.8f, 0f, 0f, 0f, 1f);
    }
  }

  @Test
  void nonContiguousInputIsHandled() {
    Random rng = new Random(3);
    Tensor xt = fromFloats(randn(rng, 6 * 4, 1.0), 6, 4).t(); // [4, 6], not contiguous
    Tensor w = fromFloats(randn(rng, 6 * 5, 1.0), 6, 5);
    try (EmbeddingHead head = EmbeddingHead.builder(w).build()) {
      assertThat(xt.is_contiguous()).isFalse();
      float[] got = toFloats(head.apply(xt));
      float[] want = toFloats(reference(xt, w, WeightLayout.IN_OUT, null, Activation.IDENTITY, true));
      assertThat(maxAbsDiff(got, want)).isLessThanOrEqualTo(1e-6);
    }
  }

  @Test
  void applyIntoWritesTheGivenBuffer() {
    Random rng = new Random(4);
    Tensor x = fromFloats(randn(rng, 3 * 10, 1.0), 3, 10);
    Tensor w = fromFloats(randn(rng, 10 * 4, 1.0), 10, 4);
    Tensor out = torch.zeros(3, 4);
    try (EmbeddingHead head = EmbeddingHead.builder(w).build()) {
      head.applyInto(x, out);
      assertThat(maxAbsDiff(toFloats(out), toFloats(head.apply(x)))).isZero();
    }
  }

  @Test
  void badInputsGiveTypedExceptions() {
    Tensor w = fromFloats(new float[6 * 4], 6, 4);
    try (EmbeddingHead head = EmbeddingHead.builder(w).build()) {
      assertThatThrownBy(() -> head.apply(fromFloats(new float[12], 2, 6, 1)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("2-D");
      assertThatThrownBy(() -> head.apply(fromFloats(new float[10], 2, 5)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("6 columns");
      assertThatThrownBy(() -> head.apply(torch.zeros(2, 6).to(ScalarType.Double)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("dtype");
      assertThatThrownBy(() -> head.apply(torch.zeros(2, 6).to(ScalarType.Half)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("dtype");
      assertThatThrownBy(() -> head.apply(new Tensor()))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("undefined");
      assertThatThrownBy(() -> head.applyInto(torch.zeros(2, 6), torch.zeros(3, 4)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("out must be [2, 4]");
      assertThatThrownBy(() -> head.applyInto(torch.zeros(2, 6), torch.zeros(4, 2).t()))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("contiguous");
    }
    assertThatThrownBy(() -> EmbeddingHead.builder(fromFloats(new float[4], 4)).build())
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("2-D");
    assertThatThrownBy(() -> EmbeddingHead.builder(w).bias(fromFloats(new float[3], 3)).build())
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("bias");
    assertThatThrownBy(() -> EmbeddingHead.builder(w).eps(0f)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void closedHeadRefusesWorkAndCloseIsIdempotent() {
    EmbeddingHead head = EmbeddingHead.builder(fromFloats(new float[4], 2, 2)).build();
    head.close();
    head.close();
    assertThatThrownBy(() -> head.apply(torch.zeros(1, 2))).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void concurrentCallersGetIdenticalResults() throws Exception {
    Random rng = new Random(9);
    Tensor x = fromFloats(randn(rng, 8 * 64, 1.0), 8, 64);
    Tensor w = fromFloats(randn(rng, 64 * 32, 0.1), 64, 32);
    try (EmbeddingHead head = EmbeddingHead.builder(w).activation(Activation.QUICK_GELU).build()) {
      float[] expected = toFloats(head.apply(x));
      ExecutorService pool = Executors.newFixedThreadPool(4);
      try {
        List<Future<float[]>> fs = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
          fs.add(pool.submit(() -> toFloats(head.apply(x))));
        }
        for (Future<float[]> f : fs) {
          assertThat(f.get()).containsExactly(expected);
        }
      } finally {
        pool.shutdownNow();
      }
    }
  }
}
