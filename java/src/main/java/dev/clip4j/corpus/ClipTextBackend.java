package dev.clip4j.corpus;

import dev.clip4j.batch.ClipEmbedder;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;

/**
 * Texts through a {@link ClipEmbedder}'s length-bucketed lanes (bitwise independent of the batch
 * neighbours). Does not own the embedder.
 */
final class ClipTextBackend implements Backend {
  private final ClipEmbedder embedder;

  ClipTextBackend(ClipEmbedder embedder) {
    this.embedder = embedder;
  }

  @Override
  public CompletableFuture<Embedded> submit(CorpusItem item) {
    if (item.error() != null) {
      return CompletableFuture.failedFuture(item.error());
    }
    String sha = Hashes.sha256Hex(item.text().getBytes(StandardCharsets.UTF_8));
    try {
      return embedder.embedText(item.text()).thenApply(row -> new Embedded(row, sha));
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e); // tokenizing happens on this thread
    }
  }

  @Override
  public void close() {}
}
