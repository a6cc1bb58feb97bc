package dev.clip4j.corpus;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.ImageSource;
import dev.clip4j.preprocess.DecodeOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Images through a {@link ClipEmbedder}: reader threads read each file once, hash those bytes
 * and submit the same bytes for decoding, so the recorded SHA-256 is of exactly what was
 * embedded. Does not own the embedder.
 */
final class ImageBackend implements Backend {
  private final ClipEmbedder embedder;
  private final long maxBytes;
  private final ExecutorService readers;
  private final String output;

  /** {@code output} names where the rows go, for messages ("a JSON-lines file (x.jsonl)"). */
  ImageBackend(ClipEmbedder embedder, DecodeOptions decode, int readerThreads, String output) {
    this.output = output;
    this.embedder = embedder;
    this.maxBytes = decode.maxInputBytes();
    AtomicInteger n = new AtomicInteger();
    this.readers = Executors.newFixedThreadPool(readerThreads, r -> {
      Thread t = new Thread(r, "clip4j-corpus-read-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  @Override
  public CompletableFuture<Embedded> submit(CorpusItem item) {
    if (item.error() != null) {
      return CompletableFuture.failedFuture(item.error());
    }
    if (item.name().toLowerCase(java.util.Locale.ROOT).endsWith(".npy")) {
      return CompletableFuture.failedFuture(new InvalidInputException(item.name()
          + ": .npy pixel tensors are embedded only into an .npy output (--out FILE.npy), not into " + output));
    }
    if (item.data() != null) { // a WebDataset member, already read (bounded) by the walk
      String sha = Hashes.sha256Hex(item.data());
      return embedder.embedImage(ImageSource.of(item.data(), item.name())).thenApply(row -> new Embedded(row, sha));
    }
    return CompletableFuture.supplyAsync(() -> read(item.path()), readers).thenCompose(bytes -> {
      String sha = Hashes.sha256Hex(bytes);
      return embedder.embedImage(ImageSource.of(bytes, item.name())).thenApply(row -> new Embedded(row, sha));
    });
  }

  private byte[] read(Path p) {
    // A FIFO named like an image would block the read forever: refuse special files first.
    dev.clip4j.internal.UserFiles.requireRegularFile(p, m -> new Clip4jException(ErrorCode.IO, m));
    try {
      long size = Files.size(p);
      if (size > maxBytes) {
        throw new InvalidInputException(p + ": file of " + size + " bytes exceeds the limit of " + maxBytes);
      }
      return Files.readAllBytes(p);
    } catch (NoSuchFileException e) {
      throw new Clip4jException(ErrorCode.IO, p + ": no such file");
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, p + ": cannot read the file: " + dev.clip4j.internal.UserFiles.describe(e), e);
    }
  }

  @Override
  public void close() {
    readers.shutdownNow();
  }
}
