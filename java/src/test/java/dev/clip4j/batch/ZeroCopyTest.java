package dev.clip4j.batch;

import static dev.clip4j.testing.Tensors.fromFloats;
import static dev.clip4j.testing.Tensors.randn;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.head.EmbeddingHead;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Zero-copy results ({@code submitInto}/{@code submitAllInto}) on the synthetic engine of {@link
 * EmbedderTest} (a fused head 16 -> 8, batch-independent rows): every result equals the {@code
 * float[]} path bitwise, lands exactly at its offset, and bad buffers are refused before anything
 * is queued.
 */
class ZeroCopyTest {
  private static final int IN = 16;
  private static final int D = 8;
  private static final float SENTINEL = -12345.5f;
  private EmbeddingHead head;

  @BeforeEach
  void setUp() {
    Engine.ensureInitialized();
    head = EmbeddingHead.builder(fromFloats(randn(new Random(5), IN * D, 0.3), IN, D)).build();
  }

  @AfterEach
  void tearDown() {
    head.close();
  }

  /** Writes the vector (into pooled memory when the engine offers it); NaN first = corrupt input. */
  static final SlotWriter<float[]> WRITER = new SlotWriter<>() {
    @Override
    public int write(float[] v, Tensor batch, int slot) {
      throw new AssertionError("the engine passes the pooled buffer for CPU batches");
    }

    @Override
    public int write(float[] v, Tensor batch, ByteBuffer memory, int slot) {
      if (Float.isNaN(v[0])) {
        throw new InvalidInputException("corrupt input");
      }
      memory.asFloatBuffer().put(slot * v.length, v);
      return IN;
    }
  };

  private Embedder.Lane<float[]> lane(Function<Tensor, Tensor> forward) {
    return new Embedder.Lane<>("vectors", new long[] {IN}, ScalarType.Float, WRITER, forward, false, D, "cpu");
  }

  private float[] direct(float[] v) {
    try (Tensor x = fromFloats(v, 1, IN); Tensor y = head.apply(x)) {
      return toFloats(y);
    }
  }

