package dev.clip4j.search;

import dev.clip4j.Engine;
import dev.clip4j.InvalidInputException;
import dev.clip4j.io.EmbeddingIndex;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.T_TensorTensor_T;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Exact top-k search by dot product over an {@link EmbeddingIndex}: every row is scored, no
 * approximation. The index's memory-mapped chunks are wrapped as LibTorch tensors in place
 * ({@code from_blob}, no heap copy) and scored in blocks of at most {@code blockRows} rows with
 * one matmul for all queries ({@code block [n, D] @ queries^T [D, Q]}), followed by a per-block
 * {@code topk} and a running merge. On a CUDA device each block is copied to the device first.
 *
 * <p>Ranking is deterministic: by score descending, ties broken by the lower global row (also at
 * the top-k boundary, where {@code topk} alone would pick arbitrarily among equal scores). Rows
 * whose score is NaN (a corrupt row) rank last with score {@code -Infinity}. {@code k} larger than
 * the index returns every row.
 *
 * <pre>{@code
 * try (EmbeddingIndex index = EmbeddingIndex.open(dir)) {
 *   List<List<ExactSearch.Hit>> hits = new ExactSearch(index).search(new float[][] {query}, 10);
 *   EmbeddingIndex.Entry best = index.entry(hits.get(0).get(0).row());
 * }
 * }</pre>
 *
 * <p>Ownership: holds no native resources between calls (each call's tensors are freed before it
 * returns); the caller keeps the index open while searching. Thread safety: calls may run
 * concurrently.
 */
public final class ExactSearch {
  /** Default rows scored per matmul (the scores buffer is {@code blockRows x Q} floats). */
  public static final int DEFAULT_BLOCK_ROWS = 1 << 16;

  /** One result: a global row of the index and its dot product with the query. */
  public record Hit(long row, float score) {}

  private static final Comparator<Hit> ORDER =
      Comparator.comparingDouble((Hit h) -> -h.score()).thenComparingLong(Hit::row);

  private final EmbeddingIndex index;
  private final String device;
  private final int blockRows;

  /** Searches {@code index} on the CPU with {@link #DEFAULT_BLOCK_ROWS}. */
  public ExactSearch(EmbeddingIndex index) {
    this(index, "cpu", DEFAULT_BLOCK_ROWS);
  }

  /**
   * @param index the index (not owned)
   * @param device LibTorch device the scoring runs on: {@code cpu}, {@code cuda}, {@code cuda:N}
   * @param blockRows rows per matmul, at least 1
   */
  public ExactSearch(EmbeddingIndex index, String device, int blockRows) {
    this.index = Objects.requireNonNull(index, "index");
    this.device = Objects.requireNonNull(device, "device");
    if (blockRows < 1) {
      throw new IllegalArgumentException("blockRows must be >= 1");
    }
    this.blockRows = blockRows;
  }

  /**
   * The {@code k} best rows for each query, best first.
   *
   * @param queries Q query vectors of the index's dim (unit-norm for cosine similarity)
   * @param k results per query, at least 1; more than the index holds returns all rows
   * @return one list per query, in query order
   * @throws InvalidInputException when a query has the wrong width or a non-finite value
   */
  public List<List<Hit>> search(float[][] queries, int k) {
    Objects.requireNonNull(queries, "queries");
    if (k < 1) {
      throw new IllegalArgumentException("k must be >= 1");
    }
    if (queries.length == 0) {
      throw new IllegalArgumentException("at least one query");
    }
    int d = index.dim();
    int nq = queries.length;
    float[] flat = new float[nq * d];
    for (int i = 0; i < nq; i++) {
      float[] q = Objects.requireNonNull(queries[i], "query");
      if (q.length != d) {
        throw new InvalidInputException("query " + i + " has " + q.length + " dims, the index has " + d);
      }
      for (float v : q) {
        if (!Float.isFinite(v)) {
          throw new InvalidInputException("query " + i + " has a non-finite value");
        }
      }
      System.arraycopy(q, 0, flat, i * d, d);
    }
    List<List<Hit>> best = new ArrayList<>(nq);
    for (int i = 0; i < nq; i++) {
      best.add(new ArrayList<>());
    }
    long total = index.rows();
    if (total == 0) {
      return best;
    }
    int kk = (int) Math.min(k, total);
    List<EmbeddingIndex.Chunk> chunks = index.chunks();
    int maxBlock = 1;
    for (EmbeddingIndex.Chunk c : chunks) {
      maxBlock = Math.max(maxBlock, Math.min(blockRows, c.rows()));
    }
    Engine.ensureInitialized();
    Device dev = new Device(device);
    boolean onCpu = !dev.is_cuda();
    TensorOptions floats = new TensorOptions(ScalarType.Float).device(new DeviceOptional(dev));
    try (Engine.InferenceScope scope = Engine.inference();
        FloatPointer qp = new FloatPointer(flat);
        Tensor qHost = torch.from_blob(qp, new long[] {nq, d});
        Tensor q = onCpu ? qHost : qHost.to(floats, false, true, new MemoryFormatOptional());
        Tensor qT = q.t();
        Tensor scores = torch.empty(new long[] {maxBlock, nq}, floats, new MemoryFormatOptional())) {
      for (EmbeddingIndex.Chunk c : chunks) {
        FloatBuffer data = c.data();
        for (int off = 0; off < c.rows(); off += blockRows) {
          int n = Math.min(blockRows, c.rows() - off);
          FloatBuffer slice = data.position(off * d).slice();
          data.position(0);
          scoreBlock(slice, n, d, c.firstRow() + off, onCpu, floats, qT, scores, kk, best);
        }
      }
    }
    return best;
  }

