package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import dev.clip4j.head.EmbeddingHead;
import dev.clip4j.head.WeightLayout;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.DType;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.StateDictTensors;
import dev.clip4j.tokenize.TextTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;

/**
 * Builds a {@link ClipModel} from an {@link Architecture.Siglip} description (the architecture
 * registry's SigLIP case), and reads SigLIP checkpoints' weights for streaming.
 */
final class SiglipModels {
  private SiglipModels() {}

  /** A checkpoint file's weights, validated against {@code config} from the header, streamed. */
  static WeightSource fileSource(SiglipConfig config, Supplier<Path> file) {
    return WeightSource.streaming(() -> {
      Path f = file.get();
      return stream(config, () -> CheckpointReader.readModelWeights(f), f.toString());
    });
  }

  static StreamedWeights stream(SiglipConfig config, Supplier<StateDict> open, String source) {
    StateDict sd = open.get();
    try {
      Map<String, long[]> shapes = new LinkedHashMap<>();
      List<String> badTypes = new ArrayList<>();
      sd.tensors().forEach((k, t) -> {
        shapes.put(k, t.shape());
        if (t.dtype() != DType.F32 && t.dtype() != DType.F16 && t.dtype() != DType.BF16 && t.dtype() != DType.F64) {
          badTypes.add(k + " (" + t.dtype() + ")");
        }
      });
      SiglipTowers.validate(config, shapes, badTypes, source);
      return new StreamedWeights(shapes, name -> StateDictTensors.toTensor(sd.get(name)), sd::close, source);
    } catch (RuntimeException e) {
      sd.close();
      throw e;
    }
  }

  static ClipModel build(ModelDescription d, Architecture.Siglip s, LoadOptions options) {
    SiglipConfig cfg = s.config();
    Device device = TorchScriptModels.parseDevice(options.device());
    if (d.tokenizer() == null) {
      throw new InvalidModelException(d.path() + ": a SigLIP model needs its tokenizer");
    }
    TextTokenizer tokenizer = d.tokenizer().open();
    SiglipTowers towers;
    try {
      if (tokenizer.maxLength() != cfg.text().contextLength()) {
        throw new InvalidModelException(d.path() + ": the tokenizer's context length " + tokenizer.maxLength()
            + " differs from the text tower's " + cfg.text().contextLength());
      }
      towers = s.weights().buildWith(cfg.source(), weights -> SiglipTowers.build(cfg, weights, device, options.precision(),
          options.cpuKernels().orElseGet(dev.clip4j.CpuKernels::fromSystemProperty)));
    } catch (RuntimeException e) {
      if (tokenizer instanceof AutoCloseable c) {
        closeQuietly(c);
      }
      throw e;
    }
    EmbeddingHead imageHead = null;
    EmbeddingHead textHead = null;
    List<AutoCloseable> owned = new ArrayList<>();
    owned.add(towers);
    if (tokenizer instanceof AutoCloseable c) {
      owned.add(c);
    }
    boolean ownedByModel = false;
    try {
      int dim = cfg.embedDim();
      // No image projection (timm_proj none): the head only normalises the MAP head's output.
      imageHead = EmbeddingHead.withoutProjection(dim).build();
      try (Tensor w = towers.textProjectionWeight(); Tensor b = towers.textProjectionBias()) {
        textHead = EmbeddingHead.builder(w).layout(WeightLayout.OUT_IN).bias(b).build();
      }
      if (imageHead.outputDim() != dim || textHead.outputDim() != dim) {
        throw new InvalidModelException(cfg.source() + ": the towers give " + imageHead.outputDim() + " (image) and "
            + textHead.outputDim() + " (text) dimensions but embed_dim is " + dim);
      }
      long params = StateDictSchema.parameterCount(cfg.schema());
      ModelInfo info = new ModelInfo(d.format(), cfg.describe(), dim, cfg.vision().imageSize(),
          cfg.text().contextLength(), cfg.text().vocabSize(), null,
          cfg.activationSource(),
          tokenizer.describe(), params, options.precision(), dev.clip4j.internal.Devices.canonical(options.device()),
          towers.cpuKernels(), d.fileHashes(), null,
          towers.invariance() + "; the fused head computes each row alone");
      SiglipTowers t = towers;
      Encoder image = new Encoder() {
        @Override
        public String name() {
          return "visual";
        }

        @Override
        public Tensor features(Tensor pixels) {
          return t.encodeImageFeatures(pixels);
        }

        @Override
        public void close() {}
      };
      // The towers take float32 pixels in every precision (bf16 is the packed blocks' weights only).
      ClipModel.ImageTower imageTower = new ClipModel.ImageTower(image, imageHead, d.preprocess(), Precision.FP32);
      ClipModel.TextTower textTower = new SiglipTextTower(t, textHead, tokenizer, cfg.text().vocabSize());
      ClipModel model = new ClipModel(info, imageTower, textTower, towers.logitScale(), towers.logitBias(), d, owned);
      imageHead = null;
      textHead = null;
      ownedByModel = true;
      Architectures.checkDummyForward(model);
      return model;
    } catch (RuntimeException e) {
      if (imageHead != null) {
        imageHead.close();
      }
      if (textHead != null) {
        textHead.close();
      }
      if (!ownedByModel) {
        owned.forEach(SiglipModels::closeQuietly);
      }
      throw e;
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception ignored) {
      // already failing
    }
  }

  /**
   * SigLIP's text tower: not causal (every position attends to every other), pooled at the last
   * position of the full context, so rows are padded with the pad id to the context length as
   * open_clip's tokenizer writes them; the attention mask is not used (open_clip uses none).
   */
  static final class SiglipTextTower implements ClipModel.TextTower {
    private final SiglipTowers towers;
    private final EmbeddingHead head;
    private final TextTokenizer tokenizer;
    private final int vocab;

    SiglipTextTower(SiglipTowers towers, EmbeddingHead head, TextTokenizer tokenizer, int vocab) {
      this.towers = towers;
      this.head = head;
      this.tokenizer = tokenizer;
      this.vocab = vocab;
    }

    @Override
    public TextTokenizer tokenizer() {
      return tokenizer;
    }

    @Override
    public boolean causal() {
      return false;
    }

    @Override
    public int vocabSize() {
      return vocab;
    }

    @Override
    public Tensor embed(Tensor ids, Tensor mask) {
      try (Tensor features = towers.encodeTextFeatures(ids, tokenizer.padId())) {
        return ClipModel.head(head, features);
      }
    }

    @Override
    public void close() {
      head.close(); // the towers and tokenizer are closed by the model's resources
    }
  }
}
