package dev.clip4j.batch;

import dev.clip4j.model.ClipModel;
import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.ImagePreprocessor;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.tokenize.TextTokenizer;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
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
 * the model's PIL-exact preprocessing into pooled [B, 3, S, S] batches) when the model has an
 * image tower, and text lanes when it has a text tower, tokenized with the model's own tokenizer.
 *
 * <p>Texts are tokenized on submission. For CLIP's causal text towers they are routed to the
 * smallest bucket (8, 16, 24, 32, 48, 64 positions, then the context length) that holds them;
 * each bucket batches its texts at that length. Cutting a causal CLIP text tower's input after
 * EOT is exact (the pooled EOT position never attends to the padding), and because a text is
 * always run at its bucket's length, its embedding does not depend on which other requests share
 * its batch: bit for bit the same under any concurrency. With trimming off every text runs at the
 * full context length. Towers that need an attention mask (sentence-transformers models) get one
 * lane whose slots carry ids and mask; the model runs each of their rows on its own, so they are
 * batch-independent too. Results are unit-norm {@code float[]} embeddings, or, with the {@code
 * ...Into} methods, D floats written straight into a caller's direct {@link FloatBuffer}/{@link
 * ByteBuffer} (one bulk copy per row, no array; row {@code i} of a bulk call at {@code position + i
 * * D}), bit for bit the same values.
 *
 * <pre>{@code
 * try (ClipModel model = ClipModel.load(dir);
 *     ClipEmbedder embedder = ClipEmbedder.create(model)) {
 *   embedder.warmUp();                                            // batch sizes 1 and maxBatchSize
 *   CompletableFuture<float[]> v = embedder.embedText("a photo of a cat");
 *   FloatBuffer rows = ByteBuffer.allocateDirect(files.size() * embedder.embedDim() * 4)
 *       .order(ByteOrder.nativeOrder()).asFloatBuffer();
 *   CompletableFuture.allOf(embedder.embedImagesInto(files, rows).toArray(CompletableFuture[]::new)).join();
 * }
 * }</pre>
 *
 * <p>Buffer ownership for the {@code ...Into} methods: the embedder keeps a reference to the
 * buffer until each future is done and writes only that request's D floats; the caller must not
 * read, reuse or free that region before then. Once a future is done in any way (completed,
 * failed, timed out, cancelled) nothing more is written into its region. A failed request leaves
 * its region as it was.
 *
 * <p>The embedder does not own the model: close the embedder first. Requests for a tower the
 * model does not have fail with {@link dev.clip4j.Clip4jException} UNSUPPORTED. Thread safety: all
 * methods are thread-safe.
 */
public final class ClipEmbedder implements AutoCloseable {
  /** Lane names. */
  public static final String IMAGES = "images";
  public static final String TEXTS = "texts";
  private static final int[] BUCKETS = {8, 16, 24, 32, 48, 64};

  private final Embedder embedder;
  private final ClipModel model;
  private final TextTokenizer tokenizer; // null without a text tower
  private final int[] buckets;           // causal towers; null for masked ones
  private final EmbedderConfig config;

