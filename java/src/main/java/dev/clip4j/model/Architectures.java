package dev.clip4j.model;

import dev.clip4j.Clip4jException;
import dev.clip4j.CpuKernels;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.EmbeddingHead;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.text.st.SentenceTransformerPipeline;
import dev.clip4j.tokenize.TextTokenizer;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The architecture registry: builds a {@link ClipModel} from a {@link ModelDescription}, whatever
 * reader made it. The switch over {@link Architecture} types below is the only place tower
 * families are told apart; adding a family is adding a case and its builder.
 */
final class Architectures {
  private Architectures() {}

  static ClipModel build(ModelDescription d, LoadOptions options) {
    Engine.ensureInitialized();
    Architecture a = d.architecture();
    if (a instanceof Architecture.ClipVit clip) {
      return clipVit(d, clip, options);
    }
    if (a instanceof Architecture.Siglip siglip) {
      return SiglipModels.build(d, siglip, options);
    }
    if (a instanceof Architecture.ClipResNet rn) {
      return ResNetTowers.model(d, rn, options);
    }
    if (a instanceof Architecture.SentenceTransformer st) {
      return sentenceTransformer(d, st, options);
    }
    if (a instanceof Architecture.TorchScriptProgram ts) {
      return TorchScriptModels.build(d, ts, options);
    }
    throw new IllegalStateException("no builder for " + a);
  }

  // ------------------------------------------------------------------ CLIP ViT

  private static ClipModel clipVit(ModelDescription d, Architecture.ClipVit clip, LoadOptions options) {
    ModelConfig cfg = clip.config();
    Device device = TorchScriptModels.parseDevice(options.device());
    TextTokenizer tokenizer = d.tokenizer().open();
    if (tokenizer.maxLength() != cfg.text().contextLength()) {
      throw new InvalidModelException(d.path() + ": the tokenizer's context length " + tokenizer.maxLength()
          + " differs from the text tower's " + cfg.text().contextLength());
    }
    // Streamed: read one tensor at a time as the towers take them (checked finite as read), so
    // loading holds the built model plus one tensor; see StreamedWeights.
    // Precision (fp32, bf16 where the device runs it natively) and the throughput mode are checked by the towers.
    ClipTowers towers = clip.weights().buildWith(cfg.source(), weights -> ClipTowers.build(cfg,
        clip.activation().activation(), weights, device, options.precision(), options.batchInvariant(),
        options.cpuKernels().orElseGet(CpuKernels::fromSystemProperty)));
    EmbeddingHead imageHead = null;
    EmbeddingHead textHead = null;
    boolean towersOwned = false;
    try {
      imageHead = EmbeddingHead.builder(towers.projection(ClipTowers.Tower.VISUAL)).build();
      textHead = EmbeddingHead.builder(towers.projection(ClipTowers.Tower.TEXT)).build();
      long dim = cfg.embedDim();
      if (imageHead.outputDim() != dim || textHead.outputDim() != dim) {
        throw new InvalidModelException(cfg.source() + ": the projections give " + imageHead.outputDim() + " (image) and "
            + textHead.outputDim() + " (text) dimensions but embed_dim is " + dim);
      }
      ModelInfo info = new ModelInfo(d.format(), cfg.describe(), dim, cfg.vision().imageSize(),
          cfg.text().contextLength(), cfg.text().vocabSize(), clip.activation().activation(),
          clip.activation().source(), tokenizer.describe(), StateDictSchema.of(cfg).parameterCount(),
          options.precision(), dev.clip4j.internal.Devices.canonical(options.device()), towers.cpuKernels(),
          d.fileHashes(), null, towers.invariance() + "; the fused head computes each row alone (any device)");
      ClipModel.ImageTower image = new ClipModel.ImageTower(towers.imageEncoder(), imageHead, d.preprocess(),
          options.precision());
      ClipModel.TextTower text = new EncoderTextTower(towers.textEncoderIdsChecked(), textHead, tokenizer,
          cfg.text().vocabSize(), options.precision());
      ClipModel model = new ClipModel(info, image, text, towers.logitScale(), d, List.of(towers));
      imageHead = null; // owned by the model from here
      textHead = null;
      towersOwned = true;
      checkDummyForward(model); // closes the model (and its towers) when it fails
      return model;
    } catch (RuntimeException e) {
      if (imageHead != null) {
        imageHead.close();
      }
      if (textHead != null) {
        textHead.close();
      }
      if (!towersOwned) {
        towers.close();
      }
      throw e;
    }
  }