  private static FloatBuffer directFloats(int n) {
    FloatBuffer b = ByteBuffer.allocateDirect(n * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    for (int i = 0; i < n; i++) {
      b.put(i, SENTINEL);
    }
    return b;
  }

  private static float[] row(FloatBuffer b, int offset) {
    float[] r = new float[D];
    b.get(offset, r);
    return r;
  }

  @Test
  void manyThreadsMixingArrayAndZeroCopyResultsGetTheSingleCallResultsBitwise() throws Exception {
    Random rng = new Random(11);
    int n = 600;
    List<float[]> inputs = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      inputs.add(randn(rng, IN, 1.0));
    }
    // One shared block for the FloatBuffer requests (disjoint rows), one byte block for the others.
    FloatBuffer floats = directFloats(n * D);
    ByteBuffer bytes = ByteBuffer.allocateDirect(n * D * 4).order(ByteOrder.nativeOrder());
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(8).withMaxDelay(Duration.ofMillis(2));
    AtomicInteger[] completions = new AtomicInteger[n];
    float[][] arrays = new float[n][];
    try (Embedder e = Embedder.create(cfg, List.of(lane(head::apply)))) {
      assertThat(e.outputDim("vectors")).isEqualTo(D);
      ExecutorService clients = Executors.newFixedThreadPool(16);
      try {
        List<Future<?>> calls = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          final int k = i;
          completions[k] = new AtomicInteger();
          calls.add(clients.submit(() -> {
            CompletableFuture<?> f;
            switch (k % 3) {
              case 0:
                f = e.<float[]>submit("vectors", inputs.get(k)).thenAccept(r -> arrays[k] = r);
                break;
              case 1:
                f = e.submitInto("vectors", inputs.get(k), floats.duplicate().position(k * D));
                break;
              default:
                f = e.submitInto("vectors", inputs.get(k), bytes.duplicate().order(ByteOrder.nativeOrder())
                    .position(k * D * 4));
                break;
            }
            f.whenComplete((v, ex) -> completions[k].incrementAndGet());
            return f.get(30, TimeUnit.SECONDS);
          }));
        }
        for (Future<?> c : calls) {
          c.get();
        }
      } finally {
        clients.shutdownNow();
      }
      assertThat(e.itemsRun()).isEqualTo(n);
      assertThat(e.batchesRun()).isLessThan(n);
      assertThat(e.pool().bytesInUse()).isZero();
    }
    FloatBuffer byteFloats = bytes.asFloatBuffer();
    for (int i = 0; i < n; i++) {
      float[] want = direct(inputs.get(i));
      assertThat(completions[i].get()).as("completions of %d", i).isEqualTo(1);
      switch (i % 3) {
        case 0:
          assertThat(arrays[i]).as("array %d", i).containsExactly(want);
          assertThat(row(floats, i * D)).as("untouched float rows").containsOnly(SENTINEL);
          break;
        case 1:
          assertThat(row(floats, i * D)).as("FloatBuffer %d", i).containsExactly(want);
          break;
        default:
          assertThat(row(byteFloats, i * D)).as("ByteBuffer %d", i).containsExactly(want);
          break;
      }
    }
  }

  @Test
  void bulkIntoWritesRowIAtPositionPlusIDAndNothingElse() throws Exception {
    Random rng = new Random(12);
    List<float[]> inputs = new ArrayList<>();
    for (int i = 0; i < 21; i++) {
      inputs.add(randn(rng, IN, 1.0));
    }
    inputs.get(7)[0] = Float.NaN; // one corrupt input: its row stays as it was
    int pos = 5;
    FloatBuffer dst = directFloats(pos + 21 * D + 3);
    dst.position(pos);
    ByteBuffer bytes = ByteBuffer.allocateDirect(3 + 21 * D * 4).order(ByteOrder.nativeOrder());
    bytes.position(3); // not float-aligned: still one copy per row, in native order
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(4).withMaxDelay(Duration.ofMillis(5));
    try (Embedder e = Embedder.create(cfg, List.of(lane(head::apply)))) {
      List<CompletableFuture<Void>> fs = e.submitAllInto("vectors", inputs, null, dst);
      List<CompletableFuture<Void>> bs = e.submitAllInto("vectors", inputs, null, bytes);
      for (int i = 0; i < inputs.size(); i++) {
        final int k = i;
        if (i == 7) {
          assertThatThrownBy(() -> fs.get(k).get(30, TimeUnit.SECONDS)).hasCauseInstanceOf(InvalidInputException.class);
          assertThatThrownBy(() -> bs.get(k).get(30, TimeUnit.SECONDS)).hasCauseInstanceOf(InvalidInputException.class);
        } else {
          assertThat(fs.get(i).get(30, TimeUnit.SECONDS)).isNull();
          assertThat(bs.get(i).get(30, TimeUnit.SECONDS)).isNull();
        }
      }
    }
    assertThat(dst.position()).as("the caller's position is not moved").isEqualTo(pos);
    assertThat(bytes.position()).isEqualTo(3);
    ByteBuffer shifted = bytes.duplicate().position(3).slice().order(ByteOrder.nativeOrder());
    for (int i = 0; i < inputs.size(); i++) {
      if (i == 7) {
        assertThat(row(dst, pos + i * D)).containsOnly(SENTINEL);
        for (int j = 0; j < D; j++) {
          assertThat(shifted.getFloat((i * D + j) * 4)).isZero(); // allocateDirect zeroes
        }
      } else {
        float[] want = direct(inputs.get(i));
        assertThat(row(dst, pos + i * D)).as("row %d", i).containsExactly(want);
        for (int j = 0; j < D; j++) {
          assertThat(shifted.getFloat((i * D + j) * 4)).isEqualTo(want[j]);
        }
      }
    }
    for (int i = 0; i < pos; i++) {
      assertThat(dst.get(i)).isEqualTo(SENTINEL);
    }
    for (int i = pos + 21 * D; i < dst.capacity(); i++) {
      assertThat(dst.get(i)).isEqualTo(SENTINEL);
    }
  }

  @Test
  void invalidBuffersAreRefusedWithTypedErrorsBeforeAnythingIsQueued() {
    float[] v = randn(new Random(13), IN, 1.0);
    try (Embedder e = Embedder.create(EmbedderConfig.defaults(), List.of(lane(head::apply)))) {
      List<Runnable> bad = List.of(
          () -> e.submitInto("vectors", v, FloatBuffer.allocate(D)), // heap
          () -> e.submitInto("vectors", v, ByteBuffer.allocate(4 * D).order(ByteOrder.nativeOrder())), // heap
          () -> e.submitInto("vectors", v, directFloats(D).asReadOnlyBuffer()),
          () -> e.submitInto("vectors", v, directFloats(D - 1)), // too small
          () -> e.submitInto("vectors", v, directFloats(D + 2).position(3)), // too small from its position
          () -> e.submitInto("vectors", v, ByteBuffer.allocateDirect(4 * D - 1).order(ByteOrder.nativeOrder())),
          () -> e.submitInto("vectors", v, ByteBuffer.allocateDirect(4 * D).order(
              ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN)),
          () -> e.submitInto("vectors", v, ByteBuffer.allocateDirect(4 * D).order(
              ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN)
              .asFloatBuffer()), // a non-native float view
          () -> e.submitAllInto("vectors", List.of(v, v, v), null, directFloats(3 * D - 1)));
      for (Runnable r : bad) {
        assertThatThrownBy(r::run).isInstanceOf(InvalidInputException.class)
            .satisfies(ex -> assertThat(((InvalidInputException) ex).code()).isEqualTo(ErrorCode.INVALID_ARGUMENT))
            .hasMessageContaining("dst");
      }
      assertThatThrownBy(() -> e.submitInto("vectors", v, (FloatBuffer) null)).isInstanceOf(NullPointerException.class);
      assertThat(e.queueDepth("vectors")).isZero();
      assertThat(e.itemsRun()).isZero();
      assertThat(e.pool().allocations()).isZero();
    }
    // A lane without a declared width cannot take zero-copy requests.
    Embedder.Lane<float[]> undeclared = new Embedder.Lane<>("vectors", new long[] {IN}, ScalarType.Float, WRITER,
        head::apply, false);
    try (Embedder e = Embedder.create(EmbedderConfig.defaults(), List.of(undeclared))) {
      assertThat(e.outputDim("vectors")).isZero();
      assertThatThrownBy(() -> e.submitInto("vectors", v, directFloats(D))).isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("output width");
    }
  }

  @Test
  void aForwardWhoseWidthDiffersFromTheDeclaredOneFailsWithoutWriting() throws Exception {
    float[] v = randn(new Random(14), IN, 1.0);
    Embedder.Lane<float[]> wrong = new Embedder.Lane<>("vectors", new long[] {IN}, ScalarType.Float, WRITER,
        head::apply, false, D + 1, "cpu");
    FloatBuffer dst = directFloats(D + 1);
    try (Embedder e = Embedder.create(EmbedderConfig.defaults().withMaxDelay(Duration.ZERO), List.of(wrong))) {
      CompletableFuture<Void> f = e.submitInto("vectors", v, dst);
      assertThatThrownBy(() -> f.get(30, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
          .hasMessageContaining("declares " + (D + 1));
      assertThat(e.pool().bytesInUse()).isZero();
    }
    for (int i = 0; i < D + 1; i++) {
      assertThat(dst.get(i)).isEqualTo(SENTINEL);
    }
  }

  @Test
  void cancelledAndExpiredZeroCopyRequestsNeverTouchTheirBuffer() throws Exception {
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger rows = new AtomicInteger();
    Function<Tensor, Tensor> blocking = t -> {
      entered.countDown();
      try {
        release.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException ex) {
        Thread.currentThread().interrupt();
      }
      rows.addAndGet((int) t.size(0));
      return head.apply(t);
    };
    float[] v = randn(new Random(15), IN, 1.0);
    FloatBuffer dst = directFloats(4 * D);
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(1).withMaxDelay(Duration.ZERO);
    try (Embedder e = Embedder.create(cfg, List.of(lane(blocking)))) {
      CompletableFuture<Void> first = e.submitInto("vectors", v, dst.duplicate().position(0));
      assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
      CompletableFuture<Void> cancelled = e.submitInto("vectors", v, dst.duplicate().position(D));
      CompletableFuture<Void> expired = e.submitInto("vectors", v, dst.duplicate().position(2 * D), Duration.ofMillis(1));
      CompletableFuture<Void> last = e.submitInto("vectors", v, dst.duplicate().position(3 * D));
      assertThat(cancelled.cancel(false)).isTrue();
      Thread.sleep(50); // past the deadline while the model is busy
      release.countDown();
      assertThat(first.get(30, TimeUnit.SECONDS)).isNull();
      assertThat(last.get(30, TimeUnit.SECONDS)).isNull();
      assertThatThrownBy(() -> cancelled.get()).isInstanceOf(CancellationException.class);
      assertThatThrownBy(() -> expired.get(30, TimeUnit.SECONDS)).hasCauseInstanceOf(TimeoutException.class);
      assertThat(rows.get()).isEqualTo(2);
    }
    float[] want = direct(v);
    assertThat(row(dst, 0)).containsExactly(want);
    assertThat(row(dst, D)).containsOnly(SENTINEL);
    assertThat(row(dst, 2 * D)).containsOnly(SENTINEL);
    assertThat(row(dst, 3 * D)).containsExactly(want);
  }

  @Test
  void closeDuringZeroCopyLoadCompletesEveryAcceptedRequestExactlyOnce() throws Exception {
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(4).withMaxDelay(Duration.ofMillis(1));
    Embedder e = Embedder.create(cfg, List.of(lane(head::apply)));
    int threads = 8;
    int perThread = 150;
    FloatBuffer dst = directFloats(threads * perThread * D);
    List<Integer> accepted = Collections.synchronizedList(new ArrayList<>());
    List<CompletableFuture<Void>> futures = Collections.synchronizedList(new ArrayList<>());
    AtomicInteger refused = new AtomicInteger();
    AtomicInteger completions = new AtomicInteger();
    float[] v = randn(new Random(16), IN, 1.0);
    ExecutorService clients = Executors.newFixedThreadPool(threads);
    for (int t = 0; t < threads; t++) {
      final int base = t * perThread;
      clients.submit(() -> {
        for (int i = 0; i < perThread; i++) {
          try {
            CompletableFuture<Void> f = e.submitInto("vectors", v, dst.duplicate().position((base + i) * D));
            f.whenComplete((x, ex) -> completions.incrementAndGet());
            futures.add(f);
            accepted.add(base + i);
          } catch (IllegalStateException ex) {
            refused.incrementAndGet();
          }
        }
      });
    }
    Thread.sleep(20);
    e.close();
    clients.shutdown();
    assertThat(clients.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
    for (CompletableFuture<Void> f : futures) {
      assertThat(f).isDone();
      assertThat(f.isCompletedExceptionally()).isFalse();
    }
    assertThat(completions.get()).isEqualTo(futures.size());
    assertThat(accepted.size() + refused.get()).isEqualTo(threads * perThread);
    float[] want = direct(v);
    java.util.Set<Integer> ok = new java.util.HashSet<>(accepted);
    for (int i = 0; i < threads * perThread; i++) {
      if (ok.contains(i)) {
        assertThat(row(dst, i * D)).as("row %d", i).containsExactly(want);
      } else {
        assertThat(row(dst, i * D)).as("refused row %d", i).containsOnly(SENTINEL);
      }
    }
  }

  @Test
  void aBufferReleasedByOneRequestIsNotWrittenAfterItsFutureIsDone() throws Exception {
    // The caller times the future out itself (orTimeout) while the batch waits: the row stays as it was.
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    Function<Tensor, Tensor> blocking = t -> {
      entered.countDown();
      try {
        release.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException ex) {
        Thread.currentThread().interrupt();
      }
      return head.apply(t);
    };
    float[] v = randn(new Random(17), IN, 1.0);
    FloatBuffer dst = directFloats(2 * D);
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(2).withMaxDelay(Duration.ofMillis(200));
    try (Embedder e = Embedder.create(cfg, List.of(lane(blocking)))) {
      CompletableFuture<Void> kept = e.submitInto("vectors", v, dst.duplicate().position(0));
      CompletableFuture<Void> dropped = e.submitInto("vectors", v, dst.duplicate().position(D));
      assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue(); // both in the running batch
      dropped.orTimeout(1, TimeUnit.MILLISECONDS);
      assertThatThrownBy(() -> dropped.get(30, TimeUnit.SECONDS)).hasCauseInstanceOf(TimeoutException.class);
      release.countDown();
      assertThat(kept.get(30, TimeUnit.SECONDS)).isNull();
    }
    assertThat(row(dst, 0)).containsExactly(direct(v));
    assertThat(row(dst, D)).containsOnly(SENTINEL);
  }

  @Test
  void theWritersGetThePooledMemoryOfTheirBatch() throws Exception {
    // The engine hands writers the buffer view the pool made for the tensor: same address.
    List<Long> seen = Collections.synchronizedList(new ArrayList<>());
    SlotWriter<float[]> probe = new SlotWriter<>() {
      @Override
      public int write(float[] v, Tensor batch, int slot) {
        throw new AssertionError("not called for CPU batches");
      }

      @Override
      public int write(float[] v, Tensor batch, ByteBuffer memory, int slot) {
        assertThat(memory.isDirect()).isTrue();
        assertThat(memory.order()).isEqualTo(ByteOrder.nativeOrder());
        assertThat(memory.capacity()).isEqualTo(batch.numel() * 4);
        seen.add(new FloatPointer(memory.asFloatBuffer()).address() - batch.data_ptr().address());
        return WRITER.write(v, batch, memory, slot);
      }
    };
    Embedder.Lane<float[]> l = new Embedder.Lane<>("vectors", new long[] {IN}, ScalarType.Float, probe, head::apply,
        false, D, "cpu");
    float[] v = randn(new Random(18), IN, 1.0);
    try (Embedder e = Embedder.create(EmbedderConfig.defaults().withMaxBatchSize(4), List.of(l))) {
      for (CompletableFuture<float[]> f : e.submitAll("vectors", List.of(v, v, v, v, v, v), null)) {
        assertThat(f.get(30, TimeUnit.SECONDS)).containsExactly(direct(v));
      }
    }
    assertThat(seen).hasSize(6).containsOnly(0L);
  }
}