  private ClipEmbedder(Embedder embedder, ClipModel model, TextTokenizer tokenizer, int[] buckets,
      EmbedderConfig config) {
    this.config = config;
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

  /** Copies pre-tokenized ids into a slot of a [B, L] batch: one bulk put into the pooled memory. */
  private static final SlotWriter<long[]> IDS = new SlotWriter<>() {
    @Override
    public int write(long[] ids, Tensor batch, int slot) {
      requireLength(ids, batch);
      try (Tensor row = batch.select(0, slot)) {
        dev.clip4j.internal.HostTensors.longs(row, "token id slot").put(ids);
      }
      return ids.length;
    }

    @Override
    public int write(long[] ids, Tensor batch, ByteBuffer batchMemory, int slot) {
      if (batchMemory == null) {
        return write(ids, batch, slot);
      }
      requireLength(ids, batch);
      batchMemory.asLongBuffer().put(Math.multiplyExact(slot, ids.length), ids);
      return ids.length;
    }
  };

  /** A text lane's ids must fill exactly its bucket's width (a longer row would spill into the next slot). */
  private static void requireLength(long[] ids, Tensor batch) {
    if (ids.length != batch.size(1)) {
      throw new dev.clip4j.InvalidInputException("token ids for this lane must have " + batch.size(1)
          + " positions, got " + ids.length);
    }
  }

  /**
   * Writes a masked text into a [B, 2, L] slot: row 0 the ids padded with the pad id, row 1 the
   * attention mask; returns the real length (the lane trims batches to the longest).
   */
  private static SlotWriter<long[]> maskedIds(int maxLength, long padId) {
    return new SlotWriter<>() {
      @Override
      public int write(long[] ids, Tensor batch, int slot) {
        try (Tensor row = batch.select(0, slot)) { // a contiguous [2, L] slot of the pooled batch
          dev.clip4j.internal.HostTensors.longs(row, "token id slot").put(slotRow(ids));
        }
        return ids.length;
      }

      @Override
      public int write(long[] ids, Tensor batch, ByteBuffer memory, int slot) {
        if (memory == null) {
          return write(ids, batch, slot);
        }
        memory.asLongBuffer().put(Math.multiplyExact(slot, 2 * maxLength), slotRow(ids));
        return ids.length;
      }

      private long[] slotRow(long[] ids) {
        if (ids.length < 1 || ids.length > maxLength) {
          throw new dev.clip4j.InvalidInputException("a text has " + ids.length + " ids; expected 1.." + maxLength);
        }
        long[] both = new long[2 * maxLength];
        for (int j = 0; j < maxLength; j++) {
          boolean real = j < ids.length;
          both[j] = real ? ids[j] : padId;
          both[maxLength + j] = real ? 1L : 0L;
        }
        return both;
      }
    };
  }

  /**
   * An embedder for {@code model} with the default configuration ({@link EmbedderConfig#defaults()}).
   *
   * @throws IllegalStateException if the model is closed
   */
  public static ClipEmbedder create(ClipModel model) {
    return create(model, EmbedderConfig.defaults());
  }

  /** An embedder for {@code model}; see {@link #create(ClipModel, EmbedderConfig, MeterRegistry)}. */
  public static ClipEmbedder create(ClipModel model, EmbedderConfig config) {
    return build(model, config, lanes -> Embedder.create(config, lanes));
  }

  /**
   * An embedder for {@code model}, using the model's own tokenizer and preprocessing; null {@code
   * registry} = no metrics.
   *
   * @throws IllegalStateException if the model is closed
   */
  public static ClipEmbedder create(ClipModel model, EmbedderConfig config, MeterRegistry registry) {
    return build(model, config, lanes -> Embedder.create(config, lanes, registry));
  }

  /** The lanes of {@code model}, run by the engine {@code engine} makes (with or without metrics). */
  private static ClipEmbedder build(ClipModel model, EmbedderConfig config,
      java.util.function.Function<List<Embedder.Lane<?>>, Embedder> engine) {
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(config, "config");
    if (model.isClosed()) {
      throw new IllegalStateException("the model is closed");
    }
    List<Embedder.Lane<?>> lanes = new ArrayList<>();
    int dim = Math.toIntExact(model.embedDim());
    String device = model.info().device();
    if (model.hasImageTower()) {
      PreprocessConfig preprocess = model.preprocessConfig();
      int s = preprocess.imageSize();
      // The rows are checked on the host, where the embedder reads them anyway: no device read for it.
      lanes.add(new Embedder.Lane<>(IMAGES, new long[] {3, s, s}, ScalarType.Float,
          new ImageSlotWriter(new ImagePreprocessor(preprocess), DecodeOptions.defaults()),
          (batch, host) -> model.embedImagesForBatch(batch), false, dim, device, true));
    }
    TextTokenizer tokenizer = null;
    int[] buckets = null;
    if (model.hasTextTower()) {
      tokenizer = model.tokenizer();
      int ctx = tokenizer.maxLength();
      if (model.causalText()) {
        buckets = buckets(ctx, config.trimTexts());
        for (int b : buckets) {
          // Ids range-checked on the host batch before the device sees them; rows checked on the host.
          lanes.add(new Embedder.Lane<>(TEXTS + "-" + b, new long[] {b}, ScalarType.Long, IDS,
              (batch, host) -> model.embedTextsForBatch(batch, null, host), false, dim, device, true));
        }
      } else {
        Embedder.BatchForward forward = (t, host) -> {
          try (Tensor idsView = t.select(1, 0);
              Tensor maskView = t.select(1, 1);
              Tensor ids = idsView.contiguous();
              Tensor mask = maskView.contiguous();
              Tensor hostIdsView = host.select(1, 0);
              Tensor hostIds = hostIdsView.contiguous()) {
            return model.embedTextsForBatch(ids, mask, hostIds);
          }
        };
        lanes.add(new Embedder.Lane<>(TEXTS, new long[] {2, ctx}, ScalarType.Long,
            maskedIds(ctx, tokenizer.padId()), forward, true, dim, device, true));
      }
    }
    return new ClipEmbedder(engine.apply(lanes), model, tokenizer, buckets, config);
  }

  /** Embeds one image. */
  public CompletableFuture<float[]> embedImage(ImageSource image) {
    requireImages();
    return embedder.submit(IMAGES, image);
  }

  private void requireImages() {
    if (!model.hasImageTower()) {
      throw new dev.clip4j.Clip4jException(dev.clip4j.ErrorCode.UNSUPPORTED, model.info().architecture()
          + " has no image tower: it embeds texts only");
    }
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
    return embedText(tokenize(text), deadline);
  }

  /**
   * A text tokenized by this embedder's tokenizer, ready for its lanes: {@link #tokenCount()} ids
   * (special tokens included, after truncation), embedded by {@link #embedText(TokenizedText,
   * Duration)}. For callers that need the count too (an HTTP server's {@code usage}) without
   * tokenizing twice. Immutable; only the embedder that made it takes it.
   */
  public static final class TokenizedText {
    private final ClipEmbedder owner;
    private final long[] row; // as its lane takes it: cut and padded to its bucket, or the real ids
    private final int tokens;

    private TokenizedText(ClipEmbedder owner, long[] row, int tokens) {
      this.owner = owner;
      this.row = row;
      this.tokens = tokens;
    }

    /** The ids the text became, special tokens included, after truncation (padding not counted). */
    public int tokenCount() {
      return tokens;
    }
  }

  /**
   * Tokenizes {@code text} (on the caller's thread) for {@link #embedText(TokenizedText, Duration)}.
   *
   * @throws dev.clip4j.Clip4jException UNSUPPORTED when the model has no text tower
   */
  public TokenizedText tokenize(String text) {
    Objects.requireNonNull(text, "text");
    if (tokenizer == null) {
      throw new dev.clip4j.Clip4jException(dev.clip4j.ErrorCode.UNSUPPORTED, model.info().architecture()
          + " has no text tower: it embeds images only");
    }
    long[] ids = tokenizer.ids(text);
    return new TokenizedText(this, fit(ids), ids.length);
  }

  /**
   * Embeds a text this embedder tokenized, failing with a TimeoutException if not run within
   * {@code deadline} (null = none); the same result as {@link #embedText(String, Duration)}.
   *
   * @throws IllegalArgumentException if another embedder made {@code text}
   */
  public CompletableFuture<float[]> embedText(TokenizedText text, Duration deadline) {
    Objects.requireNonNull(text, "text");
    if (text.owner != this) {
      throw new IllegalArgumentException("the text was tokenized by another embedder");
    }
    String lane = laneFor(text.row);
    // Shared, not copied: the lanes' slot writers only read a row (it may be submitted again).
    return deadline == null ? embedder.submit(lane, text.row) : embedder.submit(lane, text.row, deadline);
  }

  /**
   * A text's ids as its lane takes them (tokenized on the caller's thread): for causal towers cut
   * to the smallest bucket that holds them and padded to it; otherwise the real ids.
   */
  private long[] fit(long[] ids) {
    if (buckets == null) {
      return ids;
    }
    int bucket = buckets[buckets.length - 1];
    for (int b : buckets) {
      if (ids.length <= b) {
        bucket = b;
        break;
      }
    }
    long[] row = java.util.Arrays.copyOf(ids, bucket);
    java.util.Arrays.fill(row, ids.length, bucket, tokenizer.padId());
    return row;
  }

  private String laneFor(long[] ids) {
    return buckets == null ? TEXTS : TEXTS + "-" + ids.length;
  }

  /** Embedding width D: the floats each zero-copy result occupies. */
  public int embedDim() {
    return Math.toIntExact(model.embedDim());
  }

  /**
   * Embeds one image into {@code dst}: D = {@link #embedDim()} unit-norm floats written at
   * {@code dst.position()} with one bulk copy, no {@code float[]} made. {@code dst} must be a
   * direct, writable, native-order buffer with room for D floats (checked before anything is
   * queued: {@link dev.clip4j.InvalidInputException}). Ownership: keep {@code [position, position +
   * D)} untouched until the future completes; its position and limit are never changed; once the
   * future is done (completed, failed, timed out or cancelled) nothing more is written.
   */
  public CompletableFuture<Void> embedImageInto(ImageSource image, FloatBuffer dst) {
    requireImages();
    return embedder.submitInto(IMAGES, image, dst);
  }

  /** {@link #embedImageInto(ImageSource, FloatBuffer)} into native-order bytes (4 D bytes). */
  public CompletableFuture<Void> embedImageInto(ImageSource image, ByteBuffer dst) {
    requireImages();
    return embedder.submitInto(IMAGES, image, dst);
  }

  /** {@link #embedImageInto(ImageSource, FloatBuffer)} for a text (tokenized on this thread). */
  public CompletableFuture<Void> embedTextInto(String text, FloatBuffer dst) {
    return embedTextInto(text, dst, null);
  }

  /** {@link #embedTextInto(String, FloatBuffer)} with a deadline (null = none). */
  public CompletableFuture<Void> embedTextInto(String text, FloatBuffer dst, Duration deadline) {
    ResultBuffers.target(dst, embedDim()); // checked before tokenizing
    long[] ids = tokenize(text).row;
    return embedder.submitInto(laneFor(ids), ids, dst, deadline);
  }

  /** {@link #embedTextInto(String, FloatBuffer)} into native-order bytes (4 D bytes). */
  public CompletableFuture<Void> embedTextInto(String text, ByteBuffer dst) {
    ResultBuffers.target(dst, embedDim());
    long[] ids = tokenize(text).row;
    return embedder.submitInto(laneFor(ids), ids, dst);
  }

  /**
   * Embeds many images into {@code dst}: image {@code i} at {@code position + i * D}, a row-major
   * [n, D] block (the whole block is checked first). Futures in input order; one bad image fails
   * only its own future, and its rows are left as they were.
   */
  public List<CompletableFuture<Void>> embedImagesInto(List<ImageSource> images, FloatBuffer dst) {
    requireImages();
    return embedder.submitAllInto(IMAGES, images, null, dst);
  }

  /** {@link #embedImagesInto(List, FloatBuffer)} into native-order bytes. */
  public List<CompletableFuture<Void>> embedImagesInto(List<ImageSource> images, ByteBuffer dst) {
    requireImages();
    return embedder.submitAllInto(IMAGES, images, null, dst);
  }

  /**
   * Embeds many texts into {@code dst}: text {@code i} at {@code position + i * D}. Texts go to
   * their length buckets (grouped by length), the whole block is checked before any is queued.
   */
  public List<CompletableFuture<Void>> embedTextsInto(List<String> texts, FloatBuffer dst) {
    FloatBuffer target = ResultBuffers.target(dst, Math.multiplyExact((long) texts.size(), embedDim()));
    return textsInto(texts, target);
  }

  /** {@link #embedTextsInto(List, FloatBuffer)} into native-order bytes. */
  public List<CompletableFuture<Void>> embedTextsInto(List<String> texts, ByteBuffer dst) {
    FloatBuffer target = ResultBuffers.target(dst, Math.multiplyExact((long) texts.size(), embedDim()));
    return textsInto(texts, target);
  }

  private List<CompletableFuture<Void>> textsInto(List<String> texts, FloatBuffer target) {
    int d = embedDim();
    List<long[]> ids = new ArrayList<>(texts.size());
    for (String t : texts) {
      ids.add(tokenize(t).row);
    }
    List<CompletableFuture<Void>> out = new ArrayList<>(texts.size());
    for (int i = 0; i < texts.size(); i++) {
      FloatBuffer row = target.slice(Math.multiplyExact(i, d), d); // a view: the caller's buffer, row i
      out.add(embedder.submitInto(laneFor(ids.get(i)), ids.get(i), row));
    }
    return out;
  }

  /** Embeds many images; results in input order. */
  public List<CompletableFuture<float[]>> embedImages(List<ImageSource> images) {
    requireImages();
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
   * Runs both towers once at batch size 1 and at {@link EmbedderConfig#maxBatchSize()} (every
   * text bucket), so the first real requests do not pay LibTorch's first-call costs at those
   * shapes; call it after {@code create}, before serving.
   */
  public void warmUp() {
    if (config.maxBatchSize() == 1) {
      warmUp(1);
    } else {
      warmUp(1, config.maxBatchSize());
    }
  }

  /**
   * Runs the model once per batch size in {@code batchSizes} for both towers, so the first real
   * requests do not pay LibTorch's first-call costs at those shapes. Every temporary is freed.
   */
  public void warmUp(int... batchSizes) {
    for (int b : batchSizes) {
      if (b < 1) {
        throw new IllegalArgumentException("batch sizes must be >= 1, got " + b);
      }
      if (model.hasImageTower()) {
        int s = model.preprocessConfig().imageSize();
        try (Tensor pixels = torch.zeros(b, 3, s, s); Tensor out = model.embedImages(pixels)) {
          // results unused
        }
      }
      if (model.hasTextTower()) {
        int[] lengths = buckets != null ? buckets : new int[] {tokenizer.maxLength()};
        for (int len : lengths) {
          try (org.bytedeco.pytorch.TensorOptions longs = new org.bytedeco.pytorch.TensorOptions(ScalarType.Long);
              Tensor ids = torch.zeros(new long[] {b, len}, longs);
              Tensor out = model.embedTexts(ids)) {
            // results unused
          }
        }
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