  /** A causal CLIP text tower: encoder (token ids to EOT features) and the fused head. */
  static final class EncoderTextTower implements ClipModel.TextTower {
    private final Encoder encoder;
    private final EmbeddingHead head;
    private final TextTokenizer tokenizer;
    private final int vocab;
    private final int runLength; // 0: any length; else ids are padded to it (TorchScript programs)

    EncoderTextTower(Encoder encoder, EmbeddingHead head, TextTokenizer tokenizer, int vocab, Precision precision) {
      this(encoder, head, tokenizer, vocab, precision, 0);
    }

    /**
     * A tower whose encoder only takes ids of exactly {@code runLength} positions (an open_clip
     * TorchScript program adds its whole positional embedding): shorter ids are padded with the
     * pad id after their end, which a causal tower pooled at the end-of-text token never sees.
     */
    EncoderTextTower(Encoder encoder, EmbeddingHead head, TextTokenizer tokenizer, int vocab, Precision precision,
        int runLength) {
      this.encoder = encoder;
      this.head = head;
      this.tokenizer = tokenizer;
      this.vocab = vocab;
      this.runLength = runLength;
    }

    @Override
    public TextTokenizer tokenizer() {
      return tokenizer;
    }

    @Override
    public boolean causal() {
      return true;
    }

    @Override
    public int vocabSize() {
      return vocab;
    }

    @Override
    public Tensor embed(Tensor ids, Tensor mask) {
      if (runLength > 0 && ids.size(1) < runLength) {
        try (Scalar pad = new Scalar(tokenizer.padId());
            Tensor padded = torch.constant_pad_nd(ids, new long[] {0, runLength - ids.size(1)}, pad);
            Tensor features = encoder.features(padded)) {
          return ClipModel.head(head, features);
        }
      }
      try (Tensor features = encoder.features(ids)) {
        return ClipModel.head(head, features);
      }
    }

    @Override
    public void close() {
      head.close();
      encoder.close();
    }
  }

  /** One forward of each tower on a dummy input: widths equal embed_dim, rows finite and unit-norm. */
  static void checkDummyForward(ClipModel model) {
    ModelInfo info = model.info();
    try {
      if (model.hasImageTower()) {
        int s = info.imageSize();
        try (Tensor px = torch.zeros(1, 3, s, s); Tensor img = model.embedImages(px)) {
          checkWidth(img, info, "image");
        }
      }
      if (model.hasTextTower()) {
        int length;
        try {
          length = model.tokenizer().ids("").length;
        } catch (dev.clip4j.Clip4jException e) {
          if (e.code() != dev.clip4j.ErrorCode.UNSUPPORTED) {
            throw e;
          }
          length = 1; // a tower that embeds token ids but cannot tokenize texts (yet)
        }
        try (TensorOptions o = new TensorOptions(ScalarType.Long);
            Tensor ids = torch.zeros(new long[] {1, length}, o);
            Tensor txt = model.embedTexts(ids)) {
          checkWidth(txt, info, "text");
        }
      }
    } catch (dev.clip4j.NumericalException e) {
      model.close();
      throw new InvalidModelException("dummy forward gave a non-finite or non-unit embedding (" + e.getMessage()
          + "): the weights contain NaN/Inf or are degenerate", e);
    } catch (RuntimeException e) {
      model.close();
      throw e;
    }
    // On failure the model (and so everything it owns) is closed here; callers close nothing more.
  }

  private static void checkWidth(Tensor t, ModelInfo info, String tower) {
    if (t.size(1) != info.embedDim()) {
      throw new InvalidModelException("dummy forward of the " + tower + " tower gave width " + t.size(1) + "; expected "
          + info.embedDim());
    }
  }

