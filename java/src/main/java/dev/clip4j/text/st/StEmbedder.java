package dev.clip4j.text.st;

import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.batch.Embedder;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.batch.SlotWriter;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A {@link SentenceTransformerPipeline} behind the micro-batching {@link Embedder}: concurrent
 * callers' texts are coalesced into batches, each padded to its longest real sequence (the batch
 * is cut there; the attention mask hides the padding), and results come back as {@code float[]}
 * or are written straight into a caller's direct buffer (the {@code ...Into} methods, with the
 * ownership rules of {@link Embedder#submitInto(String, Object, FloatBuffer)}).
 *
 * <p>Texts are tokenized on the caller's thread (truncated to the pipeline's {@code
 * max_seq_length}); bulk calls enqueue them shortest first so batches hold similar lengths.
 * Because the encoder is bidirectional, a row's value depends on its batch's padding only through
 * masked positions: results equal the per-call {@link SentenceTransformerPipeline#embed} rows to
 * float rounding (within 1e-6), not bit for bit. Rows are what the pipeline returns (unit-norm
 * when it ends in a Normalize module).
 *
 * <pre>{@code
 * try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(dir);
 *     StEmbedder e = StEmbedder.create(p, EmbedderConfig.defaults())) {
 *   float[] v = e.embedText("eine Katze").join();
 * }
 * }</pre>
 *
 * <p>The embedder does not own the pipeline: close the embedder first. Thread safety: all
 * methods are thread-safe.
 */
public final class StEmbedder implements AutoCloseable {
  /** The lane name (for {@link #engine()}). */
  public static final String TEXTS = "st-texts";

  private final SentenceTransformerPipeline pipeline;
  private final Embedder embedder;
  private final int maxLength;
  private final int dim;

  private StEmbedder(SentenceTransformerPipeline pipeline, Embedder embedder, int maxLength, int dim) {
    this.pipeline = pipeline;
    this.embedder = embedder;
    this.maxLength = maxLength;
    this.dim = dim;
  }

  /** An embedder over {@code pipeline}; null {@code registry} = no metrics. */
  public static StEmbedder create(SentenceTransformerPipeline pipeline, EmbedderConfig config, MeterRegistry registry) {
    Objects.requireNonNull(pipeline, "pipeline");
    Objects.requireNonNull(config, "config");
    int maxLength = pipeline.tokenizer().maxLength();
    int dim = Math.toIntExact(pipeline.outputDim());
    long padId = pipeline.padId();
    // A slot holds [ids; mask] for one text: [2, maxLength] int64, padded, trimmed per batch.
    SlotWriter<long[]> writer = new SlotWriter<>() {
      @Override
      public int write(long[] ids, Tensor batch, int slot) {
        throw new IllegalStateException("st lanes run on host batches"); // the engine passes the memory
      }

      @Override
      public int write(long[] ids, Tensor batch, ByteBuffer memory, int slot) {
        LongBuffer rows = memory.asLongBuffer();
        int base = Math.multiplyExact(slot, 2 * maxLength);
        for (int j = 0; j < maxLength; j++) {
          boolean real = j < ids.length;
          rows.put(base + j, real ? ids[j] : padId);
          rows.put(base + maxLength + j, real ? 1L : 0L);
        }
        return ids.length;
      }
    };
    java.util.function.Function<Tensor, Tensor> forward = t -> {
      try (Tensor idsView = t.select(1, 0);
          Tensor maskView = t.select(1, 1);
          Tensor ids = idsView.contiguous();
          Tensor mask = maskView.contiguous()) {
        return pipeline.embedTokens(ids, mask);
      }
    };
    Embedder.Lane<long[]> lane = new Embedder.Lane<>(TEXTS, new long[] {2, maxLength}, ScalarType.Long, writer,
        forward, true, dim, pipeline.device());
    return new StEmbedder(pipeline, Embedder.create(config, List.of(lane), registry), maxLength, dim);
  }

  /** Same, without metrics. */
  public static StEmbedder create(SentenceTransformerPipeline pipeline, EmbedderConfig config) {
    return create(pipeline, config, null);
  }

  /** Token ids of one text (special tokens included, truncated), checked against the vocabulary. */
  private long[] tokenize(String text) {
    Objects.requireNonNull(text, "text");
    long[] ids = pipeline.tokenizer().ids(text);
    if (ids.length == 0 || ids.length > maxLength) {
      throw new InvalidInputException("the tokenizer produced " + ids.length + " ids for a text; expected 1.."
          + maxLength);
    }
    int vocab = pipeline.vocab();
    for (long id : ids) {
      if (id < 0 || id >= vocab) {
        throw new InvalidModelException("the tokenizer produced id " + id + " outside the encoder's vocabulary of "
            + vocab);
      }
    }
    return ids;
  }

  /** Embedding width D. */
  public int embedDim() {
    return dim;
  }

  /** Embeds one text. */
  public CompletableFuture<float[]> embedText(String text) {
    return embedder.submit(TEXTS, tokenize(text));
  }

  /** Embeds one text, failing with a TimeoutException if not run within {@code deadline}. */
  public CompletableFuture<float[]> embedText(String text, Duration deadline) {
    return embedder.submit(TEXTS, tokenize(text), deadline);
  }

  /** Embeds many texts, enqueued shortest first; results in input order. */
  public List<CompletableFuture<float[]>> embedTexts(List<String> texts) {
    return embedder.submitAll(TEXTS, tokenizeAll(texts), Comparator.comparingInt(ids -> ids.length));
  }

  /** Embeds one text into {@code dst} (D floats at its position; see the class notes on ownership). */
  public CompletableFuture<Void> embedTextInto(String text, FloatBuffer dst) {
    return embedder.submitInto(TEXTS, tokenize(text), dst);
  }

  /** {@link #embedTextInto(String, FloatBuffer)} into native-order bytes. */
  public CompletableFuture<Void> embedTextInto(String text, ByteBuffer dst) {
    return embedder.submitInto(TEXTS, tokenize(text), dst);
  }

  /** Embeds many texts into {@code dst}: text {@code i} at {@code position + i * D}. */
  public List<CompletableFuture<Void>> embedTextsInto(List<String> texts, FloatBuffer dst) {
    return embedder.submitAllInto(TEXTS, tokenizeAll(texts), Comparator.comparingInt(ids -> ids.length), dst);
  }

  /** {@link #embedTextsInto(List, FloatBuffer)} into native-order bytes. */
  public List<CompletableFuture<Void>> embedTextsInto(List<String> texts, ByteBuffer dst) {
    return embedder.submitAllInto(TEXTS, tokenizeAll(texts), Comparator.comparingInt(ids -> ids.length), dst);
  }

  private List<long[]> tokenizeAll(List<String> texts) {
    List<long[]> out = new ArrayList<>(texts.size());
    for (String t : texts) {
      out.add(tokenize(t));
    }
    return out;
  }

  /** The underlying engine (queue depth, pool, counters). */
  public Embedder engine() {
    return embedder;
  }

  /** Stops admission, completes accepted requests, stops the threads. The pipeline stays open. */
  @Override
  public void close() {
    embedder.close();
  }
}
