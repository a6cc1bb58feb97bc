package dev.clip4j.model;

import dev.clip4j.Clip4jException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.EmbeddingHead;
import dev.clip4j.internal.EmbeddingCheck;
import dev.clip4j.internal.HostTensors;
import dev.clip4j.internal.TensorShapes;
import dev.clip4j.internal.UseGuard;
import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.preprocess.ImagePreprocessor;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.tokenize.TextTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A loaded embedding model: an image tower, a text tower, or both, each ending in unit-norm
 * embeddings in one shared space, with the tokenizer and the image preprocessing that belong to
 * it. For CLIPs the towers end in clip4j's fused head (projection without bias, then L2
 * normalisation), identical to open_clip's {@code encode_image}/{@code encode_text} followed by
 * {@code F.normalize}.
 *
 * <pre>{@code
 * try (ClipModel model = ClipModel.load(Path.of("ViT-B-32"))) {           // any supported format
 *   float[][] images = model.embedImages(List.of(Path.of("cat.jpg")));      // [N][D], unit rows
 *   float[][] texts = model.embedTexts(List.of("a photo of a cat"));
 *   Tensor px = model.embedImages(pixels);   // or tensors: [N, 3, S, S] float32 -> [N, D]
 *   Tensor tx = model.embedTexts(tokenIds);  // [N, L] int64 (model.tokenizer()) -> [N, D]
 * }
 * }</pre>
 *
 * <p>{@link #load(Path, LoadOptions)} reads any supported format (open_clip hub directories,
 * Hugging Face {@code CLIPModel} directories, OpenAI/open_clip TorchScript archives, bare
 * checkpoints with an architecture name, sentence-transformers text models, clip4j bundles) into
 * one {@link ModelDescription} and builds it; {@link #pair} joins an image model with a separately
 * loaded text model (e.g. a multilingual sentence-transformers tower). A model without an image
 * (or text) tower throws {@link Clip4jException} with {@link ErrorCode#UNSUPPORTED} for that side.
 *
 * <p>Every forward runs in eval mode under LibTorch inference mode with the {@link Engine}'s
 * deterministic settings, and every row is computed independently of the other rows of its batch.
 * Thread safety: all methods may run concurrently; {@link #close()} waits for calls in flight,
 * after which calls throw {@link IllegalStateException}. Inputs are validated before anything
 * reaches native code ({@link InvalidInputException}); every returned batch is checked to hold
 * finite unit-norm rows ({@link dev.clip4j.NumericalException} naming the rows otherwise).
 */
public final class ClipModel implements AutoCloseable {
  private static final int LIST_BATCH = 32;

  private final ModelInfo info;
  private final ImageTower image;
  private final TextTower text;
  private final float logitScale;
  private final float logitBias; // NaN: no logit_bias (softmax scoring)
  private final Device device;
  private final ModelDescription description;
  private final List<AutoCloseable> resources;
  private final UseGuard guard = new UseGuard("ClipModel");

  /** An image tower: encoder, head, and the preprocessing its inputs need. */
  record ImageTower(Encoder encoder, EmbeddingHead head, PreprocessConfig preprocess, Precision precision) {}

  /**
   * A text tower. {@link #causal()}: a row may be cut after its last real token and padded with
   * anything without changing its embedding (CLIP's causal tower pools at EOT), so batches of
   * texts may run at any length that holds them; otherwise the attention mask is needed.
   */
  interface TextTower extends AutoCloseable {
    TextTokenizer tokenizer();

    boolean causal();

    int vocabSize();

    /** Unit-norm [N, D] rows for ids [N, L] int64 on the model's device; mask [N, L] or null. */
    Tensor embed(Tensor ids, Tensor mask);

    @Override
    void close();
  }

  ClipModel(ModelInfo info, ImageTower image, TextTower text, float logitScale, ModelDescription description,
      List<AutoCloseable> resources) {
    this(info, image, text, logitScale, Float.NaN, description, resources);
  }

  /** With a {@code logit_bias} (sigmoid-loss models such as SigLIP; NaN for none). */
  ClipModel(ModelInfo info, ImageTower image, TextTower text, float logitScale, float logitBias,
      ModelDescription description, List<AutoCloseable> resources) {
    this.logitBias = logitBias;
    this.info = Objects.requireNonNull(info, "info");
    if (image == null && text == null) {
      throw new IllegalArgumentException("a model needs at least one tower");
    }
    this.image = image;
    this.text = text;
    this.logitScale = logitScale;
    this.device = new Device(info.device());
    this.description = description;
    this.resources = new ArrayList<>(resources);
  }

  /** Loads a model from a directory or file, detecting the format; see {@link #load(Path, LoadOptions)}. */
  public static ClipModel load(Path path) {
    return load(path, LoadOptions.defaults());
  }

  /**
   * Loads a model: the format's reader turns {@code path} into a {@link ModelDescription} (format
   * detected from the contents unless {@link LoadOptions#format()} says it), and the architecture
   * registry builds its towers. Loading checks every weight (names, shapes, dtypes, finiteness),
   * the activation's provenance, and runs one dummy forward per tower.
   *
   * @throws InvalidModelException naming the file and every problem found
   * @throws dev.clip4j.DeviceException when the device cannot be used
   */
  public static ClipModel load(Path path, LoadOptions options) {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(options, "options");
    Engine.ensureInitialized();
    return Architectures.build(ModelDescription.read(path, options), options);
  }

  /**
   * A model with {@code imageModel}'s image tower, logit scale and logit bias (so a SigLIP image
   * model keeps its sigmoid scoring) and {@code textModel}'s text
   * tower (e.g. OpenAI's ViT-B-32 with the multilingual clip-ViT-B-32-multilingual-v1 text model).
   * Takes ownership of both (closing the pair closes them; on failure both are closed). Their
   * embedding widths must agree: a sentence-transformers model whose Dense projection was lost
   * gives the encoder's width and is refused here.
   *
   * @throws InvalidModelException when the widths differ or a side is missing
   */
  public static ClipModel pair(ClipModel imageModel, ClipModel textModel) {
    Objects.requireNonNull(imageModel, "imageModel");
    Objects.requireNonNull(textModel, "textModel");
    try {
      if (imageModel.image == null) {
        throw new InvalidModelException("cannot pair: " + imageModel.info.architecture() + " has no image tower");
      }
      if (textModel.text == null) {
        throw new InvalidModelException("cannot pair: " + textModel.info.architecture() + " has no text tower");
      }
      if (imageModel.embedDim() != textModel.embedDim()) {
        throw new InvalidModelException("cannot pair: the text model gives " + textModel.embedDim() + "-d vectors ("
            + textModel.info.architecture() + ") but the image tower gives " + imageModel.embedDim()
            + "-d embeddings; a sentence-transformers CLIP text model needs its Dense projection (check"
            + " modules.json)");
      }
      // Canonical names: "cuda" is the current device, so it pairs with "cuda:0" when device 0 is current.
      if (!dev.clip4j.internal.Devices.canonical(imageModel.info.device())
          .equals(dev.clip4j.internal.Devices.canonical(textModel.info.device()))) {
        throw new InvalidModelException("cannot pair models on different devices (" + imageModel.info.device() + ", "
            + textModel.info.device() + ")");
      }
      ModelInfo info = imageModel.info.pairedWith(textModel.info);
      List<AutoCloseable> owned = List.of(imageModel, textModel);
      return new ClipModel(info, imageModel.image, textModel.text, imageModel.logitScale, imageModel.logitBias, null, owned);
    } catch (RuntimeException e) {
      textModel.close();
      imageModel.close();
      throw e;
    }
  }

  /** What this model is. */
  public ModelInfo info() {
    return info;
  }

  /** exp(logit_scale) is the temperature of zero-shot logits: logits = exp(s) * I @ T^T (NaN when unknown). */
  public float logitScale() {
    return logitScale;
  }

  /**
   * The checkpoint's {@code logit_bias} for sigmoid-loss models (SigLIP: zero-shot probabilities
   * are {@code sigmoid(exp(logit_scale) * cos + logit_bias)} per label), or NaN for models without
   * one (CLIP: softmax over the labels).
   */
  public float logitBias() {
    return logitBias;
  }

  /** Whether the model was trained with a sigmoid loss and scores labels independently ({@link #logitBias()} set). */
  public boolean sigmoidScoring() {
    return !Float.isNaN(logitBias);
  }

  /** Embedding width. */
  public long embedDim() {
    return info.embedDim();
  }

  /** Whether the model embeds images. */
  public boolean hasImageTower() {
    return image != null;
  }

  /** Whether the model embeds texts. */
  public boolean hasTextTower() {
    return text != null;
  }

  /**
   * The model's tokenizer (owned by the model: do not close it).
   *
   * @throws Clip4jException UNSUPPORTED when the model has no text tower
   */
  public TextTokenizer tokenizer() {
    return requireText().tokenizer();
  }

  /**
   * Whether a text's ids may be padded with anything after its last real token without changing
   * its embedding (CLIP's causal towers; the {@code Embedder} then batches texts by length).
   * Otherwise {@link #embedTexts(Tensor, Tensor)} needs the attention mask.
   */
  public boolean causalText() {
    return requireText().causal();
  }

  /**
   * The preprocessing the image tower's inputs need (as the model's files state it, else open_clip's
   * OpenAI defaults at the tower's resolution).
   *
   * @throws Clip4jException UNSUPPORTED when the model has no image tower
   */
  public PreprocessConfig preprocessConfig() {
    return requireImage().preprocess();
  }

  /**
   * How the model was described by its reader (configuration, weights, tokenizer, preprocessing,
   * provenance); null for a {@link #pair} of models.
   */
  public ModelDescription description() {
    return description;
  }

  /**
   * Saves the model as a clip4j bundle (one TorchScript archive with a JSON manifest) that
   * reloads with bit-identical outputs. Only CLIP models whose weights clip4j reads (not
   * TorchScript programs run as code, not sentence-transformers text models) can be saved.
   */
  public void save(Path bundle) {
    try (UseGuard.Use use = guard.enter()) {
      Bundles.save(this, bundle);
    }
  }

  /**
   * Embeds preprocessed images: {@code pixels} [N, 3, S, S] float32 (S = {@link
   * ModelInfo#imageSize()}), on any device; returns float32 [N, D] unit rows on the model's device.
   *
   * @throws dev.clip4j.NumericalException if a row of the result is not finite or not unit-norm
   * @throws Clip4jException UNSUPPORTED when the model has no image tower
   */
  public Tensor embedImages(Tensor pixels) {
    return checked(embedImagesForBatch(pixels), "image embeddings");
  }

  /**
   * For batch pipelines that read the rows on the host anyway ({@code dev.clip4j.batch.Embedder}):
   * {@link #embedImages(Tensor)} without the unit-row check, which the caller must run on the
   * rows it reads ({@link EmbeddingCheck#requireUnitRows(java.nio.FloatBuffer, int, int, String)}).
   * With {@code pixels} on the model's CUDA device, nothing here waits for the device.
   */
  public Tensor embedImagesForBatch(Tensor pixels) {
    try (UseGuard.Use use = guard.enter()) {
      ImageTower tower = requireImage();
      Objects.requireNonNull(pixels, "pixels");
      int s = info.imageSize();
      require(pixels.defined() && pixels.dim() == 4, "pixels must be [N, 3, " + s + ", " + s + "], got " + TensorShapes.describe(pixels));
      require(pixels.size(1) == 3 && pixels.size(2) == s && pixels.size(3) == s,
          "pixels must be [N, 3, " + s + ", " + s + "], got " + TensorShapes.describe(pixels));
      require(pixels.size(0) >= 1, "pixels must hold at least one image");
      require(pixels.scalar_type().intern() == ScalarType.Float, "pixels must be float32, got " + pixels.scalar_type().intern());
      try (Engine.InferenceScope scope = Engine.inference();
          Tensor x = toModel(pixels, tower.precision().scalarType());
          Tensor features = tower.encoder().features(x)) {
        return head(tower.head(), features);
      }
    }
  }

  /**
   * Embeds tokenized texts: {@code tokenIds} [N, L] int64 (or int32), 1 &lt;= L &lt;= the
   * tokenizer's {@link TextTokenizer#maxLength()}, ids in [0, vocab size), as {@link #tokenizer()}
   * writes them (padded with its pad id); every position counts as a real token for towers that
   * need an attention mask (see {@link #embedTexts(Tensor, Tensor)}). Returns float32 [N, D] unit
   * rows on the model's device.
   *
   * @throws dev.clip4j.NumericalException if a row of the result is not finite or not unit-norm
   * @throws Clip4jException UNSUPPORTED when the model has no text tower
   */
  public Tensor embedTexts(Tensor tokenIds) {
    return embedTexts(tokenIds, null);
  }

  /**
   * Embeds tokenized texts with their attention mask ({@code [N, L]}, 1 for real tokens, 0 for
   * padding, real tokens first; null = all real). Causal CLIP text towers pool at the end-of-text
   * token and ignore the mask.
   *
   * @see #embedTexts(Tensor)
   */
  public Tensor embedTexts(Tensor tokenIds, Tensor attentionMask) {
    return checked(embedTextsForBatch(tokenIds, attentionMask, null), "text embeddings");
  }

  /**
   * For batch pipelines ({@code dev.clip4j.batch.Embedder}): {@link #embedTexts(Tensor, Tensor)}
   * without the unit-row check (the caller runs it on the rows it reads, as for {@link
   * #embedImagesForBatch}), the ids' range checked on {@code hostIds} (the same ids, still on the
   * CPU, e.g. the pinned batch they were copied from), so that with ids on the model's CUDA device
   * nothing here waits for the device. {@code hostIds} null: checked on {@code tokenIds} (one
   * device read when they are on CUDA).
   */
  public Tensor embedTextsForBatch(Tensor tokenIds, Tensor attentionMask, Tensor hostIds) {
    try (UseGuard.Use use = guard.enter()) {
      TextTower tower = requireText();
      Objects.requireNonNull(tokenIds, "tokenIds");
      int ctx = info.contextLength();
      require(tokenIds.defined() && tokenIds.dim() == 2, "token ids must be [N, L], got " + TensorShapes.describe(tokenIds));
      require(tokenIds.size(0) >= 1, "token ids must hold at least one text");
      require(tokenIds.size(1) >= 1 && tokenIds.size(1) <= ctx,
          "token sequences must have 1.." + ctx + " positions, got " + tokenIds.size(1));
      ScalarType t = tokenIds.scalar_type().intern();
      require(t == ScalarType.Long || t == ScalarType.Int, "token ids must be int64 (or int32), got " + t);
      if (attentionMask != null) {
        require(attentionMask.defined() && attentionMask.dim() == 2 && attentionMask.size(0) == tokenIds.size(0)
            && attentionMask.size(1) == tokenIds.size(1), "the attention mask must be " + TensorShapes.describe(tokenIds)
            + " like the ids, got " + TensorShapes.describe(attentionMask));
      }
      Tensor rangeOf = tokenIds;
      if (hostIds != null) {
        require(hostIds.is_cpu() && hostIds.dim() == 2 && hostIds.size(0) == tokenIds.size(0)
            && hostIds.size(1) == tokenIds.size(1), "hostIds must be the ids on the CPU, "
            + TensorShapes.describe(tokenIds) + ", got " + TensorShapes.describe(hostIds));
        rangeOf = hostIds;
      }
      // Before the ids reach the device: an out-of-range id there would be a device-side assert
      // that poisons the CUDA context for the whole process.
      long[] range = idRange(rangeOf);
      require(range[0] >= 0 && range[1] < tower.vocabSize(),
          "token ids must be in [0, " + tower.vocabSize() + "), got values in [" + range[0] + ", " + range[1] + "]");
      try (Engine.InferenceScope scope = Engine.inference();
          Tensor ids = toModel(tokenIds, ScalarType.Long)) {
        if (attentionMask == null || tower.causal()) {
          return tower.embed(ids, null);
        }
        try (Tensor mask = toModel(attentionMask, ScalarType.Long)) {
          return tower.embed(ids, mask);
        }
      }
    }
  }

  /**
   * Embeds image files synchronously: each decoded with {@link DecodeOptions#defaults()} (as
   * Pillow opens it: no EXIF rotation) and preprocessed as {@link #preprocessConfig()} states, in
   * batches. Rows in input order.
   *
   * @throws InvalidInputException naming the first image that cannot be read or decoded
   * @throws Clip4jException UNSUPPORTED when the model has no image tower
   */
  public float[][] embedImages(List<Path> images) {
    Objects.requireNonNull(images, "images");
    ImageTower tower = requireImage();
    ImagePreprocessor pre = new ImagePreprocessor(tower.preprocess());
    int s = tower.preprocess().imageSize();
    int per = 3 * s * s;
    float[][] out = new float[images.size()][];
    for (int start = 0; start < images.size(); start += LIST_BATCH) {
      int n = Math.min(LIST_BATCH, images.size() - start);
      float[] px = new float[Math.multiplyExact(n, per)];
      for (int i = 0; i < n; i++) {
        Path p = Objects.requireNonNull(images.get(start + i), "images[" + (start + i) + "]");
        float[] one = pre.preprocess(ImageDecoder.decode(p, DecodeOptions.defaults()));
        System.arraycopy(one, 0, px, i * per, per);
      }
      try (Tensor t = floats(px, n, 3, s, s); Tensor e = embedImages(t)) {
        copyRows(e, out, start);
      }
    }
    return out;
  }

  /**
   * Embeds texts synchronously with {@link #tokenizer()}, in batches; rows in input order. Each
   * text runs at its own length, so a row does not depend on the other texts.
   *
   * @throws Clip4jException UNSUPPORTED when the model has no text tower
   */
  public float[][] embedTexts(List<String> texts) {
    Objects.requireNonNull(texts, "texts");
    TextTower tower = requireText();
    float[][] out = new float[texts.size()][];
    for (int start = 0; start < texts.size(); start += LIST_BATCH) {
      List<String> chunk = texts.subList(start, Math.min(texts.size(), start + LIST_BATCH));
      long[][] ids = new long[chunk.size()][];
      int longest = 1;
      for (int i = 0; i < ids.length; i++) {
        ids[i] = tower.tokenizer().ids(Objects.requireNonNull(chunk.get(i), "texts[" + (start + i) + "]"));
        longest = Math.max(longest, ids[i].length);
      }
      long[] flat = new long[ids.length * longest];
      long[] mask = new long[ids.length * longest];
      java.util.Arrays.fill(flat, tower.tokenizer().padId());
      for (int i = 0; i < ids.length; i++) {
        System.arraycopy(ids[i], 0, flat, i * longest, ids[i].length);
        java.util.Arrays.fill(mask, i * longest, i * longest + ids[i].length, 1L);
      }
      try (Tensor t = longs(flat, ids.length, longest);
          Tensor m = longs(mask, ids.length, longest);
          Tensor e = embedTexts(t, m)) {
        copyRows(e, out, start);
      }
    }
    return out;
  }

  private static void copyRows(Tensor e, float[][] out, int start) {
    float[][] rows = HostTensors.readRows(e, "embeddings"); // copied to the CPU first when on a device
    System.arraycopy(rows, 0, out, start, rows.length);
  }

  /**
   * {min, max} of integer ids: read on the host when they are on the CPU (no device involved),
   * else one device-to-host copy of both values.
   */
  static long[] idRange(Tensor ids) {
    if (ids.numel() == 0) {
      return new long[] {0, -1};
    }
    try (Tensor lo = ids.min(); Tensor hi = ids.max();
        org.bytedeco.pytorch.TensorVector both = new org.bytedeco.pytorch.TensorVector(lo, hi);
        Tensor pair = torch.stack(both)) {
      return HostTensors.readLongs(pair, "token id range");
    }
  }

  private static Tensor floats(float[] data, long... shape) {
    try (FloatPointer p = new FloatPointer(data); Tensor view = torch.from_blob(p, shape)) {
      return view.clone();
    }
  }

  private static Tensor longs(long[] data, long... shape) {
    try (LongPointer p = new LongPointer(data); TensorOptions o = new TensorOptions(ScalarType.Long);
        Tensor view = torch.from_blob(p, shape, o)) {
      return view.clone();
    }
  }

  private ImageTower requireImage() {
    if (image == null) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, info.architecture() + " has no image tower: it embeds texts only"
          + " (pair it with an image model to embed images)");
    }
    return image;
  }

  private TextTower requireText() {
    if (text == null) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, info.architecture() + " has no text tower: it embeds images only");
    }
    return text;
  }

  /** Every row finite and unit-norm, or a NumericalException naming the rows (the batch is freed). */
  static Tensor checked(Tensor out, String what) {
    try {
      EmbeddingCheck.requireUnitRows(out, what);
      return out;
    } catch (RuntimeException e) {
      out.close();
      throw e;
    }
  }

  static Tensor head(EmbeddingHead head, Tensor features) {
    if (!features.is_cuda() && features.scalar_type().intern() != ScalarType.Float) {
      try (Tensor f = features.to(ScalarType.Float)) { // the CPU head is fp32
        return head.apply(f);
      }
    }
    return head.apply(features);
  }

  private Tensor toModel(Tensor t, ScalarType type) {
    // Option objects closed here: nothing per call is left for the GC.
    try (TensorOptions typed = new TensorOptions(type);
        DeviceOptional d = new DeviceOptional(device);
        TensorOptions o = typed.device(d);
        MemoryFormatOptional format = new MemoryFormatOptional()) {
      return t.to(o, false, false, format);
    }
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new InvalidInputException(message);
    }
  }

  /** Whether {@link #close()} has run. */
  public boolean isClosed() {
    return guard.isClosed();
  }

  /** Waits for embed calls in flight, then releases every native resource. Idempotent. */
  @Override
  public void close() {
    guard.close(() -> {
      if (image != null && resourcesOwnTowers()) {
        closeQuietly(image.head());
        closeQuietly(image.encoder());
      }
      if (text != null && resourcesOwnTowers()) {
        closeQuietly(text);
      }
      for (AutoCloseable r : resources) {
        closeQuietly(r);
      }
    });
  }

  /** A pair's towers belong to the two models it owns (closed through them). */
  private boolean resourcesOwnTowers() {
    return resources.stream().noneMatch(r -> r instanceof ClipModel);
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (Exception e) {
      System.getLogger(ClipModel.class.getName()).log(System.Logger.Level.WARNING, "close failed: " + e);
    }
  }
}
