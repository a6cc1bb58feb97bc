package dev.clip4j.search;

import dev.clip4j.Engine;
import dev.clip4j.internal.Devices;
import dev.clip4j.internal.HostTensors;
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
 * one matmul for all queries ({@code block [n, D] @ queries^T [D, Q]}; a matrix-vector product
 * for a single query), followed by a per-block {@code topk} and a running merge. On a CUDA
 * device each block is copied to the device first. Scores are fp32 dot products; a query's
 * scores may differ in the last bit between a one-query and a several-query call (GEMV vs GEMM
 * summation order), never the ranking rule.
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
    Device dev = Devices.parse(device); // a CUDA device this host does not have: DeviceException (DEVICE)
    boolean onCpu = !dev.is_cuda();
    TensorOptions floats = new TensorOptions(ScalarType.Float).device(new DeviceOptional(dev));
    MemoryFormatOptional keep = new MemoryFormatOptional();
    // Scores land in [n, Q] (one GEMM, or one GEMV for Q = 1); for Q > 1 they are copied to
    // [Q, n] so each query's topk runs over contiguous memory. Both buffers live for this call.
    try (Engine.InferenceScope scope = Engine.inference();
        FloatPointer qp = new FloatPointer(flat);
        Tensor qHost = torch.from_blob(qp, new long[] {nq, d});
        Tensor q = onCpu ? qHost : qHost.to(floats, false, true, keep);
        Tensor qT = q.t().contiguous();
        Tensor qVec = q.select(0, 0);
        Tensor scores = torch.empty(nq == 1 ? new long[] {maxBlock} : new long[] {maxBlock, nq}, floats, keep);
        Tensor scoresT = nq == 1 ? null : torch.empty(new long[] {nq, maxBlock}, floats, keep)) {
      Block b = new Block(d, nq, kk, onCpu, floats, qT, qVec, scores, scoresT, best);
      for (EmbeddingIndex.Chunk c : chunks) {
        FloatBuffer data = c.data();
        for (int off = 0; off < c.rows(); off += blockRows) {
          int n = Math.min(blockRows, c.rows() - off);
          FloatBuffer slice = data.position(off * d).slice();
          data.position(0);
          b.score(slice, n, c.firstRow() + off);
        }
      }
    }
    return best;
  }

  /** The per-call state of scoring blocks. */
  private record Block(int d, int nq, int kk, boolean onCpu, TensorOptions floats, Tensor qT, Tensor qVec, Tensor scores,
      Tensor scoresT, List<List<Hit>> best) {

    void score(FloatBuffer slice, int n, long firstRow) {
      MemoryFormatOptional keep = new MemoryFormatOptional();
      try (FloatPointer p = new FloatPointer(slice);
          Tensor mapped = torch.from_blob(p, new long[] {n, d});
          // Unaligned floats (a hand-made .npy header) or a device: copy; else score the mapping in place.
          Tensor block = onCpu && (p.address() & 3) == 0 ? mapped : mapped.to(floats, false, true, keep);
          Tensor view = scores.narrow(0, 0, n);
          Tensor rowsT = nq == 1 ? null : scoresT.narrow(1, 0, n)) {
        // In-place results come back as the same Java object as their target: not closed separately.
        Tensor perQuery; // [Q, n] or [n] for Q = 1
        if (nq == 1) {
          torch.mv_out(view, block, qVec);
          perQuery = view;
        } else {
          torch.mm_out(view, block, qT);
          rowsT.copy_(view.t());
          perQuery = rowsT;
        }
        // One more than needed: if the (k+1)-th score equals the k-th, equal scores straddle the
        // boundary and topk's choice among them is arbitrary; NaN (a corrupt row) sorts first in topk.
        int kb = Math.min(kk + 1, n);
        long dim = nq == 1 ? 0 : 1;
        T_TensorTensor_T tk = perQuery.topk(kb, dim, true, true);
        try (tk;
            Tensor values = tk.get0();
            Tensor indices = tk.get1()) {
          // On CUDA: synchronous copies to the host (one wait per block), never a host read of device memory.
          float[] v = HostTensors.readFloats(values, "top-k scores");
          long[] ix = HostTensors.readLongs(indices, "top-k rows");
          for (int j = 0; j < nq; j++) {
            List<Hit> list = best.get(j);
            int at = j * kb; // values are [Q, kb] (or [kb])
            boolean nan = false;
            for (int t = 0; t < kb; t++) {
              nan |= Float.isNaN(v[at + t]);
            }
            boolean tie = kb > kk && v[at + kk] == v[at + kk - 1];
            if (nan || tie) {
              try (Tensor col = nq == 1 ? new Tensor(view) : perQuery.select(0, j)) {
                float[] all = HostTensors.readFloats(col, "scores");
                addBoundaryTies(all, firstRow, list);
              }
            } else {
              for (int t = 0; t < Math.min(kk, kb); t++) {
                list.add(new Hit(firstRow + ix[at + t], zero(v[at + t])));
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

    /**
     * The slow path (equal scores at the boundary, or NaN): the rows scoring above the k-th best
     * score, then the lowest rows scoring exactly that (NaN counts as -Infinity); at most k rows.
     */
    private void addBoundaryTies(float[] all, long firstRow, List<Hit> list) {
      for (int r = 0; r < all.length; r++) {
        if (Float.isNaN(all[r])) {
          all[r] = Float.NEGATIVE_INFINITY;
        }
      }
      float[] sorted = all.clone();
      java.util.Arrays.sort(sorted);
      float threshold = sorted[Math.max(0, sorted.length - kk)];
      int above = 0;
      for (float v : all) {
        if (v > threshold) {
          above++;
        }
      }
      int equal = Math.min(kk, all.length) - above;
      for (int r = 0; r < all.length; r++) {
        if (all[r] > threshold || (all[r] == threshold && equal-- > 0)) {
          list.add(new Hit(firstRow + r, zero(all[r])));
        }
      }
    }
  }

  private static float zero(float s) {
    return s == 0f ? 0f : s; // -0.0 ranks as 0.0, as in topk
  }
}
