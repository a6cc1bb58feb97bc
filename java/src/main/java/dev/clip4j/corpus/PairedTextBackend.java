package dev.clip4j.corpus;

import dev.clip4j.InvalidInputException;
import dev.clip4j.text.st.PairedClip;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.Tensor;

/**
 * Texts through a sentence-transformers pipeline ({@link PairedClip#embedTexts}), run
 * synchronously on the job's thread in batches of up to {@code batchSize} consecutive items,
 * cut at shard ends. Padding makes a row depend (in the last bits) on its batch neighbours, so
 * the cut points are fixed by the item indices alone: a resumed job forms the same batches. A
 * batch that fails on an input is re-run one text at a time so only the bad text fails. Does
 * not own the model.
 */
final class PairedTextBackend implements Backend {
  private final PairedClip model;
  private final int batchSize;
  private final List<CorpusItem> items = new ArrayList<>();
  private final List<CompletableFuture<Embedded>> futures = new ArrayList<>();

  PairedTextBackend(PairedClip model, int batchSize) {
    this.model = model;
    this.batchSize = batchSize;
  }

  /** The job must keep more items in flight than this, or it would wait on an unrun batch. */
  int batchSize() {
    return batchSize;
  }

  @Override
  public CompletableFuture<Embedded> submit(CorpusItem item) {
    if (item.error() != null) {
      return CompletableFuture.failedFuture(item.error());
    }
    CompletableFuture<Embedded> f = new CompletableFuture<>();
    items.add(item);
    futures.add(f);
    if (items.size() == batchSize) {
      runBatch();
    }
    return f;
  }

  @Override
  public void endOfShard() {
    if (!items.isEmpty()) {
      runBatch();
    }
  }

  private void runBatch() {
    List<String> texts = new ArrayList<>(items.size());
    for (CorpusItem i : items) {
      texts.add(i.text());
    }
    try {
      float[][] rows = embed(texts);
      for (int i = 0; i < rows.length; i++) {
        futures.get(i).complete(new Embedded(rows[i], sha(items.get(i))));
      }
    } catch (InvalidInputException e) {
      for (int i = 0; i < texts.size(); i++) {
        try {
          futures.get(i).complete(new Embedded(embed(List.of(texts.get(i)))[0], sha(items.get(i))));
        } catch (RuntimeException one) {
          futures.get(i).completeExceptionally(one);
        }
      }
    } catch (RuntimeException | Error e) {
      for (CompletableFuture<Embedded> f : futures) {
        f.completeExceptionally(e);
      }
    } finally {
      items.clear();
      futures.clear();
    }
  }

  private static String sha(CorpusItem i) {
    return Hashes.sha256Hex(i.text().getBytes(StandardCharsets.UTF_8));
  }

  private float[][] embed(List<String> texts) {
    Tensor t = model.embedTexts(texts);
    try {
      Tensor c = t.cpu().contiguous();
      int n = (int) c.size(0);
      int d = (int) c.size(1);
      float[][] out = new float[n][d];
      FloatPointer p = c.data_ptr_float();
      for (int i = 0; i < n; i++) {
        p.position((long) i * d).get(out[i]);
      }
      c.close();
      return out;
    } finally {
      t.close();
    }
  }

  @Override
  public void close() {}
}
