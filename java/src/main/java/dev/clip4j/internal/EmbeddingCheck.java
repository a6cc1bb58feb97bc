package dev.clip4j.internal;

import dev.clip4j.NumericalException;
import java.util.Arrays;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The last gate before an embedding leaves clip4j: every row of a [N, D] batch must be finite and
 * unit-norm. Cost: one row-norm reduction, one max and one scalar read per batch (no per-row Java
 * loop unless the batch fails). Stateless and thread-safe.
 */
public final class EmbeddingCheck {
  /**
   * Largest accepted |‖row‖ - 1|. fp32 rows of CLIP widths are within ~1e-6; the margin covers
   * fp16/bf16 heads on CUDA, and a zero or NaN row is still far outside it.
   */
  public static final float TOLERANCE = 1e-3f;

  private EmbeddingCheck() {}

  /**
   * Checks {@code out} ([N, D], any float dtype and device).
   *
   * @param what names the output in the message (e.g. "image embeddings")
   * @throws NumericalException naming the failing rows and their norms
   */
  public static void requireUnitRows(Tensor out, String what) {
    // Every JavaCPP object closed here: the check runs on every batch and must leave nothing for the GC.
    try (Scalar two = new Scalar(2.0);
        ScalarOptional p = new ScalarOptional(two);
        Scalar unit = new Scalar(1.0);
        Tensor f = out.to(ScalarType.Float);
        Tensor norms = f.norm(p, new long[] {1}, false);
        Tensor one = norms.sub(unit);
        Tensor dev = one.abs();
        Tensor worst = dev.max()) {
      float w = worst.item_float();
      if (w <= TOLERANCE) { // false for NaN
        return;
      }
      try (Tensor cpu = norms.cpu(); Tensor c = cpu.contiguous()) {
        float[] n = new float[(int) c.numel()];
        c.data_ptr_float().get(n);
        int[] rows = new int[n.length];
        int count = 0;
        for (int i = 0; i < n.length; i++) {
          if (!(Math.abs(n[i] - 1f) <= TOLERANCE)) {
            rows[count++] = i;
          }
        }
        rows = Arrays.copyOf(rows, count);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(count, 8); i++) {
          sb.append(i == 0 ? "" : ", ").append(rows[i]).append(" (norm ").append(n[rows[i]]).append(')');
        }
        if (count > 8) {
          sb.append(", ... ").append(count - 8).append(" more");
        }
        throw new NumericalException(what + ": " + count + " of " + n.length
            + " rows are not finite unit vectors: rows " + sb
            + "; the weights are degenerate or corrupted, or the input drives the model out of range", rows);
      }
    }
  }
}
