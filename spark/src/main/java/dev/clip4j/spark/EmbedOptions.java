package dev.clip4j.spark;

import java.io.Serializable;

/**
 * Per-job settings of the Spark embedding, serializable into tasks.
 *
 * @param batchSize images/texts per forward pass (the executor's shared {@code ClipEmbedder})
 * @param device {@code auto} (the GPU that Spark's resource scheduling gives the task through
 *     {@code TaskContext.resources()}, else the CPU), {@code cpu}, {@code cuda} or {@code cuda:N}
 * @param prepThreads decode/preprocess threads of an executor's embedder; 0 = the executor's
 *     cores ({@code spark.executor.cores}, else the JVM's available processors)
 * @param maxInFlight most inputs one task holds in memory at once (read, queued or running);
 *     0 = 4 x batchSize
 * @param maxInputBytes largest image file or WebDataset member read; larger ones are error rows
 */
public record EmbedOptions(int batchSize, String device, int prepThreads, int maxInFlight, long maxInputBytes)
    implements Serializable {
  private static final long serialVersionUID = 1L;

  public EmbedOptions {
    if (batchSize < 1 || prepThreads < 0 || maxInFlight < 0) {
      throw new IllegalArgumentException("batchSize must be >= 1, prepThreads and maxInFlight >= 0");
    }
    if (maxInputBytes < 1 || maxInputBytes > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("maxInputBytes must be in [1, 2^31 - 9]");
    }
    java.util.Objects.requireNonNull(device, "device");
  }

  /** Batch 32, device auto, prep threads = executor cores, 4 x batch in flight, 256 MiB inputs. */
  public static EmbedOptions defaults() {
    return new EmbedOptions(32, "auto", 0, 0, dev.clip4j.preprocess.DecodeOptions.DEFAULT_MAX_INPUT_BYTES);
  }

  public EmbedOptions withBatchSize(int n) {
    return new EmbedOptions(n, device, prepThreads, maxInFlight, maxInputBytes);
  }

  public EmbedOptions withDevice(String d) {
    return new EmbedOptions(batchSize, d, prepThreads, maxInFlight, maxInputBytes);
  }

  public EmbedOptions withPrepThreads(int n) {
    return new EmbedOptions(batchSize, device, n, maxInFlight, maxInputBytes);
  }

  public EmbedOptions withMaxInFlight(int n) {
    return new EmbedOptions(batchSize, device, prepThreads, n, maxInputBytes);
  }

  public EmbedOptions withMaxInputBytes(long n) {
    return new EmbedOptions(batchSize, device, prepThreads, maxInFlight, n);
  }

  int window() {
    return maxInFlight > 0 ? maxInFlight : 4 * batchSize;
  }
}
