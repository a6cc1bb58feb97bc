package dev.clip4j.batch;

import static dev.clip4j.testing.Tensors.fromFloats;
import static dev.clip4j.testing.Tensors.randn;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.Engine;
import dev.clip4j.InvalidInputException;
import dev.clip4j.OverloadedException;
import dev.clip4j.head.EmbeddingHead;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
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
 * The batching engine with a small deterministic "model": inputs are float vectors (written into
 * their slot), the forward is a fused head 16 -> 8. Per-row results do not depend on the batch,
 * so every result must equal the single-call result bitwise.
 */
class EmbedderTest {
  private static final int DIM = 16;
  private EmbeddingHead head;

  @BeforeEach
  void setUp() {
    Engine.ensureInitialized();
    head = EmbeddingHead.builder(fromFloats(randn(new Random(5), DIM * 8, 0.3), DIM, 8)).build();
  }

  @AfterEach
  void tearDown() {
    head.close();
  }

  /** Writes the vector; a vector starting with NaN is a "corrupt input". */
  private static final SlotWriter<float[]> WRITER = (v, batch, slot) -> {
    if (Float.isNaN(v[0])) {
      throw new InvalidInputException("corrupt input");
    }
    new FloatPointer(batch.select(0, slot).data_ptr()).put(v);
    return DIM;
  };

  private Embedder.Lane<float[]> lane(Function<Tensor, Tensor> forward) {
    return new Embedder.Lane<>("vectors", new long[] {DIM}, ScalarType.Float, WRITER, forward, false);
  }

  private float[] direct(float[] v) {
    return toFloats(head.apply(fromFloats(v, 1, DIM)));
  }

  @Test
  void concurrentCallersGetTheSingleCallResultsBitwise() throws Exception {
    Random rng = new Random(1);
    List<float[]> inputs = new ArrayList<>();
    for (int i = 0; i < 400; i++) {
      inputs.add(randn(rng, DIM, 1.0));
    }
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(8).withMaxDelay(Duration.ofMillis(2));
    try (Embedder e = Embedder.create(cfg, List.of(lane(head::apply)))) {
      ExecutorService clients = Executors.newFixedThreadPool(16);
      try {
        List<Future<float[]>> results = new ArrayList<>();
        for (float[] v : inputs) {
          results.add(clients.submit(() -> e.<float[]>submit("vectors", v).get(30, TimeUnit.SECONDS)));
        }
        for (int i = 0; i < inputs.size(); i++) {
          assertThat(results.get(i).get()).containsExactly(direct(inputs.get(i)));
        }
      } finally {
        clients.shutdownNow();
      }
      assertThat(e.itemsRun()).isEqualTo(400);
      assertThat(e.batchesRun()).isLessThan(400); // requests were coalesced
      assertThat(e.pool().allocations()).isLessThanOrEqualTo(3); // batch buffers are reused
      assertThat(e.pool().bytesInUse()).isZero();
    }
  }

