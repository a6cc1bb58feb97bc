package dev.clip4j.batch;

import dev.clip4j.Clip4jException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import dev.clip4j.OverloadedException;
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
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
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
 */
public final class Embedder implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(Embedder.class.getName());
  private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(60);

  /** One kind of input: its batch layout, slot writer and forward function. */
  public static final class Lane<T> {
    final String name;
    final long[] slotShape;
    final ScalarType dtype;
    final SlotWriter<T> writer;
    final Function<Tensor, Tensor> forward;
    final boolean trim;

    /**
     * @param name "images" or "texts" (for messages and metrics)
     * @param slotShape shape of one item, e.g. {3, 224, 224} or {77}
     * @param dtype batch dtype (float32 pixels, int64 token ids)
     * @param writer fills one slot
     * @param forward runs a batch [n, ...slotShape] and returns [n, D] float32 (any device)
     * @param trim cut the last dimension to the longest value the writers returned
     */
    public Lane(String name, long[] slotShape, ScalarType dtype, SlotWriter<T> writer,
        Function<Tensor, Tensor> forward, boolean trim) {
      this.name = Objects.requireNonNull(name);
      this.slotShape = slotShape.clone();
      this.dtype = dtype.intern();
      this.writer = Objects.requireNonNull(writer);
      this.forward = Objects.requireNonNull(forward);
      this.trim = trim;
    }
  }

  private static final class Request<T> {
    final T input;
    final CompletableFuture<float[]> future = new CompletableFuture<>();
    final long deadlineNanos; // Long.MAX_VALUE = none
    final long enqueuedNanos = System.nanoTime();

    Request(T input, long deadlineNanos) {
      this.input = input;
      this.deadlineNanos = deadlineNanos;
    }
  }

  private static final class Batch {
    final LaneRunner<?> lane;
    final List<? extends Request<?>> requests;
    final boolean[] ok;
    final TensorPool.Lease lease;
    final Tensor view;

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

    CompletableFuture<float[]> submit(T input, Duration deadline) {
      Objects.requireNonNull(input, "input");
      if (closing) {
        throw new IllegalStateException("Embedder is closed");
      }
      long dl = deadline == null ? Long.MAX_VALUE : System.nanoTime() + deadline.toNanos();
      Request<T> r = new Request<>(input, dl);
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
      return r.future;
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
        if (r.future.isDone()) {
          continue; // cancelled by the caller
        }
        if (now - r.deadlineNanos > 0 && r.deadlineNanos != Long.MAX_VALUE) {
          r.future.completeExceptionally(new TimeoutException("deadline passed before the request was run"));
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
        lease = pool.acquire(lane.dtype, shape);
      } catch (RuntimeException e) {
        for (Request<T> r : live) {
          r.future.completeExceptionally(e);
        }
        return null;
      }
      Tensor buf = lease.tensor();
      boolean[] ok = new boolean[n];
      int[] lengths = new int[n];
      List<Future<?>> tasks = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        final int slot = i;
        Runnable task = () -> {
          Request<T> r = live.get(slot);
          try {
            lengths[slot] = lane.writer.write(r.input, buf, slot);
            ok[slot] = true;
          } catch (RuntimeException | Error e) {
            buf.select(0, slot).zero_(); // keep the batch valid for the others
            r.future.completeExceptionally(e);
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
      if (lane.trim && used < lane.slotShape[lane.slotShape.length - 1]) {
        view = view.narrow(lane.slotShape.length, 0, used).contiguous();
      }
      return new Batch(this, live, ok, lease, view);
    }
  }

  private static final Batch POISON = new Batch(null, List.of(), new boolean[0], null, null);

  private final MeterRegistry registry;
  private final Map<String, Timer> latency = new HashMap<>();
  private final Map<String, DistributionSummary> batchSizes = new HashMap<>();

  private Embedder(EmbedderConfig config, List<Lane<?>> laneDefs, MeterRegistry registry) {
    Engine.ensureInitialized();
    this.config = Objects.requireNonNull(config, "config");
    this.registry = registry == null ? new CompositeMeterRegistry() : registry; // composite without children = no-op
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
      Gauge.builder("clip4j.embedder.queue.depth", runner.queue, BlockingQueue::size)
          .tag("lane", l.name).register(this.registry);
      latency.put(l.name, Timer.builder("clip4j.embedder.latency").tag("lane", l.name)
          .publishPercentiles(0.5, 0.99).register(this.registry));
      batchSizes.put(l.name, DistributionSummary.builder("clip4j.embedder.batch.size").tag("lane", l.name)
          .register(this.registry));
    }
    Gauge.builder("clip4j.pool.bytes.held", pool, TensorPool::bytesHeld).register(this.registry);
    Gauge.builder("clip4j.pool.bytes.in_use", pool, TensorPool::bytesInUse).register(this.registry);
    FunctionCounter.builder("clip4j.embedder.items", items, AtomicLong::get).register(this.registry);
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
    return create(config, lanes, null);
  }

  /**
   * Like {@link #create(EmbedderConfig, List)}, publishing Micrometer metrics to {@code registry}
   * (null = none): {@code clip4j.embedder.queue.depth}, {@code .latency} (p50/p99), {@code
   * .batch.size}, {@code .items}, and {@code clip4j.pool.bytes.held}/{@code .in_use}.
   */
  public static Embedder create(EmbedderConfig config, List<Lane<?>> lanes, MeterRegistry registry) {
    if (lanes.isEmpty()) {
      throw new IllegalArgumentException("at least one lane");
    }
    return new Embedder(config, lanes, registry);
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
    return this.<T>lane(name).submit(input, null);
  }

  /** Like {@link #submit(String, Object)} with a deadline: not run after it passes (TimeoutException). */
  public <T> CompletableFuture<float[]> submit(String name, T input, Duration deadline) {
    return this.<T>lane(name).submit(input, Objects.requireNonNull(deadline, "deadline"));
  }

  /**
   * Submits many inputs; results are in input order. Inputs are enqueued in the order of {@code
   * sortKey} (e.g. text length, so batches hold similar lengths and trim well).
   */
  public <T> List<CompletableFuture<float[]>> submitAll(String name, List<T> inputs, Comparator<T> sortKey) {
    LaneRunner<T> l = lane(name);
    Integer[] order = new Integer[inputs.size()];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    if (sortKey != null) {
      Arrays.sort(order, (a, b) -> sortKey.compare(inputs.get(a), inputs.get(b)));
    }
    List<CompletableFuture<float[]>> out = new ArrayList<>(inputs.size());
    for (int i = 0; i < inputs.size(); i++) {
      out.add(null);
    }
    for (Integer i : order) {
      out.set(i, l.submit(inputs.get(i), null));
    }
    return out;
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
    try {
      // Requests may have expired or been cancelled while the batch waited for the model.
      long now = System.nanoTime();
      boolean any = false;
      for (int i = 0; i < b.requests.size(); i++) {
        Request<?> r = b.requests.get(i);
        if (b.ok[i] && r.future.isDone()) {
          b.ok[i] = false;
        } else if (b.ok[i] && r.deadlineNanos != Long.MAX_VALUE && now - r.deadlineNanos > 0) {
          b.ok[i] = false;
          r.future.completeExceptionally(new TimeoutException("deadline passed before the request was run"));
        }
        any |= b.ok[i];
      }
      if (!any) {
        return;
      }
      // Tensors are closed as soon as their rows are copied: LibTorch memory is released now,
      // not whenever the GC gets to the Java wrappers.
      Tensor out = b.lane.lane.forward.apply(b.view);
      Tensor cpu = out.to(new org.bytedeco.pytorch.TensorOptions(ScalarType.Float)
          .device(new org.bytedeco.pytorch.DeviceOptional(new org.bytedeco.pytorch.Device("cpu"))),
          false, false, new org.bytedeco.pytorch.MemoryFormatOptional()).contiguous();
      out.close();
      b.view.close();
      int d = (int) cpu.size(1);
      org.bytedeco.javacpp.FloatPointer p = cpu.data_ptr_float();
      Timer timer = latency.get(b.lane.lane.name);
      long done = System.nanoTime();
      float[][] rows = new float[b.requests.size()][];
      for (int i = 0; i < rows.length; i++) {
        if (b.ok[i]) {
          rows[i] = new float[d];
          p.position((long) i * d).get(rows[i]);
          timer.record(done - b.requests.get(i).enqueuedNanos, TimeUnit.NANOSECONDS);
        }
      }
      // Counters first, so a caller that sees its result also sees it counted.
      batchSizes.get(b.lane.lane.name).record(b.requests.size());
      batches.incrementAndGet();
      items.addAndGet(b.requests.size());
      cpu.close();
      b.lease.close(); // back to the pool before anyone sees a result (close is idempotent)
      for (int i = 0; i < rows.length; i++) {
        if (rows[i] != null) {
          b.requests.get(i).future.complete(rows[i]);
        }
      }
    } catch (RuntimeException | Error e) {
      failBatch(b, e);
    } finally {
      b.lease.close();
    }
  }

  private static void failBatch(Batch b, Throwable e) {
    for (int i = 0; i < b.requests.size(); i++) {
      if (b.ok[i]) {
        b.requests.get(i).future.completeExceptionally(e);
      }
    }
    if (b.lease != null) {
      b.lease.close();
    }
  }

  private static void failAll(BlockingQueue<? extends Request<?>> q, String message) {
    Request<?> r;
    while ((r = q.poll()) != null) {
      r.future.completeExceptionally(new IllegalStateException(message));
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
