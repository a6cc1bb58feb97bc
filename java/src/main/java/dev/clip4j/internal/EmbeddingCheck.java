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
 * loop unless the batch fails); the scalar read waits for the device when the batch is on CUDA,
 * which is why batch pipelines that read rows on the host check them there instead ({@link
 * #requireUnitRows(java.nio.FloatBuffer, int, int, String)}). Stateless and thread-safe.
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
      throw failure(HostTensors.readFloats(norms, what + " norms"), what);
    }
  }

  /**
   * The same check on rows already in host memory: {@code n} rows of {@code d} floats from {@code
   * rows}' position (absolute reads; the buffer is not moved). For pipelines that copy a device
   * batch to the host anyway: no device work, no synchronisation.
   */
  public static void requireUnitRows(java.nio.FloatBuffer rows, int n, int d, String what) {
    float[] norms = new float[n];
    boolean ok = true;
    int base = rows.position();
    for (int i = 0; i < n; i++) {
      double ss = 0;
      for (int j = 0, at = base + i * d; j < d; j++) {
        double v = rows.get(at + j);
        ss += v * v;
      }
      norms[i] = (float) Math.sqrt(ss);
      ok &= Math.abs(norms[i] - 1f) <= TOLERANCE; // false for NaN
    }
    if (!ok) {
      throw failure(norms, what);
    }
  }

  private static NumericalException failure(float[] n, String what) {
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
    return new NumericalException(what + ": " + count + " of " + n.length
        + " rows are not finite unit vectors: rows " + sb
        + "; the weights are degenerate or corrupted, or the input drives the model out of range", rows);
  }
}