  @Test
  void oneBadInputFailsOnlyItsOwnRequest() throws Exception {
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(16).withMaxDelay(Duration.ofMillis(50));
    try (Embedder e = Embedder.create(cfg, List.of(lane(head::apply)))) {
      Random rng = new Random(2);
      List<float[]> inputs = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        inputs.add(randn(rng, DIM, 1.0));
      }
      inputs.get(4)[0] = Float.NaN;
      List<CompletableFuture<float[]>> fs = e.submitAll("vectors", inputs, null);
      for (int i = 0; i < 10; i++) {
        if (i == 4) {
          final int k = i;
          assertThatThrownBy(() -> fs.get(k).get()).isInstanceOf(ExecutionException.class)
              .hasCauseInstanceOf(InvalidInputException.class);
        } else {
          assertThat(fs.get(i).get()).containsExactly(direct(inputs.get(i)));
        }
      }
    }
  }

  @Test
  void aNumericallyBadRowFailsOnlyItsOwnRequest() throws Exception {
    // The forward checks its output like ClipModel does: a zero input gives a zero row, which is
    // not unit-norm. Only that request may fail; its batch neighbours still get their rows.
    Function<Tensor, Tensor> checked = t -> {
      Tensor y = head.apply(t);
      dev.clip4j.internal.EmbeddingCheck.requireUnitRows(y, "test batch");
      return y;
    };
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(16).withMaxDelay(Duration.ofMillis(200));
    try (Embedder e = Embedder.create(cfg, List.of(lane(checked)))) {
      Random rng = new Random(3);
      List<float[]> inputs = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        inputs.add(randn(rng, DIM, 1.0));
      }
      inputs.set(6, new float[DIM]);
      List<CompletableFuture<float[]>> fs = e.submitAll("vectors", inputs, null);
      for (int i = 0; i < 10; i++) {
        if (i == 6) {
          final int k = i;
          assertThatThrownBy(() -> fs.get(k).get()).isInstanceOf(ExecutionException.class)
              .hasCauseInstanceOf(dev.clip4j.NumericalException.class);
        } else {
          assertThat(fs.get(i).get()).containsExactly(direct(inputs.get(i)));
        }
      }
      assertThat(e.batchesRun()).isLessThan(10); // they did share a batch
      assertThat(e.pool().bytesInUse()).isZero();
    }
  }

  @Test
  void fullQueueRejectsWithOverloadedWhenNotWaiting() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch entered = new CountDownLatch(1);
    Function<Tensor, Tensor> blocking = t -> {
      entered.countDown();
      try {
        release.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException ex) {
        Thread.currentThread().interrupt();
      }
      return head.apply(t);
    };
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(1).withMaxDelay(Duration.ZERO)
        .withQueueCapacity(2).withAdmissionTimeout(Duration.ZERO);
    try (Embedder e = Embedder.create(cfg, List.of(lane(blocking)))) {
      float[] v = randn(new Random(3), DIM, 1.0);
      List<CompletableFuture<float[]>> accepted = new ArrayList<>();
      accepted.add(e.submit("vectors", v));
      assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue(); // model thread busy with #1
      int rejected = 0;
      for (int i = 0; i < 10; i++) {
        try {
          accepted.add(e.submit("vectors", v));
        } catch (OverloadedException ex) {
          rejected++;
        }
      }
      // One batch may sit in the hand-off slot and one in the assembler; the queue holds 2.
      assertThat(rejected).isGreaterThanOrEqualTo(6);
      release.countDown();
      for (CompletableFuture<float[]> f : accepted) {
        assertThat(f.get(30, TimeUnit.SECONDS)).containsExactly(direct(v));
      }
    }
  }

  @Test
  void expiredRequestsAreNotRun() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger rows = new AtomicInteger();
    Function<Tensor, Tensor> slow = t -> {
      try {
        release.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException ex) {
        Thread.currentThread().interrupt();
      }
      rows.addAndGet((int) t.size(0));
      return head.apply(t);
    };
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(1).withMaxDelay(Duration.ZERO);
    try (Embedder e = Embedder.create(cfg, List.of(lane(slow)))) {
      float[] v = randn(new Random(4), DIM, 1.0);
      CompletableFuture<float[]> first = e.submit("vectors", v);
      CompletableFuture<float[]> second = e.submit("vectors", v); // prepared while #1 blocks
      CompletableFuture<float[]> late = e.submit("vectors", v, Duration.ofMillis(1));
      Thread.sleep(200);
      release.countDown();
      assertThat(first.get(30, TimeUnit.SECONDS)).containsExactly(direct(v));
      assertThat(second.get(30, TimeUnit.SECONDS)).containsExactly(direct(v));
      assertThatThrownBy(() -> late.get(30, TimeUnit.SECONDS)).hasCauseInstanceOf(TimeoutException.class);
      assertThat(rows.get()).isEqualTo(2);
    }
  }

  @Test
  void closeDuringLoadCompletesEveryAcceptedRequestExactlyOnce() throws Exception {
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(4).withMaxDelay(Duration.ofMillis(1));
    Embedder e = Embedder.create(cfg, List.of(lane(head::apply)));
    List<CompletableFuture<float[]>> accepted = java.util.Collections.synchronizedList(new ArrayList<>());
    AtomicInteger refused = new AtomicInteger();
    ExecutorService clients = Executors.newFixedThreadPool(8);
    Random rng = new Random(6);
    float[] v = randn(rng, DIM, 1.0);
    for (int t = 0; t < 8; t++) {
      clients.submit(() -> {
        for (int i = 0; i < 200; i++) {
          try {
            accepted.add(e.submit("vectors", v));
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
    float[] want = direct(v);
    for (CompletableFuture<float[]> f : accepted) {
      assertThat(f).isDone();
      assertThat(f.isCompletedExceptionally()).isFalse(); // accepted work is drained, not dropped
      assertThat(f.get()).containsExactly(want);
    }
    assertThat(accepted.size() + refused.get()).isEqualTo(1600);
    assertThatThrownBy(() -> e.submit("vectors", v)).isInstanceOf(IllegalStateException.class);
    e.close(); // idempotent
  }

  @Test
  void trimmingCutsBatchesToTheLongestRealSequence() throws Exception {
    List<Long> widths = java.util.Collections.synchronizedList(new ArrayList<>());
    SlotWriter<Integer> writer = (len, batch, slot) -> {
      Tensor row = batch.select(0, slot);
      row.zero_();
      row.narrow(0, 0, len).fill_(new org.bytedeco.pytorch.Scalar(1.0));
      return len;
    };
    Function<Tensor, Tensor> forward = t -> {
      widths.add(t.size(1));
      // features: the sum of each row padded to DIM columns
      Tensor sums = t.sum(new long[] {1}, true, new org.bytedeco.pytorch.ScalarTypeOptional());
      return sums.expand(new long[] {t.size(0), 8}).contiguous();
    };
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(4).withMaxDelay(Duration.ofMillis(100));
    Embedder.Lane<Integer> l = new Embedder.Lane<>("texts", new long[] {77}, ScalarType.Float, writer, forward, true);
    try (Embedder e = Embedder.create(cfg, List.of(l))) {
      List<CompletableFuture<float[]>> fs = e.submitAll("texts", List.of(3, 9, 5, 2), null);
      for (int i = 0; i < 4; i++) {
        assertThat(fs.get(i).get(30, TimeUnit.SECONDS)[0]).isEqualTo(new float[] {3, 9, 5, 2}[i]);
      }
      assertThat(widths).containsExactly(9L);
    }
  }

  @Test
  void metricsArePublishedToASuppliedRegistry() throws Exception {
    io.micrometer.core.instrument.simple.SimpleMeterRegistry reg = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(4).withMaxDelay(Duration.ofMillis(20));
    try (Embedder e = Embedder.create(cfg, List.of(lane(head::apply)), reg)) {
      Random rng = new Random(8);
      List<float[]> in = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        in.add(randn(rng, DIM, 1.0));
      }
      for (CompletableFuture<float[]> f : e.submitAll("vectors", in, null)) {
        f.get(30, TimeUnit.SECONDS);
      }
      assertThat(reg.get("clip4j.embedder.items").functionCounter().count()).isEqualTo(8.0);
      assertThat(reg.get("clip4j.embedder.latency").tag("lane", "vectors").timer().count()).isEqualTo(8);
      assertThat(reg.get("clip4j.embedder.batch.size").summary().totalAmount()).isEqualTo(8.0);
      assertThat(reg.get("clip4j.pool.bytes.held").gauge().value()).isGreaterThan(0);
      assertThat(reg.get("clip4j.embedder.queue.depth").gauge().value()).isZero();
    }
  }
  /**
   * One CUDA transfer state per physical device: "cuda" means the current device, so with device 0
   * current it is the same key as "cuda:0" (two keys used to give one device two streams, and a
   * lane then synchronised the idle one and read rows before their copy landed).
   */
  @Test
  void cudaTransferStateIsKeyedByTheCanonicalDevice() {
    assertThat(Embedder.transferKey("cuda", () -> 0)).isEqualTo("cuda:0");
    assertThat(Embedder.transferKey("cuda:0", () -> 0)).isEqualTo("cuda:0");
    assertThat(Embedder.transferKey("cuda", () -> 1)).isEqualTo("cuda:1");
    assertThat(Embedder.transferKey("cuda:0", () -> 1)).isEqualTo("cuda:0");
    assertThatThrownBy(() -> Embedder.transferKey("cuda:x", () -> 0)).isInstanceOf(IllegalArgumentException.class);
    try (Embedder e = Embedder.create(EmbedderConfig.defaults(), List.of(lane(head::apply)))) {
      assertThat(e.submit("vectors", randn(new Random(2), DIM, 1.0)).join()).hasSize(8);
      assertThat(e.transferKeys()).as("CPU lanes never create CUDA state").isEmpty();
    }
  }

  /** A CUDA lane on a host without CUDA: one typed DEVICE error when the embedder is made, not per request. */
  @Test
  void aCudaLaneWithoutCudaIsATypedDeviceErrorAtCreation() {
    org.junit.jupiter.api.Assumptions.assumeFalse(org.bytedeco.pytorch.global.torch.cuda_is_available(),
        "a CUDA host: EmbedderGpuTest covers CUDA lanes there");
    for (String device : new String[] {"cuda", "cuda:0", "cuda:3"}) {
      Embedder.Lane<float[]> l = new Embedder.Lane<>("vectors", new long[] {DIM}, ScalarType.Float, WRITER,
          head::apply, false, 8, device);
      assertThatThrownBy(() -> Embedder.create(EmbedderConfig.defaults(), List.of(l))).as(device)
          .isInstanceOfSatisfying(dev.clip4j.DeviceException.class,
              e -> assertThat(e.code()).isEqualTo(dev.clip4j.ErrorCode.DEVICE))
          .hasMessageContaining("device '" + device + "' is not available on this host")
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }
  }
}
