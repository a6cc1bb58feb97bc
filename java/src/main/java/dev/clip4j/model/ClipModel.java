package dev.clip4j.model;

import dev.clip4j.Engine;
import dev.clip4j.InvalidInputException;
import dev.clip4j.head.EmbeddingHead;
import dev.clip4j.internal.EmbeddingCheck;
import dev.clip4j.internal.TensorShapes;
import dev.clip4j.internal.UseGuard;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A loaded CLIP model: an image pipeline and a text pipeline, each a tower ({@link Encoder})
 * followed by clip4j's fused embedding head (projection without bias, then L2 normalisation),
 * producing unit-norm embeddings identical to open_clip's.
 *
 * <pre>{@code
 * try (ClipModel model = ClipModel.load(Path.of("ViT-B-32"))) {
 *   Tensor img = model.embedImages(pixels);   // [N, 3, 224, 224] float32 -> [N, D]
 *   Tensor txt = model.embedTexts(tokenIds);  // [N, L] int64 -> [N, D]
 * }
 * }</pre>
 *
 * <p>Every forward runs in eval mode under LibTorch inference mode with the {@link Engine}'s
 * deterministic settings. Thread safety: embed calls may run concurrently; {@link #close()} waits
 * for calls in flight, after which calls throw {@link IllegalStateException}. Inputs are
 * validated before anything reaches native code; violations throw {@link InvalidInputException}.
 * Every returned batch is checked (one reduction) to hold finite unit-norm rows; a batch that does
 * not throws {@link dev.clip4j.NumericalException} naming the rows.
 */
public final class ClipModel implements AutoCloseable {
  private final ModelInfo info;
  private final Encoder imageEncoder;
  private final EmbeddingHead imageHead;
  private final Encoder textEncoder;
  private final EmbeddingHead textHead;
  private final float logitScale;
  private final Device device;
  private final Precision precision;
  private final List<AutoCloseable> resources;
  private final Object extra;
  private final UseGuard guard = new UseGuard("ClipModel");

  ClipModel(
      ModelInfo info,
      Encoder imageEncoder,
      EmbeddingHead imageHead,
      Encoder textEncoder,
      EmbeddingHead textHead,
      float logitScale,
      List<AutoCloseable> resources,
      Object extra) {
    this.info = Objects.requireNonNull(info, "info");
    this.imageEncoder = imageEncoder;
    this.imageHead = imageHead;
    this.textEncoder = textEncoder;
    this.textHead = textHead;
    this.logitScale = logitScale;
    this.device = new Device(info.device());
    this.precision = info.precision();
    this.resources = new ArrayList<>(resources);
    this.extra = extra;
  }

  /** Loads a model from a directory or file, detecting the format; see {@link #load(Path, LoadOptions)}. */
  public static ClipModel load(Path path) {
    return load(path, LoadOptions.defaults());
  }

  /**
   * Loads a model: an open_clip hub directory, a TorchScript file or a clip4j bundle. Loading
   * checks every weight (names, shapes, dtypes), the activation's provenance, and runs one dummy
   * forward of each tower to check the embedding widths agree.
   *
   * @throws dev.clip4j.InvalidModelException naming the file and every problem found
   */
  public static ClipModel load(Path path, LoadOptions options) {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(options, "options");
    Engine.ensureInitialized();
    ModelFormat format = options.format().orElseGet(() -> ModelFormat.detect(path));
    switch (format) {
      case TORCHSCRIPT:
        return TorchScriptModels.loadTorchScript(path, options);
      case CLIP4J_BUNDLE:
        return Bundles.load(path, options);
      case OPEN_CLIP_HUB:
      default:
        return OpenClipModels.load(path, options);
    }
  }

  /** What this model is. */
  public ModelInfo info() {
    return info;
  }

  /** exp(logit_scale) is the temperature of zero-shot logits: logits = exp(s) * I @ T^T. */
  public float logitScale() {
    return logitScale;
  }

  /** Embedding width. */
  public long embedDim() {
    return info.embedDim();
  }

  /**
   * The model's configuration, activation, preprocessing config and tokenizer vocabulary (null
   * for TorchScript files).
   */
  public ModelResources resources() {
    return extra instanceof ModelResources ? (ModelResources) extra : null;
  }

  /**
   * Saves the model as a clip4j bundle (one TorchScript archive with a JSON manifest) that
   * reloads with bit-identical outputs. Only models loaded from open_clip checkpoints or bundles
   * can be saved.
   */
  public void save(Path bundle) {
    try (UseGuard.Use use = guard.enter()) {
      Bundles.save(this, resources(), bundle);
    }
  }

  /**
   * Embeds preprocessed images: {@code pixels} [N, 3, S, S] float32 (S = {@link
   * ModelInfo#imageSize()}), on any device; returns float32 [N, D] unit rows on the model's device.
   *
   * @throws dev.clip4j.NumericalException if a row of the result is not finite or not unit-norm
   */
  public Tensor embedImages(Tensor pixels) {
    try (UseGuard.Use use = guard.enter()) {
      if (imageEncoder == null) {
        throw new IllegalStateException("this model has no image tower");
      }
      Objects.requireNonNull(pixels, "pixels");
      int s = info.imageSize();
      require(pixels.defined() && pixels.dim() == 4, "pixels must be [N, 3, " + s + ", " + s + "], got " + TensorShapes.describe(pixels));
      require(pixels.size(1) == 3 && pixels.size(2) == s && pixels.size(3) == s,
          "pixels must be [N, 3, " + s + ", " + s + "], got " + TensorShapes.describe(pixels));
      require(pixels.size(0) >= 1, "pixels must hold at least one image");
      require(pixels.scalar_type().intern() == ScalarType.Float, "pixels must be float32, got " + pixels.scalar_type().intern());
      try (Engine.InferenceScope scope = Engine.inference();
          Tensor x = toModel(pixels, precision.scalarType());
          Tensor features = imageEncoder.features(x)) {
        return checked(head(imageHead, features), "image embeddings");
      }
    }
  }

  /**
   * Embeds tokenized texts: {@code tokenIds} [N, L] int64 (1 &lt;= L &lt;= context length, ids in
   * [0, vocab size)), as the tokenizer writes them; returns float32 [N, D] unit rows.
   *
   * @throws dev.clip4j.NumericalException if a row of the result is not finite or not unit-norm
   */
  public Tensor embedTexts(Tensor tokenIds) {
    try (UseGuard.Use use = guard.enter()) {
      if (textEncoder == null) {
        throw new IllegalStateException("this model has no text tower");
      }
      Objects.requireNonNull(tokenIds, "tokenIds");
      require(tokenIds.defined() && tokenIds.dim() == 2, "token ids must be [N, L], got " + TensorShapes.describe(tokenIds));
      require(tokenIds.size(0) >= 1, "token ids must hold at least one text");
      require(tokenIds.size(1) >= 1 && tokenIds.size(1) <= info.contextLength(),
          "token sequences must have 1.." + info.contextLength() + " positions, got " + tokenIds.size(1));
      ScalarType t = tokenIds.scalar_type().intern();
      require(t == ScalarType.Long || t == ScalarType.Int, "token ids must be int64 (or int32), got " + t);
      try (Engine.InferenceScope scope = Engine.inference();
          Tensor ids = toModel(tokenIds, ScalarType.Long);
          Tensor lo = ids.min();
          Tensor hi = ids.max()) {
        long min = lo.item_long();
        long max = hi.item_long();
        require(min >= 0 && max < info.vocabSize(),
            "token ids must be in [0, " + info.vocabSize() + "), got values in [" + min + ", " + max + "]");
        try (Tensor features = textEncoder.features(ids)) {
          return checked(head(textHead, features), "text embeddings");
        }
      }
    }
  }

  /** Every row finite and unit-norm, or a NumericalException naming the rows (the batch is freed). */
  private static Tensor checked(Tensor out, String what) {
    try {
      EmbeddingCheck.requireUnitRows(out, what);
      return out;
    } catch (RuntimeException e) {
      out.close();
      throw e;
    }
  }

  private Tensor head(EmbeddingHead head, Tensor features) {
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



  /** Waits for embed calls in flight, then releases every native resource. Idempotent. */
  @Override
  public void close() {
    guard.close(() -> {
      closeQuietly(imageHead);
      closeQuietly(textHead);
      closeQuietly(imageEncoder);
      closeQuietly(textEncoder);
      for (AutoCloseable r : resources) {
        closeQuietly(r);
      }
    });
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
