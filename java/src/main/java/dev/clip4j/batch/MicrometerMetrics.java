package dev.clip4j.batch;

import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The {@link Embedder}'s metrics on a Micrometer registry: {@code clip4j.embedder.queue.depth},
 * {@code .latency} (p50/p99), {@code .batch.size}, {@code .items}, and {@code
 * clip4j.pool.bytes.held}/{@code .in_use}, tagged by lane.
 */
final class MicrometerMetrics implements EmbedderMetrics {
  private final MeterRegistry registry;
  private final Map<String, Timer> latency = new ConcurrentHashMap<>();
  private final Map<String, DistributionSummary> batchSizes = new ConcurrentHashMap<>();

  MicrometerMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  @Override
  public void lane(String lane, BlockingQueue<?> queue) {
    Gauge.builder("clip4j.embedder.queue.depth", queue, BlockingQueue::size).tag("lane", lane).register(registry);
    latency.put(lane, Timer.builder("clip4j.embedder.latency").tag("lane", lane)
        .publishPercentiles(0.5, 0.99).register(registry));
    batchSizes.put(lane, DistributionSummary.builder("clip4j.embedder.batch.size").tag("lane", lane)
        .register(registry));
  }

  @Override
  public void engine(TensorPool pool, AtomicLong items) {
    Gauge.builder("clip4j.pool.bytes.held", pool, TensorPool::bytesHeld).register(registry);
    Gauge.builder("clip4j.pool.bytes.in_use", pool, TensorPool::bytesInUse).register(registry);
    FunctionCounter.builder("clip4j.embedder.items", items, AtomicLong::get).register(registry);
  }

  @Override
  public void latency(String lane, long nanos) {
    latency.get(lane).record(nanos, TimeUnit.NANOSECONDS);
  }

  @Override
  public void batch(String lane, int size) {
    batchSizes.get(lane).record(size);
  }
}
