package dev.clip4j.batch;

import dev.clip4j.model.ClipModel;
import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.ImagePreprocessor;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.tokenize.ClipTokenizer;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The micro-batching {@link Embedder} wired to a {@link ClipModel}: an image lane (decode +
 * PIL-exact preprocessing into pooled [B, 3, S, S] batches) and text lanes by length bucket.
 *
 * <p>Texts are tokenized on submission and routed to the smallest bucket (8, 16, 24, 32, 48, 64
 * positions, then the context length) that holds them; each bucket batches its texts at that
 * length. Cutting a causal CLIP text tower's input after EOT is exact (the pooled EOT position
 * never attends to the padding), and because a text is always run at its bucket's length, its
 * embedding does not depend on which other requests share its batch: bit for bit the same under
 * any concurrency. With trimming off every text runs at the full context length. Results are
 * unit-norm {@code float[]} embeddings.
 *
 * <pre>{@code
 * try (ClipModel model = ClipModel.load(dir);
 *     ClipEmbedder embedder = ClipEmbedder.create(model, tokenizer, preprocessConfig, EmbedderConfig.defaults())) {
 *   CompletableFuture<float[]> v = embedder.embedText("a photo of a cat");
 * }
 * }</pre>
 *
 * <p>The embedder does not own the model: close the embedder first. Thread safety: all methods
 * are thread-safe.
 */
public final class ClipEmbedder implements AutoCloseable {
  /** Lane names. */
  public static final String IMAGES = "images";
  public static final String TEXTS = "texts";
  private static final int[] BUCKETS = {8, 16, 24, 32, 48, 64};

  private final Embedder embedder;
  private final ClipModel model;
  private final ClipTokenizer tokenizer;
  private final int[] buckets;

  private ClipEmbedder(Embedder embedder, ClipModel model, ClipTokenizer tokenizer, int[] buckets) {
    this.embedder = embedder;
    this.model = model;
    this.tokenizer = tokenizer;
    this.buckets = buckets;
  }

  private static int[] buckets(int ctx, boolean trim) {
    if (!trim) {
      return new int[] {ctx};
    }
    return java.util.stream.IntStream.concat(java.util.Arrays.stream(BUCKETS).filter(b -> b < ctx),
        java.util.stream.IntStream.of(ctx)).toArray();
  }

  /** Copies pre-tokenized ids into a slot of a [B, L] batch. */
  private static final SlotWriter<long[]> IDS = (ids, batch, slot) -> {
    new org.bytedeco.javacpp.LongPointer(batch.data_ptr()).position((long) slot * ids.length).put(ids);
    return ids.length;
  };

  /** An embedder for {@code model}; null {@code registry} = no metrics. */
  public static ClipEmbedder create(ClipModel model, ClipTokenizer tokenizer, PreprocessConfig preprocess,
      EmbedderConfig config, MeterRegistry registry) {
    Objects.requireNonNull(model, "model");
    int s = model.info().imageSize();
    if (preprocess.imageSize() != s) {
      throw new IllegalArgumentException("preprocessing makes " + preprocess.imageSize() + "px images, the model takes " + s);
    }
    List<Embedder.Lane<?>> lanes = new ArrayList<>();
    lanes.add(new Embedder.Lane<>(IMAGES, new long[] {3, s, s}, ScalarType.Float,
        new ImageSlotWriter(new ImagePreprocessor(preprocess), DecodeOptions.defaults()), model::embedImages, false));
    int[] buckets = buckets(model.info().contextLength(), config.trimTexts());
    for (int b : buckets) {
      lanes.add(new Embedder.Lane<>(TEXTS + "-" + b, new long[] {b}, ScalarType.Long, IDS, model::embedTexts, false));
    }
    return new ClipEmbedder(Embedder.create(config, lanes, registry), model, tokenizer, buckets);
  }

  /** Same, without metrics. */
  public static ClipEmbedder create(ClipModel model, ClipTokenizer tokenizer, PreprocessConfig preprocess, EmbedderConfig config) {
    return create(model, tokenizer, preprocess, config, null);
  }

  /** Embeds one image. */
  public CompletableFuture<float[]> embedImage(ImageSource image) {
    return embedder.submit(IMAGES, image);
  }

  /** Embeds one image file. */
  public CompletableFuture<float[]> embedImage(Path file) {
    return embedImage(ImageSource.of(file));
  }

  /** Embeds one text. */
  public CompletableFuture<float[]> embedText(String text) {
    return embedText(text, null);
  }

  /**
   * Embeds one text, failing with a TimeoutException if not run within {@code deadline} (null =
   * none). Tokenizing happens here, on the caller's thread, to pick the length bucket.
   */
  public CompletableFuture<float[]> embedText(String text, Duration deadline) {
    int ctx = model.info().contextLength();
    long[] row = new long[ctx];
    int n = tokenizer.tokenizeInto(text, ctx, row, 0);
    int bucket = buckets[buckets.length - 1];
    for (int b : buckets) {
      if (n <= b) {
        bucket = b;
        break;
      }
    }
    long[] ids = java.util.Arrays.copyOf(row, bucket);
    String lane = TEXTS + "-" + bucket;
    return deadline == null ? embedder.submit(lane, ids) : embedder.submit(lane, ids, deadline);
  }

  /** Embeds many images; results in input order. */
  public List<CompletableFuture<float[]>> embedImages(List<ImageSource> images) {
    return embedder.submitAll(IMAGES, images, null);
  }

  /** Embeds many texts; results in input order. */
  public List<CompletableFuture<float[]>> embedTexts(List<String> texts) {
    List<CompletableFuture<float[]>> out = new ArrayList<>(texts.size());
    for (String t : texts) {
      out.add(embedText(t));
    }
    return out;
  }

  /**
   * Runs the model once per batch size in {@code batchSizes} for both towers, so the first real
   * requests do not pay LibTorch's first-call costs at those shapes.
   */
  public void warmUp(int... batchSizes) {
    int s = model.info().imageSize();
    int ctx = model.info().contextLength();
    for (int b : batchSizes) {
      model.embedImages(torch.zeros(b, 3, s, s));
      for (int len : buckets) {
        model.embedTexts(torch.zeros(new long[] {b, len}, new org.bytedeco.pytorch.TensorOptions(ScalarType.Long)));
      }
    }
  }

  /** The underlying engine (queue depths, pool, counters). */
  public Embedder engine() {
    return embedder;
  }

  /** Stops admission, completes accepted requests, stops the threads. The model stays open. */
  @Override
  public void close() {
    embedder.close();
  }
}
