package dev.clip4j.corpus;

import java.util.concurrent.CompletableFuture;

/**
 * Turns corpus items into embeddings for a {@link CorpusJob}. The job submits items in index
 * order from one thread and calls {@link #endOfShard()} after the last item of each shard (and
 * at the end of the input), so a backend that batches on its own can cut its batches at
 * deterministic points.
 */
interface Backend extends AutoCloseable {

  /** An embedded item: its row (unit-norm, checked again by the job) and content hash. */
  record Embedded(float[] row, String sha256) {}

  /**
   * Starts embedding {@code item}; the future fails with a {@link dev.clip4j.Clip4jException}
   * when the item is bad. Never throws for a bad item.
   */
  CompletableFuture<Embedded> submit(CorpusItem item);

  /** Every submitted item may now be run (synchronous backends run their partial batch). */
  default void endOfShard() {}

  @Override
  void close();
}
