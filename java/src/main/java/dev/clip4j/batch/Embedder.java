package dev.clip4j.batch;

import dev.clip4j.Clip4jException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import dev.clip4j.NumericalException;
import dev.clip4j.OverloadedException;
import dev.clip4j.internal.Devices;
import dev.clip4j.internal.EmbeddingCheck;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.HashMap;
import java.util.Map;
import io.micrometer.core.instrument.MeterRegistry;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * In-process micro-batching: concurrent callers' requests are coalesced into batches of up to
 * {@link EmbedderConfig#maxBatchSize()} (or whatever arrived within {@link
 * EmbedderConfig#maxDelay()}), filled in place into pooled batch tensors by a pool of
 * preprocessing/tokenizing threads, and run by one model thread per embedder.
 *
 * <p>Pipeline, per lane (images, texts): a bounded request queue → an assembler thread (collects
 * a batch, leases a pooled tensor, lets the prep pool write every request into its slot, trims
 * text batches to the longest real sequence) → a hand-off queue of one batch → the model thread
 * (forward, results to the futures, lease back to the pool). While the model runs one batch the
 * assembler prepares the next.
 *
 * <p>Guarantees: every accepted request completes exactly once, with a value or an exception; a
 * bad input fails only its own request; cancelled and expired requests are dropped before they
 * cost a forward; when the queue is full the caller blocks up to {@link
 * EmbedderConfig#admissionTimeout()} and then gets an {@link OverloadedException} (zero timeout =
 * reject at once); {@link #close()} stops admission, completes what was accepted, and never
 * hangs longer than its timeout. Thread safety: all public methods are thread-safe.
 *
 * <p>Results: a new {@code float[]} per request ({@link #submit}), or zero-copy into a caller's
 * direct native-order buffer ({@link #submitInto}, {@link #submitAllInto}), copied from the batch
 * output with one bulk copy per row; the buffer is checked before anything is queued.
 *
 * <p>Memory: batch inputs live in the {@link TensorPool} (steady state: no new buffers) and are
 * written through views the pool made once per buffer; every LibTorch temporary of a batch (views,
 * outputs, copies) is closed when the batch completes, so native memory does not wait for a GC.
 * CUDA lanes fill pinned host buffers, copy them to a pooled device buffer with a non-blocking
 * copy on a clip4j stream (current on the model thread) and read results back through a pinned
 * pooled buffer, synchronising once per batch.
 */
public final class Embedder implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(Embedder.class.getName());
  private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(60);

  /**
   * A lane's forward pass: {@code batch} [n, ...slotShape] on the lane's device, and the same batch
   * in host memory ({@code hostBatch}; the very same tensor on CPU lanes), e.g. to check token ids
   * without reading device memory. Returns [n, D] (float32 on the CPU; any float dtype on a device).
   */
  @FunctionalInterface
  public interface BatchForward {
    Tensor apply(Tensor batch, Tensor hostBatch);
  }

  /** One kind of input: its batch layout, slot writer, forward function and output width. */
  public static final class Lane<T> {
    final String name;
    final long[] slotShape;
    final ScalarType dtype;
    final SlotWriter<T> writer;
    final BatchForward forward;
    final boolean trim;
    final int outputDim;
    final String device;
    final boolean checkRows;

    /**
     * A CPU lane whose output width is not declared (no zero-copy results; see {@link
     * #Lane(String, long[], ScalarType, SlotWriter, Function, boolean, int, String)}).
     *
     * @param name "images" or "texts" (for messages and metrics)
     * @param slotShape shape of one item, e.g. {3, 224, 224} or {77}
     * @param dtype batch dtype (float32 pixels, int64 token ids)
     * @param writer fills one slot
     * @param forward runs a batch [n, ...slotShape] and returns [n, D] float32 (any device)
     * @param trim cut the last dimension to the longest value the writers returned
     */
    public Lane(String name, long[] slotShape, ScalarType dtype, SlotWriter<T> writer,
        Function<Tensor, Tensor> forward, boolean trim) {
      this(name, slotShape, dtype, writer, forward, trim, 0, "cpu");
    }

    /**
     * A lane with a declared output width {@code outputDim} (D; needed by the {@code submitInto}
     * variants, which check a caller's buffer against it before anything is written) whose
     * forward runs on {@code device}. For a CUDA device the batch buffers are pinned host memory,
     * copied to a pooled device buffer with a non-blocking transfer on a clip4j stream, and the
     * results come back through a pinned pooled buffer; the forward then receives a device tensor.
     *
     * @param outputDim D, or 0 if unknown
     * @param device "cpu", "cuda" or "cuda:N" (the forward's device)
     */
    public Lane(String name, long[] slotShape, ScalarType dtype, SlotWriter<T> writer,
        Function<Tensor, Tensor> forward, boolean trim, int outputDim, String device) {
      this(name, slotShape, dtype, writer, onDevice(forward), trim, outputDim, device, false);
    }

    /**
     * The general lane: {@code forward} also receives the host copy of the batch (see {@link
     * BatchForward}); {@code checkRows} true means the forward leaves the unit-row check to the
     * embedder, which runs it on the rows once they are in host memory (so a CUDA batch needs no
     * device read for it: see {@link dev.clip4j.model.ClipModel#embedImagesForBatch}).
     */
    public Lane(String name, long[] slotShape, ScalarType dtype, SlotWriter<T> writer, BatchForward forward,
        boolean trim, int outputDim, String device, boolean checkRows) {
      this.name = Objects.requireNonNull(name);
      this.slotShape = slotShape.clone();
      this.dtype = dtype.intern();
      this.writer = Objects.requireNonNull(writer);
      this.forward = Objects.requireNonNull(forward);
      this.trim = trim;
      if (outputDim < 0) {
        throw new IllegalArgumentException("outputDim must be >= 0, got " + outputDim);
      }
      this.outputDim = outputDim;
      this.device = Objects.requireNonNull(device, "device");
      Devices.canonical(device, () -> 0); // syntax only: cpu, cuda or cuda:N
      this.checkRows = checkRows;
    }

    private static BatchForward onDevice(Function<Tensor, Tensor> forward) {
      Objects.requireNonNull(forward, "forward");
      return (batch, host) -> forward.apply(batch);
    }

    boolean cuda() {
      return Devices.isCuda(device);
    }
  }

  /** An accepted input and where its result goes. */
  private abstract static class Request<T> {
    final T input;
    final long deadlineNanos; // Long.MAX_VALUE = none
    final long enqueuedNanos = System.nanoTime();

    Request(T input, long deadlineNanos) {
      this.input = input;
      this.deadlineNanos = deadlineNanos;
    }

    abstract CompletableFuture<?> future();

    /**
     * On the model thread, while the batch output is alive: takes this request's row ({@code d}
     * floats of {@code rows} from {@code offset}, one bulk copy). False if nobody waits for it.
     */
    abstract boolean take(FloatBuffer rows, int offset, int d);

    /** Completes the future with what {@link #take} kept (after the lease went back). */
    abstract void finish();
  }

  /** A result as a new {@code float[]}. */
  private static final class ArrayRequest<T> extends Request<T> {
    final CompletableFuture<float[]> future = new CompletableFuture<>();
    private float[] row;

    ArrayRequest(T input, long deadlineNanos) {
      super(input, deadlineNanos);
    }

    @Override
    CompletableFuture<?> future() {
      return future;
    }

    @Override
    boolean take(FloatBuffer rows, int offset, int d) {
      if (future.isDone()) {
        return false;
      }
      row = new float[d];
      rows.get(offset, row);
      return true;
    }

    @Override
    void finish() {
      future.complete(row);
    }
  }

  /** A result copied into a caller's buffer at {@code target[index .. index + width)}. */
  private static final class IntoRequest<T> extends Request<T> {
    final IntoFuture future = new IntoFuture();
    final FloatBuffer target;
    final int index;
    final int width;
    private Throwable error;

    IntoRequest(T input, long deadlineNanos, FloatBuffer target, int index, int width) {
      super(input, deadlineNanos);
      this.target = target;
      this.index = index;
      this.width = width;
    }

    @Override
    CompletableFuture<?> future() {
      return future;
    }

    @Override
    boolean take(FloatBuffer rows, int offset, int d) {
      synchronized (future.lock) {
        if (future.stopped) {
          return false;
        }
        if (d != width) {
          error = new Clip4jException(ErrorCode.INTERNAL, "the forward returned rows of " + d
              + " floats but the lane declares " + width + "; nothing was written");
          return true;
        }
        target.put(index, rows, offset, d); // direct to direct, same order: one memcpy
        return true;
      }
    }

    @Override
    void finish() {
      if (error != null) {
        future.completeExceptionally(error);
      } else {
        future.complete(null);
      }
    }
  }

  /**
   * The future of a zero-copy request. Once it is done in any way (completed, failed,
   * cancelled, {@code orTimeout}) the embedder writes nothing more into the caller's buffer: a
   * row copy in progress finishes before {@code cancel}/{@code complete*} return.
   */
  private static final class IntoFuture extends CompletableFuture<Void> {
    final Object lock = new Object();
    boolean stopped; // guarded by lock

    private void stop() {
      synchronized (lock) {
        stopped = true;
      }
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
      stop();
      return super.cancel(mayInterruptIfRunning);
    }

    @Override
    public boolean complete(Void value) {
      stop();
      return super.complete(value);
    }

    @Override
    public boolean completeExceptionally(Throwable ex) {
      stop();
      return super.completeExceptionally(ex);
    }

    @Override
    public void obtrudeValue(Void value) {
      stop();
      super.obtrudeValue(value);
    }

    @Override
    public void obtrudeException(Throwable ex) {
      stop();
      super.obtrudeException(ex);
    }
  }

  private static final class Batch {
    final LaneRunner<?> lane;
    final List<? extends Request<?>> requests;
    final boolean[] ok;
    final TensorPool.Lease lease;
    private Tensor view;
    // CUDA lanes: the batch staged on the device by the assembler (null on CPU lanes).
    CudaTransfers transfers;
    TensorPool.Lease deviceLease;
    CudaTransfers.Staged staged;

    /**
     * Frees the batch view and the staged device batch; the pooled buffers go back with their
     * leases. On a CUDA lane the compute stream is drained first unless {@code synced}, so no later
     * copy lands in device memory a kernel of this batch still reads. Idempotent.
     */
    void release(boolean synced) {
      if (transfers != null && !synced && staged != null) {
        try {
          transfers.drain();
        } catch (RuntimeException e) {
          LOG.log(System.Logger.Level.WARNING, "draining the CUDA compute stream failed: " + e.getMessage());
        }
      }
      if (staged != null) {
        staged.close();
        staged = null;
      }
      if (deviceLease != null) {
        deviceLease.close();
        deviceLease = null;
      }
      if (view != null) {
        view.close();
        view = null;
      }
      if (lease != null) {
        lease.close();
      }
    }

    Batch(LaneRunner<?> lane, List<? extends Request<?>> requests, boolean[] ok, TensorPool.Lease lease, Tensor view) {
      this.lane = lane;
      this.requests = requests;
      this.ok = ok;
      this.lease = lease;
      this.view = view;
    }
  }

  private final EmbedderConfig config;
  private final TensorPool pool;
  private final ExecutorService prep;
  private final BlockingQueue<Batch> ready = new ArrayBlockingQueue<>(1);
  private final List<LaneRunner<?>> lanes = new ArrayList<>();
  private final Thread modelThread;
  private final AtomicInteger liveAssemblers = new AtomicInteger();
  private final AtomicLong batches = new AtomicLong();
  private final AtomicLong items = new AtomicLong();
  private volatile boolean closing;
  private volatile boolean closed;

  /** A lane's queue and assembler. */
  private final class LaneRunner<T> {
    final Lane<T> lane;
    final BlockingQueue<Request<T>> queue;
    final Thread assembler;

    LaneRunner(Lane<T> lane) {
      this.lane = lane;
      this.queue = new ArrayBlockingQueue<>(config.queueCapacity());
      this.assembler = new Thread(this::assembleLoop, "clip4j-embedder-" + lane.name);
      this.assembler.setDaemon(true);
    }

    ArrayRequest<T> submit(T input, Duration deadline) {
      return admit(new ArrayRequest<>(Objects.requireNonNull(input, "input"), deadlineOf(deadline)));
    }

    /** Row width for zero-copy results, or an exception if this lane does not declare it. */
    int width() {
      if (lane.outputDim == 0) {
        throw new IllegalStateException("lane '" + lane.name + "' does not declare its output width: "
            + "zero-copy results need a Lane created with outputDim");
      }
      return lane.outputDim;
    }

    IntoRequest<T> submitInto(T input, Duration deadline, FloatBuffer target, int index) {
      return admit(new IntoRequest<>(Objects.requireNonNull(input, "input"), deadlineOf(deadline), target, index,
          lane.outputDim));
    }

    private long deadlineOf(Duration deadline) {
      return deadline == null ? Long.MAX_VALUE : System.nanoTime() + deadline.toNanos();
    }

    private <R extends Request<T>> R admit(R r) {
      if (closing) {
        throw new IllegalStateException("Embedder is closed");
      }
      boolean accepted;
      try {
        Duration t = config.admissionTimeout();
        accepted = t.isZero() ? queue.offer(r) : queue.offer(r, t.toNanos(), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new OverloadedException("interrupted while waiting for queue space (" + lane.name + ")");
      }
      if (!accepted) {
        throw new OverloadedException("the " + lane.name + " queue is full (" + config.queueCapacity()
            + " requests waiting); retry later");
      }
      if (closing && queue.remove(r)) {
        // Raced with close(): never accepted.
        throw new IllegalStateException("Embedder is closed");
      }
      return r;
    }

    void assembleLoop() {
      try {
        while (true) {
          Request<T> first = queue.poll(50, TimeUnit.MILLISECONDS);
          if (first == null) {
            if (closing && queue.isEmpty()) {
              return;
            }
            continue;
          }
          List<Request<T>> batch = new ArrayList<>(config.maxBatchSize());
          batch.add(first);
          long until = first.enqueuedNanos + config.maxDelay().toNanos();
          while (batch.size() < config.maxBatchSize()) {
            long wait = until - System.nanoTime();
            Request<T> next = wait <= 0 ? queue.poll() : queue.poll(wait, TimeUnit.NANOSECONDS);
            if (next == null) {
              break;
            }
            batch.add(next);
          }
          List<Request<T>> live = dropDead(batch);
          if (!live.isEmpty()) {
            Batch b = prepare(live);
            if (b != null) {
              try {
                ready.put(b);
              } catch (InterruptedException e) {
                failBatch(b, new IllegalStateException("Embedder closed before this request was run"));
                throw e;
              }
            }
          }
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        failAll(queue, "Embedder closed before this request was run");
        if (liveAssemblers.decrementAndGet() == 0) {
          ready.offer(POISON);
        }
      }
    }

    private List<Request<T>> dropDead(List<Request<T>> batch) {
      List<Request<T>> live = new ArrayList<>(batch.size());
      long now = System.nanoTime();
      for (Request<T> r : batch) {
        if (r.future().isDone()) {
          continue; // cancelled by the caller
        }
        if (now - r.deadlineNanos > 0 && r.deadlineNanos != Long.MAX_VALUE) {
          r.future().completeExceptionally(new TimeoutException("deadline passed before the request was run"));
          continue;
        }
        live.add(r);
      }
      return live;
    }

    private Batch prepare(List<Request<T>> live) {
      int n = live.size();
      long[] shape = new long[lane.slotShape.length + 1];
      shape[0] = config.maxBatchSize();
      System.arraycopy(lane.slotShape, 0, shape, 1, lane.slotShape.length);
      TensorPool.Lease lease;
      try {
        // CUDA lanes fill pinned host memory, so the model thread's copy to the device is asynchronous.
        lease = pool.acquire(lane.dtype, "cpu", lane.cuda(), shape);
      } catch (RuntimeException e) {
        for (Request<T> r : live) {
          r.future().completeExceptionally(e);
        }
        return null;
      }
      Tensor buf = lease.tensor();
      java.nio.ByteBuffer memory = lease.buffer();
      boolean[] ok = new boolean[n];
      int[] lengths = new int[n];
      List<Future<?>> tasks = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        final int slot = i;
        Runnable task = () -> {
          Request<T> r = live.get(slot);
          try {
            lengths[slot] = lane.writer.write(r.input, buf, memory, slot);
            ok[slot] = true;
          } catch (RuntimeException | Error e) {
            try (Tensor row = buf.select(0, slot)) {
              row.zero_(); // keep the batch valid for the others
            }
            r.future().completeExceptionally(e);
          }
        };
        try {
          tasks.add(prep.submit(task));
        } catch (java.util.concurrent.RejectedExecutionException e) {
          task.run(); // the prep pool is shutting down: fill the slot on this thread
        }
      }
      for (Future<?> f : tasks) {
        try {
          f.get();
        } catch (Exception e) {
          // The task itself records failures on its request.
        }
      }
      int used = 1;
      boolean any = false;
      for (int i = 0; i < n; i++) {
        if (ok[i]) {
          any = true;
          used = Math.max(used, lengths[i]);
        }
      }
      if (!any) {
        lease.close();
        return null;
      }
      Tensor view = buf.narrow(0, 0, n);
      long last = lane.slotShape[lane.slotShape.length - 1];
      boolean cut = lane.trim && used < last;
      Tensor staging = cut && lane.cuda() ? buf.narrow(0, 0, n) : null; // the pinned rows, untrimmed
      if (cut) {
        try (Tensor rows = view; Tensor trimmed = rows.narrow(lane.slotShape.length, 0, used)) {
          view = trimmed.contiguous(); // the host batch (pageable): the forward's host copy
        }
      }
      Batch batch = new Batch(this, live, ok, lease, view);
      if (lane.cuda()) {
        // Double buffering: this batch's copy to the device runs on the copy stream now, while the
        // model thread computes the previous batch; the model thread only waits for it on the device.
        // It is copied from the pinned pooled memory (asynchronous) and trimmed on the device.
        try (Tensor from = staging != null ? staging : new Tensor(view)) {
          batch.transfers = cudaTransfers(lane.device);
          batch.deviceLease = pool.acquire(lane.dtype, batch.transfers.device(), false, shape);
          batch.staged = batch.transfers.stage(from, batch.deviceLease.tensor(), cut ? used : last);
        } catch (RuntimeException | Error e) {
          failBatch(batch, e);
          return null;
        }
      }
      return batch;
    }
  }

  private static final Batch POISON = new Batch(null, List.of(), new boolean[0], null, null);

  private final EmbedderMetrics metrics;
  // By canonical device (cuda:N); assembler threads stage, the model thread computes.
  private final Map<String, CudaTransfers> transfers = new java.util.concurrent.ConcurrentHashMap<>();

  private Embedder(EmbedderConfig config, List<Lane<?>> laneDefs, EmbedderMetrics metrics) {
    Engine.ensureInitialized();
    for (Lane<?> l : laneDefs) {
      if (l.cuda()) {
        Devices.parse(l.device).close(); // a CUDA device this host does not have: DeviceException (DEVICE) now
      }
    }
    this.config = Objects.requireNonNull(config, "config");
    this.metrics = metrics;
    this.pool = new TensorPool(config.poolBytes());
    AtomicInteger n = new AtomicInteger();
    this.prep = Executors.newFixedThreadPool(config.prepThreads(), r -> {
      Thread t = new Thread(r, "clip4j-prep-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    for (Lane<?> l : laneDefs) {
      LaneRunner<?> runner = new LaneRunner<>(l);
      lanes.add(runner);
      metrics.lane(l.name, runner.queue);
    }
    metrics.engine(pool, items);
    this.modelThread = new Thread(this::modelLoop, "clip4j-model");
    this.modelThread.setDaemon(true);
    liveAssemblers.set(lanes.size());
    modelThread.start();
    for (LaneRunner<?> l : lanes) {
      l.assembler.start();
    }
  }

  /** An embedder over the given lanes (see {@link Lane}); use {@link EmbedderFactory} for a {@code ClipModel}. */
  public static Embedder create(EmbedderConfig config, List<Lane<?>> lanes) {
    if (lanes.isEmpty()) {
      throw new IllegalArgumentException("at least one lane");
    }
    return new Embedder(config, lanes, EmbedderMetrics.NONE);
  }

  /**
   * Like {@link #create(EmbedderConfig, List)}, publishing Micrometer metrics to {@code registry}
   * (null = none): {@code clip4j.embedder.queue.depth}, {@code .latency} (p50/p99), {@code
   * .batch.size}, {@code .items}, and {@code clip4j.pool.bytes.held}/{@code .in_use}. Micrometer
   * is an optional dependency: only this method needs it on the class path.
   */
  public static Embedder create(EmbedderConfig config, List<Lane<?>> lanes, MeterRegistry registry) {
    if (lanes.isEmpty()) {
      throw new IllegalArgumentException("at least one lane");
    }
    return new Embedder(config, lanes, registry == null ? EmbedderMetrics.NONE : new MicrometerMetrics(registry));
  }

  @SuppressWarnings("unchecked")
  private <T> LaneRunner<T> lane(String name) {
    for (LaneRunner<?> l : lanes) {
      if (l.lane.name.equals(name)) {
        return (LaneRunner<T>) l;
      }
    }
    throw new IllegalArgumentException("this embedder has no lane '" + name + "'");
  }

  /** Submits one input to lane {@code name}; the future completes with its unit-norm embedding. */
  public <T> CompletableFuture<float[]> submit(String name, T input) {
    return this.<T>lane(name).submit(input, null).future;
  }

  /** Like {@link #submit(String, Object)} with a deadline: not run after it passes (TimeoutException). */
  public <T> CompletableFuture<float[]> submit(String name, T input, Duration deadline) {
    return this.<T>lane(name).submit(input, Objects.requireNonNull(deadline, "deadline")).future;
  }

  /**
   * Submits many inputs; results are in input order. Inputs are enqueued in the order of {@code
   * sortKey} (e.g. text length, so batches hold similar lengths and trim well).
   */
  public <T> List<CompletableFuture<float[]>> submitAll(String name, List<T> inputs, Comparator<T> sortKey) {
    LaneRunner<T> l = lane(name);
    List<CompletableFuture<float[]>> out = new ArrayList<>(inputs.size());
    for (int i = 0; i < inputs.size(); i++) {
      out.add(null);
    }
    for (int i : order(inputs, sortKey)) {
      out.set(i, l.submit(inputs.get(i), null).future);
    }
    return out;
  }

  /**
   * Like {@link #submit(String, Object)}, writing the unit-norm embedding (D = {@link
   * #outputDim(String)} floats, one bulk copy) into {@code dst} at its position instead of
   * returning a new array: zero-copy for callers that hand results on as native memory.
   *
   * <p>{@code dst} must be direct, writable, in the native byte order, with {@code remaining() >=
   * D}; this is checked here, before anything is queued ({@link dev.clip4j.InvalidInputException},
   * {@link ErrorCode#INVALID_ARGUMENT}). Ownership: the embedder holds {@code dst} until the future
   * is done and writes only {@code [position, position + D)}; its position and limit are never
   * changed. Do not read or reuse that region before the future completes. Once the future is
   * done in any way (completed, failed, timed out, or cancelled by the caller) nothing more is
   * written. Several requests may target disjoint regions of one buffer.
   *
   * @throws IllegalStateException if the lane does not declare its output width, or after close
   */
  public <T> CompletableFuture<Void> submitInto(String name, T input, FloatBuffer dst) {
    return submitInto(name, input, dst, null);
  }

  /** {@link #submitInto(String, Object, FloatBuffer)} with a deadline (null = none). */
  public <T> CompletableFuture<Void> submitInto(String name, T input, FloatBuffer dst, Duration deadline) {
    LaneRunner<T> l = lane(name);
    return l.submitInto(input, deadline, ResultBuffers.target(dst, l.width()), 0).future;
  }

  /**
   * {@link #submitInto(String, Object, FloatBuffer)} into a byte buffer: D native-order floats
   * (4 D bytes) from its position; the buffer's {@code order()} must be the native order.
   */
  public <T> CompletableFuture<Void> submitInto(String name, T input, ByteBuffer dst) {
    return submitInto(name, input, dst, null);
  }

  /** {@link #submitInto(String, Object, ByteBuffer)} with a deadline (null = none). */
  public <T> CompletableFuture<Void> submitInto(String name, T input, ByteBuffer dst, Duration deadline) {
    LaneRunner<T> l = lane(name);
    return l.submitInto(input, deadline, ResultBuffers.target(dst, l.width()), 0).future;
  }

  /**
   * Submits many inputs, writing input {@code i}'s embedding into {@code dst} at {@code
   * position + i * D} (a row-major [n, D] float32 block); the futures are in input order and each
   * one's region is owned as in {@link #submitInto(String, Object, FloatBuffer)}. The whole
   * buffer is checked before anything is queued. Inputs are enqueued in {@code sortKey} order
   * (null = input order). If admission fails part way ({@link OverloadedException} after the
   * admission timeout), the requests already accepted still run and own their rows.
   */
  public <T> List<CompletableFuture<Void>> submitAllInto(String name, List<T> inputs, Comparator<T> sortKey,
      FloatBuffer dst) {
    LaneRunner<T> l = lane(name);
    return submitAllInto(l, inputs, sortKey, ResultBuffers.target(dst, (long) inputs.size() * l.width()));
  }

  /** {@link #submitAllInto(String, List, Comparator, FloatBuffer)} into native-order bytes. */
  public <T> List<CompletableFuture<Void>> submitAllInto(String name, List<T> inputs, Comparator<T> sortKey,
      ByteBuffer dst) {
    LaneRunner<T> l = lane(name);
    return submitAllInto(l, inputs, sortKey, ResultBuffers.target(dst, (long) inputs.size() * l.width()));
  }

  private <T> List<CompletableFuture<Void>> submitAllInto(LaneRunner<T> l, List<T> inputs, Comparator<T> sortKey,
      FloatBuffer target) {
    int w = l.width();
    List<CompletableFuture<Void>> out = new ArrayList<>(inputs.size());
    for (int i = 0; i < inputs.size(); i++) {
      out.add(null);
    }
    for (int i : order(inputs, sortKey)) {
      out.set(i, l.submitInto(inputs.get(i), null, target, Math.multiplyExact(i, w)).future);
    }
    return out;
  }

  private static <T> int[] order(List<T> inputs, Comparator<T> sortKey) {
    Integer[] order = new Integer[inputs.size()];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    if (sortKey != null) {
      Arrays.sort(order, (a, b) -> sortKey.compare(inputs.get(a), inputs.get(b)));
    }
    return Arrays.stream(order).mapToInt(Integer::intValue).toArray();
  }

  /** The declared output width D of lane {@code name} (0 if the lane does not declare it). */
  public int outputDim(String name) {
    return lane(name).lane.outputDim;
  }

  private void modelLoop() {
    try {
      while (true) {
        Batch b = ready.take();
        if (b == POISON) {
          return;
        }
        run(b);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      Batch b;
      while ((b = ready.poll()) != null) {
        if (b != POISON) {
          failBatch(b, new Clip4jException(ErrorCode.INTERNAL, "Embedder stopped before this batch ran"));
        }
      }
    }
  }

  private void run(Batch b) {
    Lane<?> lane = b.lane.lane;
    Tensor input = null;
    Tensor out = null;
    Tensor host = null;
    TensorPool.Lease hostOutLease = null;
    boolean synced = false;
    List<Request<?>> rerun = List.of();
    try {
      // Requests may have expired or been cancelled while the batch waited for the model.
      long now = System.nanoTime();
      boolean any = false;
      for (int i = 0; i < b.requests.size(); i++) {
        Request<?> r = b.requests.get(i);
        if (b.ok[i] && r.future().isDone()) {
          b.ok[i] = false;
        } else if (b.ok[i] && r.deadlineNanos != Long.MAX_VALUE && now - r.deadlineNanos > 0) {
          b.ok[i] = false;
          r.future().completeExceptionally(new TimeoutException("deadline passed before the request was run"));
        }
        any |= b.ok[i];
      }
      if (!any) {
        return;
      }
      int n = b.requests.size();
      CudaTransfers cuda = b.transfers;
      if (cuda != null) {
        input = cuda.await(b.staged); // the compute stream waits for the staged copy; the host does not
      }
      out = lane.forward.apply(input != null ? input : b.view, b.view);
      if (out == null || !out.defined() || out.dim() != 2 || out.size(0) != n) {
        throw new Clip4jException(ErrorCode.INTERNAL, "lane " + lane.name + ": the forward returned "
            + (out == null ? "null" : dev.clip4j.internal.TensorShapes.describe(out)) + " for a batch of " + n);
      }
      int d = (int) out.size(1);
      // Rows are read from host float32 memory: the output itself on CPU, else a pooled
      // (pinned, for CUDA lanes) buffer filled by one device-to-host copy.
      if (cuda != null) {
        hostOutLease = pool.acquire(ScalarType.Float, "cpu", true, config.maxBatchSize(), d);
        host = cuda.toHost(out, hostOutLease.tensor(), n); // the batch's one host synchronisation
        synced = true;
      } else if (!out.is_cpu() || out.scalar_type().intern() != ScalarType.Float || !out.is_contiguous()) {
        host = dev.clip4j.internal.HostTensors.toHost(out, ScalarType.Float, "lane " + lane.name + " output");
      }
      Tensor src = host != null ? host : out;
      FloatBuffer rows = dev.clip4j.internal.HostTensors.floatBuffer(src, "lane " + lane.name + " output");
      if (lane.checkRows) {
        EmbeddingCheck.requireUnitRows(rows, n, d, lane.name + " embeddings");
      }
      long done = System.nanoTime();
      boolean[] taken = new boolean[n];
      for (int i = 0; i < n; i++) {
        if (b.ok[i] && b.requests.get(i).take(rows, i * d, d)) {
          taken[i] = true;
          metrics.latency(lane.name, done - b.requests.get(i).enqueuedNanos);
        }
      }
      // Counters first, so a caller that sees its result also sees it counted.
      metrics.batch(lane.name, n);
      batches.incrementAndGet();
      items.addAndGet(n);
      // Native memory back now, not at GC; the leases back before anyone sees a result.
      closeAll(b, synced, out, host, hostOutLease);
      out = host = null;
      for (int i = 0; i < n; i++) {
        if (taken[i]) {
          b.requests.get(i).finish();
        }
      }
    } catch (NumericalException e) {
      // The output check named bad rows: only those requests fail. The others run again one by
      // one (the towers are batch-invariant, so each gets the row it would have had).
      if (b.requests.size() > 1) {
        rerun = runOneByOne(b, input != null ? input : b.view);
      } else {
        failBatch(b, e);
      }
    } catch (RuntimeException | Error e) {
      failBatch(b, e);
    } finally {
      closeAll(b, synced, out, host, hostOutLease);
    }
    rerun.forEach(Request::finish); // after the leases went back, as for a batch that succeeded
  }

  /**
   * Runs each live request of {@code b} alone on its slot of {@code batch}; a failure stays its
   * own. Returns the requests that took a row, to be finished once the batch's leases are back.
   */
  private List<Request<?>> runOneByOne(Batch b, Tensor batch) {
    Lane<?> lane = b.lane.lane;
    List<Request<?>> took = new ArrayList<>();
    for (int i = 0; i < b.requests.size(); i++) {
      Request<?> r = b.requests.get(i);
      if (!b.ok[i] || r.future().isDone()) {
        continue;
      }
      try (Tensor slot = batch.narrow(0, i, 1);
          Tensor hostSlot = b.view.narrow(0, i, 1);
          Tensor one = lane.forward.apply(slot, hostSlot);
          Tensor row = dev.clip4j.internal.HostTensors.toHost(one, ScalarType.Float, "lane " + lane.name + " output")) {
        int d = (int) row.numel();
        FloatBuffer values = dev.clip4j.internal.HostTensors.floatBuffer(row, "lane " + lane.name + " output");
        if (lane.checkRows) {
          EmbeddingCheck.requireUnitRows(values, 1, d, lane.name + " embeddings");
        }
        if (r.take(values, 0, d)) {
          metrics.latency(lane.name, System.nanoTime() - r.enqueuedNanos);
          items.incrementAndGet();
          took.add(r);
        }
      } catch (RuntimeException | Error e) {
        r.future().completeExceptionally(e);
      }
    }
    return took;
  }

  private static void closeAll(Batch b, boolean synced, Tensor out, Tensor host, TensorPool.Lease hostOutLease) {
    if (b.transfers != null && !synced) {
      b.release(false); // drains the compute stream before any pooled memory goes back
    }
    for (Tensor t : new Tensor[] {host, out}) {
      if (t != null && t != b.view) {
        t.close();
      }
    }
    if (hostOutLease != null) {
      hostOutLease.close();
    }
    b.release(true);
  }

  /**
   * The transfers of {@code device}'s canonical name: one per physical device, so lanes on
   * {@code cuda} and {@code cuda:0} (device 0 current) share one copy stream and one compute
   * stream, and the one synchronisation per batch waits for the stream the batch ran on.
   */
  private CudaTransfers cudaTransfers(String device) {
    return transfers.computeIfAbsent(transferKey(device, Devices::currentCudaDevice), CudaTransfers::new);
  }

  /** The key of a lane's CUDA transfer state: its canonical device, {@code cuda:N}. */
  static String transferKey(String device, java.util.function.IntSupplier currentCudaDevice) {
    return Devices.canonical(device, currentCudaDevice);
  }

  /** The transfer states created so far, by key (tests). */
  java.util.Set<String> transferKeys() {
    return java.util.Set.copyOf(transfers.keySet());
  }

  private static void failBatch(Batch b, Throwable e) {
    for (int i = 0; i < b.requests.size(); i++) {
      if (b.ok[i]) {
        b.requests.get(i).future().completeExceptionally(e);
      }
    }
    b.release(false);
  }

  private static void failAll(BlockingQueue<? extends Request<?>> q, String message) {
    Request<?> r;
    while ((r = q.poll()) != null) {
      r.future().completeExceptionally(new IllegalStateException(message));
    }
  }

  /** Batches run so far. */
  public long batchesRun() {
    return batches.get();
  }

  /** Items run so far (successful and failed-in-forward). */
  public long itemsRun() {
    return items.get();
  }

  /** The pooled batch buffers (gauges: bytes held, in use, allocations, reuses). */
  public TensorPool pool() {
    return pool;
  }

  /** Requests waiting in lane {@code name}'s queue. */
  public int queueDepth(String name) {
    return lane(name).queue.size();
  }

  /**
   * Stops admission, runs every request already accepted, then stops the threads. Waits at most
   * 60 s; requests still pending then fail. Idempotent.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    synchronized (this) {
      if (closed) {
        return;
      }
      closing = true;
      long deadline = System.nanoTime() + CLOSE_TIMEOUT.toNanos();
      try {
        for (LaneRunner<?> l : lanes) {
          l.assembler.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
        }
        modelThread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      for (LaneRunner<?> l : lanes) {
        if (l.assembler.isAlive()) {
          LOG.log(System.Logger.Level.WARNING, "embedder lane " + l.lane.name + " did not stop in time");
          l.assembler.interrupt();
        }
      }
      if (modelThread.isAlive()) {
        modelThread.interrupt();
      }
      prep.shutdownNow();
      closed = true;
      pool.close();
    }
  }
}