  // ------------------------------------------------------------------ sentence-transformers

  private static ClipModel sentenceTransformer(ModelDescription d, Architecture.SentenceTransformer st,
      LoadOptions options) {
    if (options.precision() != Precision.FP32) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, d.path() + ": sentence-transformers text models run in fp32"
          + " only, not " + options.precision());
    }
    SentenceTransformerPipeline pipeline = SentenceTransformerPipeline.load(st.dir(), options.device());
    ClipModel model;
    try {
      String arch = "sentence-transformers: " + String.join(" -> ", pipeline.moduleDescriptions());
      ModelInfo info = new ModelInfo(d.format(), arch, pipeline.outputDim(), 0, pipeline.tokenizer().maxLength(),
          pipeline.vocab(), null, "the modules' configs", pipeline.tokenizer().describe(), pipeline.parameterCount(),
          Precision.FP32, dev.clip4j.internal.Devices.canonical(pipeline.device()), "libtorch", d.fileHashes(), null,
          "batch-invariant: each text runs alone, cut to its own tokens");
      model = new ClipModel(info, null, new StTextTower(pipeline), Float.NaN, d, List.of());
    } catch (RuntimeException e) {
      pipeline.close();
      throw e;
    }
    checkDummyForward(model);
    return model;
  }

  /**
   * A sentence-transformers pipeline as a text tower. Each row runs on its own, cut to its real
   * tokens (the attention mask's length), so a row never depends on the other rows of its batch
   * or on their padding: bit for bit what a batch of that one text gives. Rows are L2-normalised
   * (a no-op, to rounding, when the pipeline ends in Normalize) for CLIP similarity.
   */
  static final class StTextTower implements ClipModel.TextTower {
    private final SentenceTransformerPipeline pipeline;

    StTextTower(SentenceTransformerPipeline pipeline) {
      this.pipeline = pipeline;
    }

    @Override
    public TextTokenizer tokenizer() {
      return pipeline.tokenizer();
    }

    @Override
    public boolean causal() {
      return false;
    }

    @Override
    public int vocabSize() {
      return pipeline.vocab();
    }

    @Override
    public Tensor embed(Tensor ids, Tensor mask) {
      int n = (int) ids.size(0);
      long full = ids.size(1);
      long[] lengths = new long[n];
      if (mask == null) {
        java.util.Arrays.fill(lengths, full);
      } else {
        try (Scalar zero = new Scalar(0); Tensor real = mask.ne(zero);
            org.bytedeco.pytorch.ScalarTypeOptional keep = new org.bytedeco.pytorch.ScalarTypeOptional();
            Tensor sums = real.sum(new long[] {1}, false, keep)) {
          lengths = dev.clip4j.internal.HostTensors.readLongs(sums, "attention mask lengths"); // copied when on CUDA
        }
      }
      List<Tensor> rows = new ArrayList<>(n);
      try {
        for (int i = 0; i < n; i++) {
          long len = Math.max(1, lengths[i]);
          try (Tensor row = ids.select(0, i); Tensor cut = row.narrow(0, 0, len); Tensor one = cut.unsqueeze(0);
              Tensor ones = torch.ones_like(one)) {
            rows.add(pipeline.embedTokens(one, ones));
          }
        }
        try (Tensor cat = torch.cat(new org.bytedeco.pytorch.TensorVector(rows.toArray(new Tensor[0])), 0);
            Tensor norm = cat.norm(new ScalarOptional(new Scalar(2.0)), new long[] {1}, true);
            Tensor clamped = norm.clamp_min(new Scalar(1e-12))) {
          return cat.div(clamped);
        }
      } finally {
        rows.forEach(Tensor::close);
      }
    }

    @Override
    public void close() {
      pipeline.close();
    }
  }

  /** Open_clip's OpenAI preprocessing at {@code imageSize} (models whose files do not state one). */
  static PreprocessConfig openAiPreprocess(int imageSize) {
    return PreprocessConfig.builder().imageSize(imageSize).build();
  }

  /** The JIT module a TorchScript program model owns, closed with it. */
  static AutoCloseable closer(JitModule m) {
    return m::close;
  }
}
