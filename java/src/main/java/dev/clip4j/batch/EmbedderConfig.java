package dev.clip4j.batch;

import java.time.Duration;
import java.util.Objects;

/**
 * Batching and admission settings of an {@link Embedder}.
 *
 * @param maxBatchSize most requests per forward pass
 * @param maxDelay longest a request waits for others to join its batch
 * @param queueCapacity requests waiting per kind (images, texts) before admission control acts
 * @param admissionTimeout how long a submit blocks for queue space; zero = reject at once with
 *     {@link dev.clip4j.OverloadedException}
 * @param prepThreads threads that preprocess/tokenize into batch slots
 * @param poolBytes cap of the pooled batch buffers
 * @param trimTexts cut text batches to their longest real sequence (exact for causal CLIP text
 *     towers pooled at EOT)
 */
public record EmbedderConfig(
    int maxBatchSize,
    Duration maxDelay,
    int queueCapacity,
    Duration admissionTimeout,
    int prepThreads,
    long poolBytes,
    boolean trimTexts) {

  public EmbedderConfig {
    Objects.requireNonNull(maxDelay, "maxDelay");
    Objects.requireNonNull(admissionTimeout, "admissionTimeout");
    if (maxBatchSize < 1 || queueCapacity < 1 || prepThreads < 1 || poolBytes < 1) {
      throw new IllegalArgumentException("maxBatchSize, queueCapacity, prepThreads and poolBytes must be >= 1");
    }
    if (maxDelay.isNegative() || admissionTimeout.isNegative()) {
      throw new IllegalArgumentException("durations must not be negative");
    }
  }

  /** 32 per batch, 5 ms delay, 4096 queued, block up to 30 s, 2 prep threads, 512 MiB pool, trimming on. */
  public static EmbedderConfig defaults() {
    return new EmbedderConfig(32, Duration.ofMillis(5), 4096, Duration.ofSeconds(30),
        Math.max(1, Runtime.getRuntime().availableProcessors()), 512L << 20, true);
  }

  public EmbedderConfig withMaxBatchSize(int n) {
    return new EmbedderConfig(n, maxDelay, queueCapacity, admissionTimeout, prepThreads, poolBytes, trimTexts);
  }

  public EmbedderConfig withMaxDelay(Duration d) {
    return new EmbedderConfig(maxBatchSize, d, queueCapacity, admissionTimeout, prepThreads, poolBytes, trimTexts);
  }

  public EmbedderConfig withQueueCapacity(int n) {
    return new EmbedderConfig(maxBatchSize, maxDelay, n, admissionTimeout, prepThreads, poolBytes, trimTexts);
  }

  public EmbedderConfig withAdmissionTimeout(Duration d) {
    return new EmbedderConfig(maxBatchSize, maxDelay, queueCapacity, d, prepThreads, poolBytes, trimTexts);
  }

  public EmbedderConfig withPrepThreads(int n) {
    return new EmbedderConfig(maxBatchSize, maxDelay, queueCapacity, admissionTimeout, n, poolBytes, trimTexts);
  }

  public EmbedderConfig withTrimTexts(boolean trim) {
    return new EmbedderConfig(maxBatchSize, maxDelay, queueCapacity, admissionTimeout, prepThreads, poolBytes, trim);
  }
}