  private static void scoreBlock(FloatBuffer slice, int n, int d, long firstRow, boolean onCpu, TensorOptions floats,
      Tensor qT, Tensor scores, int kk, List<List<Hit>> best) {
    int nq = best.size();
    try (FloatPointer p = new FloatPointer(slice);
        Tensor mapped = torch.from_blob(p, new long[] {n, d});
        // Unaligned floats (a hand-made .npy header) or a device: copy; else score the mapping in place.
        Tensor block = onCpu && (p.address() & 3) == 0 ? mapped
            : mapped.to(floats, false, true, new MemoryFormatOptional());
        Tensor view = scores.narrow(0, 0, n)) {
      // In-place results come back as the same Java object as their target: not closed separately.
      torch.mm_out(view, block, qT);
      double inf = Double.POSITIVE_INFINITY;
      view.nan_to_num_(new DoubleOptional(-inf), new DoubleOptional(inf), new DoubleOptional(-inf));
      int kb = Math.min(kk, n);
      T_TensorTensor_T tk = view.topk(kb, 0, true, true);
      try (tk;
          Tensor values = tk.get0();
          Tensor indices = tk.get1();
          Tensor kth = values.select(0, kb - 1);
          Tensor ge = view.ge(kth);
          Tensor counts = ge.sum(0);
          Tensor vHost = values.cpu().contiguous();
          Tensor iHost = indices.cpu().contiguous();
          Tensor cHost = counts.cpu().contiguous()) {
        float[] v = new float[kb * nq];
        long[] ix = new long[kb * nq];
        long[] cnt = new long[nq];
        new FloatPointer(vHost.data_ptr()).get(v);
        new LongPointer(iHost.data_ptr()).get(ix);
        new LongPointer(cHost.data_ptr()).get(cnt);
        for (int j = 0; j < nq; j++) {
          List<Hit> list = best.get(j);
          if (cnt[j] > kb) {
            // Equal scores straddle the boundary: take every row >= the k-th score, the merge keeps the lowest rows.
            float threshold = v[(kb - 1) * nq + j];
            try (Tensor col = view.select(1, j); Tensor colHost = col.cpu().contiguous()) {
              float[] all = new float[n];
              new FloatPointer(colHost.data_ptr()).get(all);
              for (int r = 0; r < n; r++) {
                if (all[r] >= threshold) {
                  list.add(new Hit(firstRow + r, zero(all[r])));
                }
              }
            }
          } else {
            for (int t = 0; t < kb; t++) {
              list.add(new Hit(firstRow + ix[t * nq + j], zero(v[t * nq + j])));
            }
          }
          list.sort(ORDER);
          if (list.size() > kk) {
            list.subList(kk, list.size()).clear();
          }
        }
      }
    }
  }

  private static float zero(float s) {
    return s == 0f ? 0f : s; // -0.0 ranks as 0.0, as in topk
  }
}
