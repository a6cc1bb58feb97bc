package dev.clip4j.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import dev.clip4j.NumericalException;
import dev.clip4j.testing.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class EmbeddingCheckTest {
  @BeforeAll
  static void init() {
    Engine.ensureInitialized();
  }

  @Test
  void unitRowsPass() {
    try (Tensor t = Tensors.fromFloats(new float[] {0.6f, 0.8f, 1f, 0f, 0f, -1f}, 3, 2)) {
      EmbeddingCheck.requireUnitRows(t, "x");
    }
  }

  @Test
  void zeroNanInfAndNonUnitRowsAreNamed() {
    float[] v = {
      0.6f, 0.8f, // 0 ok
      0f, 0f, // 1 zero (what a projection into its null space gives after normalize)
      Float.NaN, 0f, // 2
      Float.POSITIVE_INFINITY, 1f, // 3
      0.5f, 0.5f, // 4 norm 0.707
      1f, 0f, // 5 ok
      0.6f, 0.8002f}; // 6 ok: within 1e-3
    try (Tensor t = Tensors.fromFloats(v, 7, 2)) {
      assertThatThrownBy(() -> EmbeddingCheck.requireUnitRows(t, "text embeddings"))
          .isInstanceOfSatisfying(NumericalException.class, e -> {
            assertThat(e.rows()).containsExactly(1, 2, 3, 4);
            assertThat(e.code()).isEqualTo(ErrorCode.NUMERICAL);
            assertThat(e.getMessage()).startsWith("text embeddings: 4 of 7 rows").contains("1 (norm 0.0)").contains("2 (norm NaN)");
          });
    }
  }

  @Test
  void manyBadRowsAreAllListedButTheMessageStaysShort() {
    float[] v = new float[2 * 100];
    try (Tensor t = Tensors.fromFloats(v, 100, 2)) {
      assertThatThrownBy(() -> EmbeddingCheck.requireUnitRows(t, "e")).isInstanceOfSatisfying(NumericalException.class, e -> {
        assertThat(e.rows()).hasSize(100).startsWith(0, 1, 2).endsWith(99);
        assertThat(e.getMessage()).contains("92 more").hasSizeLessThan(400);
      });
    }
  }
  /** The host variant (batch pipelines check rows where they read them): same verdicts, same rows named. */
  @Test
  void hostRowsGetTheSameVerdict() {
    float[] v = {0.6f, 0.8f, 0f, 0f, Float.NaN, 0f, Float.POSITIVE_INFINITY, 1f, 0.5f, 0.5f, 1f, 0f, 0.6f, 0.8002f};
    java.nio.FloatBuffer all = java.nio.FloatBuffer.wrap(v);
    assertThatThrownBy(() -> EmbeddingCheck.requireUnitRows(all, 7, 2, "text embeddings"))
        .isInstanceOfSatisfying(NumericalException.class, e -> assertThat(e.rows()).containsExactly(1, 2, 3, 4))
        .hasMessageContaining("text embeddings: 4 of 7 rows");
    // From the buffer's position: rows 5 and 6 alone pass; absolute reads leave the position alone.
    java.nio.FloatBuffer tail = java.nio.FloatBuffer.wrap(v).position(10);
    EmbeddingCheck.requireUnitRows(tail, 2, 2, "x");
    assertThat(tail.position()).isEqualTo(10);
  }
}
