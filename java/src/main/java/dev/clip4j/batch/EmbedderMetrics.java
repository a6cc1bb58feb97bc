package dev.clip4j.batch;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where the {@link Embedder} reports what it does. Micrometer is an optional dependency of
 * clip4j: {@link MicrometerMetrics} is the only class that touches it, loaded only when a caller
 * passes a {@code MeterRegistry}; without one nothing is recorded.
 */
interface EmbedderMetrics {
  /** No metrics. */
  EmbedderMetrics NONE = new EmbedderMetrics() {};

  /** A lane exists, with its queue. */
  default void lane(String lane, BlockingQueue<?> queue) {}

  /** The tensor pool and the item counter exist. */
  default void engine(TensorPool pool, AtomicLong items) {}

  /** One request of {@code lane} completed {@code nanos} after it was queued. */
  default void latency(String lane, long nanos) {}

  /** A batch of {@code size} ran on {@code lane}. */
  default void batch(String lane, int size) {}
}
