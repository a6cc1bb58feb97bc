package dev.clip4j.text.st;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.DeviceException;
import dev.clip4j.internal.Devices;
import dev.clip4j.Engine;
import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import dev.clip4j.head.EmbeddingHead;
import dev.clip4j.head.WeightLayout;
import dev.clip4j.internal.UseGuard;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.StateDictTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A sentence-transformers text model loaded completely from its {@code modules.json}, every
 * module in order, or not at all. This is what makes the most-reported failure of multilingual
 * CLIP text towers impossible: a {@code clip-ViT-B-32-multilingual-v1} directory always goes
 * through its {@code 2_Dense} projection (768 → 512), and the output width is computed from the
 * modules and checked by a dummy forward at load.
 *
 * <p>Modules: {@code Transformer} (DistilBERT, BERT and XLM-RoBERTa encoders from HF {@code
 * config.json} + {@code model.safetensors}, else {@code pytorch_model.bin}; tokenized with {@code
 * tokenizer.json}, truncated to {@code sentence_bert_config.json}'s {@code max_seq_length}),
 * {@code Pooling} (CLS, max, mean, mean-sqrt-len, concatenated in sentence-transformers' order,
 * honouring the attention mask), {@code Dense} ({@code linear.weight}, optional {@code
 * linear.bias}, Identity/Tanh/ReLU/GELU), {@code Normalize}; Dense and Normalize run in the order
 * modules.json gives. Any other module type, encoder architecture or option is refused by name
 * ({@link InvalidModelException}). Every weight of every module is checked against the shapes the
 * configs imply: missing, unexpected, mis-shaped and non-floating-point keys are listed at once.
 * All weights are converted to float32 on the device given to {@link #load(Path, String)}.
 *
 * <pre>{@code
 * try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(dir)) {
 *   Tensor e = p.embed(List.of("Ein Foto von einem Hund", "猫の写真")); // [2, p.outputDim()]
 * }
 * }</pre>
 *
 * <p>Ownership: the pipeline owns its encoder, tokenizer and Dense weights; {@link #embed}
 * returns a new tensor owned by the caller. Thread safety: {@link #embed} may run concurrently
 * from many threads; {@link #close()} waits for calls in flight, and later calls throw {@link
 * IllegalStateException}.
 */
public final class SentenceTransformerPipeline implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path dir;
  private final Device device;
  private final StTokenizer tokenizer;
  private final BertFamilyEncoder encoder;
  private final List<String> poolingModes;
  private final List<Stage> stages;
  private final boolean normalize;
  private final long outputDim;
  private final List<String> descriptions;
  private final long parameterCount;
  private final UseGuard guard = new UseGuard("SentenceTransformerPipeline");

  /** A module after Pooling, applied to the pooled [N, D] features in modules.json order. */
  private interface Stage extends AutoCloseable {
    Tensor apply(Tensor x);

    @Override
    void close();
  }

  /** L2 normalisation of each row (sentence-transformers' Normalize, eps 1e-12). */
  private static final class NormalizeStage implements Stage {
    @Override
    public Tensor apply(Tensor x) {
      return x.div(x.norm(new ScalarOptional(new Scalar(2.0)), new long[] {1}, true).clamp_min(new Scalar(1e-12)));
    }

    @Override
    public void close() {}
  }

  /** One Dense module: y = act(x W^T + b). */
  private static final class Dense implements Stage {
    final EmbeddingHead head; // identity / tanh / gelu, no normalisation (clip4j's fused kernel)
    final Tensor weight;      // for ReLU
    final Tensor bias;
    final boolean relu;
    final int out;
    final long parameters;

    Dense(EmbeddingHead head, Tensor weight, Tensor bias, boolean relu, int out) {
      this.parameters = weight.numel() + (bias == null ? 0 : bias.numel());
      this.head = head;
      this.weight = weight;
      this.bias = bias;
      this.relu = relu;
      this.out = out;
    }

    @Override
    public Tensor apply(Tensor x) {
      if (!relu) {
        return head.apply(x.contiguous());
      }
      Tensor y = bias == null ? x.matmul(weight.t()) : torch.linear(x, weight, bias);
      return torch.relu(y);
    }

    @Override
    public void close() {
      if (head != null) {
        head.close();
      }
    }
  }

  private SentenceTransformerPipeline(Path dir, Device device, StTokenizer tokenizer, BertFamilyEncoder encoder,
      List<String> poolingModes, List<Stage> stages, boolean normalize, long outputDim, List<String> descriptions,
      long parameterCount) {
    this.dir = dir;
    this.device = device;
    this.tokenizer = tokenizer;
    this.encoder = encoder;
    this.poolingModes = List.copyOf(poolingModes);
    this.stages = List.copyOf(stages);
    this.normalize = normalize;
    this.outputDim = outputDim;
    this.descriptions = List.copyOf(descriptions);
    this.parameterCount = parameterCount;
  }

  /** Loads the pipeline in {@code dir} (which holds {@code modules.json}) on the CPU. */
  public static SentenceTransformerPipeline load(Path dir) {
    return load(dir, "cpu");
  }

  /**
   * Loads the pipeline in {@code dir} (which holds {@code modules.json}) on {@code device}
   * ("cpu", "cuda", "cuda:N"): the encoder and every Dense layer in float32 on that device, so
   * no layer stays behind on the CPU.
   *
   * @throws InvalidModelException if any file, module, configuration or weight is missing, wrong
   *     or not supported; the message names what and where
   * @throws DeviceException if the device cannot take the weights (e.g. CUDA not available)
   * @throws IllegalArgumentException if the device string is not a LibTorch device
   */
  public static SentenceTransformerPipeline load(Path dir, String device) {
    Objects.requireNonNull(dir, "dir");
    Objects.requireNonNull(device, "device");
    Engine.ensureInitialized();
    Device dev = parseDevice(device);
    Path root = dir.toAbsolutePath().normalize();
    JsonNode modules = readJson(root.resolve("modules.json"));
    if (!modules.isArray() || modules.isEmpty()) {
      throw new InvalidModelException(root.resolve("modules.json") + ": expected a non-empty list of modules");
    }
    List<JsonNode> ordered = new ArrayList<>();
    modules.forEach(ordered::add);
    ordered.sort(Comparator.comparingInt(n -> n.path("idx").asInt()));
    StTokenizer tokenizer = null;
    BertFamilyEncoder encoder = null;
    List<String> pooling = null;
    List<Stage> stages = new ArrayList<>();
    boolean normalize = false;
    long dim = -1;
    long params = 0;
    List<String> desc = new ArrayList<>();
    SentenceTransformerPipeline pipeline = null;
    try {
      for (JsonNode mod : ordered) {
        String type = mod.path("type").asText();
        String short_ = type.substring(type.lastIndexOf('.') + 1);
        Path mdir = moduleDir(root, mod);
        switch (type) {
          case "sentence_transformers.models.Transformer": {
            if (encoder != null) {
              throw new InvalidModelException(root + ": more than one Transformer module");
            }
            JsonNode cfg = readJson(mdir.resolve("config.json"));
            int maxLen = maxSeqLength(mdir, cfg);
            Path weights = firstExisting(mdir, "model.safetensors", "pytorch_model.bin");
            Map<String, Tensor> encoderWeights = read(weights);
            for (Tensor t : encoderWeights.values()) {
              params += t.numel();
            }
            encoder = BertFamilyEncoder.build(cfg, encoderWeights, weights, dev);
            if (maxLen > encoder.maxPositions()) {
              throw new InvalidModelException(mdir + ": max_seq_length " + maxLen + " exceeds the encoder's "
                  + encoder.maxPositions() + " positions");
            }
            tokenizer = new StTokenizer(mdir, maxLen, encoder.padId());
            dim = encoder.dim();
            desc.add("Transformer(" + cfg.path("model_type").asText() + ", width " + dim + ", max_seq_length " + maxLen + ")");
            break;
          }
          case "sentence_transformers.models.Pooling": {
            requireAfter(encoder != null && pooling == null, root, short_);
            JsonNode cfg = readJson(mdir.resolve("config.json"));
            int wdim = cfg.path("word_embedding_dimension").asInt(-1);
            if (wdim != dim) {
              throw new InvalidModelException(mdir + ": Pooling word_embedding_dimension " + wdim + " != encoder width " + dim);
            }
            for (String unsupported : new String[] {"pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"}) {
              if (cfg.path(unsupported).asBoolean(false)) {
                throw new InvalidModelException(mdir + ": " + unsupported + " is not implemented");
              }
            }
            pooling = new ArrayList<>();
            for (String m : new String[] {"cls_token", "max_tokens", "mean_tokens", "mean_sqrt_len_tokens"}) {
              if (cfg.path("pooling_mode_" + m).asBoolean(false)) {
                pooling.add(m);
              }
            }
            if (pooling.isEmpty()) {
              throw new InvalidModelException(mdir + ": Pooling enables no pooling mode");
            }
            dim = dim * pooling.size();
            desc.add("Pooling(" + String.join("+", pooling) + ", -> " + dim + ")");
            break;
          }
          case "sentence_transformers.models.Dense": {
            requireAfter(pooling != null, root, short_);
            Dense d = dense(mdir, dim, dev);
            stages.add(d);
            params += d.parameters;
            desc.add("Dense(" + dim + " -> " + d.out + ", " + activationName(mdir) + ")");
            dim = d.out;
            break;
          }
          case "sentence_transformers.models.Normalize":
            requireAfter(pooling != null, root, short_);
            stages.add(new NormalizeStage());
            normalize = true;
            desc.add("Normalize");
            break;
          default:
            throw new InvalidModelException(root.resolve("modules.json") + ": module type '" + type
                + "' is not supported (Transformer, Pooling, Dense, Normalize)");
        }
      }
      if (encoder == null || pooling == null) {
        throw new InvalidModelException(root + ": modules.json needs a Transformer and a Pooling module");
      }
      pipeline = new SentenceTransformerPipeline(root, dev, tokenizer, encoder, pooling, stages,
          // Normalize counts only when it is the last module (a Dense after it un-normalises).
          normalize && stages.get(stages.size() - 1) instanceof NormalizeStage, dim, desc, params);
      Tensor probe = pipeline.embed(List.of("clip4j"));
      if (probe.dim() != 2 || probe.size(0) != 1 || probe.size(1) != dim) {
        throw new InvalidModelException(root + ": a dummy forward gave " + java.util.Arrays.toString(probe.sizes().vec().get())
            + " but the modules say [1, " + dim + "]");
      }
      return pipeline;
    } catch (RuntimeException e) {
      if (pipeline != null) {
        pipeline.close();
      } else {
        if (tokenizer != null) {
          tokenizer.close();
        }
        if (encoder != null) {
          encoder.close();
        }
        stages.forEach(Stage::close);
      }
      throw e;
    }
  }

  /** Where a pipeline's tokenizer lives and how it truncates and pads, read without loading weights. */
  public record TokenizerInfo(Path dir, int maxLength, long padId) {}

  /**
   * The tokenizer of the sentence-transformers model in {@code dir}: its Transformer module's
   * directory, {@code max_seq_length} and the encoder's padding id.
   *
   * @throws InvalidModelException when modules.json has no Transformer module or its configs are bad
   */
  public static TokenizerInfo tokenizerInfo(Path dir) {
    Path root = dir.toAbsolutePath().normalize();
    JsonNode modules = readJson(root.resolve("modules.json"));
    if (!modules.isArray()) {
      throw new InvalidModelException(root.resolve("modules.json") + ": expected a list of modules");
    }
    for (JsonNode mod : modules) {
      if (mod.path("type").asText().equals("sentence_transformers.models.Transformer")) {
        Path mdir = moduleDir(root, mod);
        JsonNode cfg = readJson(mdir.resolve("config.json"));
        BertFamilyEncoder.Dims d = BertFamilyEncoder.dims(cfg, mdir.resolve("config.json"));
        return new TokenizerInfo(mdir, maxSeqLength(mdir, cfg), d.padId());
      }
    }
    throw new InvalidModelException(root.resolve("modules.json") + ": no Transformer module");
  }

  /** sentence_bert_config.json's max_seq_length (else the encoder's positions, else 512), checked. */
  private static int maxSeqLength(Path mdir, JsonNode cfg) {
    JsonNode st = Files.isRegularFile(mdir.resolve("sentence_bert_config.json"))
        ? readJson(mdir.resolve("sentence_bert_config.json")) : JSON.createObjectNode();
    int maxLen = st.path("max_seq_length").asInt(cfg.path("max_position_embeddings").asInt(512));
    if (maxLen < 2) {
      throw new InvalidModelException(mdir + ": max_seq_length " + maxLen + " leaves no room for any token");
    }
    if (st.path("do_lower_case").asBoolean(false)) {
      throw new InvalidModelException(mdir + ": do_lower_case=true in sentence_bert_config.json is not implemented");
    }
    return maxLen;
  }

  private static Device parseDevice(String device) {
    return Devices.parse(device);
  }

  /** The module's directory, which must lie inside the pipeline directory. */
  private static Path moduleDir(Path root, JsonNode mod) {
    Path mdir = root.resolve(mod.path("path").asText("")).normalize();
    if (!mdir.startsWith(root)) {
      throw new InvalidModelException(root.resolve("modules.json") + ": module path '" + mod.path("path").asText()
          + "' leaves the model directory");
    }
    return mdir;
  }

  private static String activationName(Path mdir) {
    String act = readJson(mdir.resolve("config.json")).path("activation_function").asText(DEFAULT_ACTIVATION);
    return act.substring(act.lastIndexOf('.') + 1);
  }

  /** sentence-transformers' Dense default activation. */
  private static final String DEFAULT_ACTIVATION = "torch.nn.modules.activation.Tanh";

  private static void requireAfter(boolean ok, Path dir, String type) {
    if (!ok) {
      throw new InvalidModelException(dir.resolve("modules.json") + ": a " + type + " module is out of place"
          + " (expected Transformer, Pooling, then Dense/Normalize)");
    }
  }

  private static Dense dense(Path mdir, long in, Device device) {
    JsonNode cfg = readJson(mdir.resolve("config.json"));
    int inF = cfg.path("in_features").asInt(-1);
    int outF = cfg.path("out_features").asInt(-1);
    boolean bias = cfg.path("bias").asBoolean(true);
    String act = cfg.path("activation_function").asText(DEFAULT_ACTIVATION);
    if (inF != in) {
      throw new InvalidModelException(mdir + ": Dense in_features " + inF + " does not match the incoming width " + in);
    }
    if (outF < 1) {
      throw new InvalidModelException(mdir + ": Dense out_features is missing or not positive");
    }
    Activation a;
    boolean relu = false;
    switch (act) {
      case "torch.nn.modules.linear.Identity":
        a = Activation.IDENTITY;
        break;
      case "torch.nn.modules.activation.Tanh":
        a = Activation.TANH;
        break;
      case "torch.nn.modules.activation.GELU":
        a = Activation.GELU;
        break;
      case "torch.nn.modules.activation.ReLU":
        a = Activation.IDENTITY;
        relu = true;
        break;
      default:
        throw new InvalidModelException(mdir + ": Dense activation_function '" + act
            + "' is not supported (Identity, Tanh, ReLU, GELU)");
    }
    Path wf = firstExisting(mdir, "model.safetensors", "pytorch_model.bin");
    Map<String, Tensor> w = read(wf);
    Map<String, long[]> expected = new LinkedHashMap<>();
    expected.put("linear.weight", new long[] {outF, inF});
    if (bias) {
      expected.put("linear.bias", new long[] {outF});
    }
    BertFamilyEncoder.validate(expected, w, wf);
    // Same device and dtype as the encoder: float32 on the pipeline's device.
    Tensor weight = w.get("linear.weight").to(device, ScalarType.Float).contiguous();
    Tensor b = bias ? w.get("linear.bias").to(device, ScalarType.Float).contiguous() : null;
    EmbeddingHead head = relu ? null
        : EmbeddingHead.builder(weight).layout(WeightLayout.OUT_IN).bias(b).activation(a).normalize(false).build();
    return new Dense(head, weight, b, relu, outF);
  }

  private static Path firstExisting(Path dir, String... names) {
    for (String n : names) {
      if (Files.isRegularFile(dir.resolve(n))) {
        return dir.resolve(n);
      }
    }
    throw new InvalidModelException(dir + ": no weights (expected " + String.join(" or ", names) + ")");
  }

  private static Map<String, Tensor> read(Path file) {
    try (StateDict sd = CheckpointReader.read(file)) {
      return StateDictTensors.toTensors(sd);
    }
  }

  private static JsonNode readJson(Path file) {
    try {
      JsonNode n = JSON.readTree(file.toFile());
      if (n == null) {
        throw new InvalidModelException(file + ": empty JSON");
      }
      return n;
    } catch (IOException e) {
      throw new InvalidModelException(file + ": " + (Files.exists(file) ? "not valid JSON: " + e.getMessage() : "missing"), e);
    }
  }

  /** Output width (e.g. 512 for clip-ViT-B-32-multilingual-v1), computed from the modules. */
  public long outputDim() {
    return outputDim;
  }

  /** The modules, in order, as loaded (e.g. "Dense(768 -> 512, Tanh)"). */
  public List<String> moduleDescriptions() {
    return descriptions;
  }

  /** Whether the pipeline ends in a Normalize module (its rows are then unit vectors). */
  public boolean normalizes() {
    return normalize;
  }

  /** The device the weights live on and {@link #embed} returns its tensors on. */
  public String device() {
    return device.str().getString();
  }

  /** The tokenizer (for token-level inspection); owned by the pipeline. */
  public StTokenizer tokenizer() {
    return tokenizer;
  }

  /**
   * Embeds texts: what sentence-transformers' {@code encode} returns, a new [N, D] float32
   * tensor on the pipeline's device, owned by the caller (rows in input order, unnormalised
   * unless the pipeline ends in a Normalize module). A batch is padded to its longest text;
   * padding does not change any row.
   *
   * @throws InvalidInputException if {@code texts} is empty
   * @throws dev.clip4j.NumericalException if the pipeline normalizes and a row is not a finite
   *     unit vector
   * @throws IllegalStateException after {@link #close()}
   */
  public Tensor embed(List<String> texts) {
    try (UseGuard.Use use = guard.enter()) {
      Encoded e = encode(texts);
      try (Engine.InferenceScope scope = Engine.inference()) {
        Tensor x = pool(e.hidden(), e.mask());
        for (Stage st : stages) {
          x = st.apply(x);
        }
        if (normalize) {
          dev.clip4j.internal.EmbeddingCheck.requireUnitRows(x, dir + ": text embeddings");
        }
        return x;
      }
    }
  }

  /** The encoder's last hidden state [N, L, width] and the attention mask [N, L] (int64) of a batch. */
  record Encoded(Tensor hidden, Tensor mask) {}

  /** Tokenizes and runs the encoder (no pooling); the caller is inside {@code guard} or is a test. */
  Encoded encode(List<String> texts) {
    Objects.requireNonNull(texts, "texts");
    if (texts.isEmpty()) {
      throw new InvalidInputException("no texts to embed");
    }
    for (int i = 0; i < texts.size(); i++) {
      Objects.requireNonNull(texts.get(i), "texts[" + i + "]");
    }
    StTokenizer.Batch b = tokenizer.batch(texts, encoder.padId());
    for (long id : b.ids()) {
      if (id < 0 || id >= encoder.vocab()) {
        throw new InvalidModelException(dir + ": the tokenizer produced id " + id + " outside the encoder's vocabulary of "
            + encoder.vocab());
      }
    }
    try (Engine.InferenceScope scope = Engine.inference()) {
      Tensor ids = longs(b.ids(), b.size(), b.length()).to(device, ScalarType.Long);
      Tensor mask = longs(b.mask(), b.size(), b.length()).to(device, ScalarType.Long);
      return new Encoded(encoder.forward(ids, mask), mask);
    }
  }

  /**
   * Encoder, pooling and the later modules on already tokenized rows: {@code ids} and {@code
   * mask} int64 [N, L] (any device; ids in the vocabulary, padding masked out). For the
   * micro-batching embedder; {@link #embed} is the same on tokenizer output.
   */
  public Tensor embedTokens(Tensor ids, Tensor mask) {
    try (UseGuard.Use use = guard.enter();
        Engine.InferenceScope scope = Engine.inference();
        Tensor i = ids.to(device, ScalarType.Long);
        Tensor m = mask.to(device, ScalarType.Long);
        Tensor h = encoder.forward(i, m)) {
      Tensor x = pool(h, m);
      for (Stage st : stages) {
        Tensor y = st.apply(x);
        if (y != x) {
          x.close(); // a stage's input is freed now, not at GC
        }
        x = y;
      }
      return x;
    }
  }

  /** The encoder's padding id. */
  public int padId() {
    return encoder.padId();
  }

  /** The encoder's vocabulary size: token ids are in [0, vocab). */
  public int vocab() {
    return encoder.vocab();
  }

  /** Number of weights of the encoder and the Dense modules. */
  public long parameterCount() {
    return parameterCount;
  }

  /** sentence-transformers' Pooling: the enabled modes, concatenated in its order. */
  private Tensor pool(Tensor h, Tensor mask) {
    Tensor m = mask.unsqueeze(-1).to(ScalarType.Float);
    List<Tensor> parts = new ArrayList<>();
    for (String mode : poolingModes) {
      switch (mode) {
        case "cls_token":
          parts.add(h.select(1, 0));
          break;
        case "max_tokens": {
          // Padding set to -1e9 before the max, as sentence-transformers does.
          Tensor masked = h.masked_fill(m.eq(new Scalar(0)).expand_as(h), new Scalar(-1e9));
          parts.add(masked.max(1).get0());
          break;
        }
        default: {
          Tensor sum = h.mul(m).sum(new long[] {1}, false, new ScalarTypeOptional());
          Tensor count = m.sum(new long[] {1}, false, new ScalarTypeOptional()).clamp_min(new Scalar(1e-9));
          parts.add(mode.equals("mean_tokens") ? sum.div(count) : sum.div(count.sqrt()));
        }
      }
    }
    return parts.size() == 1 ? parts.get(0) : torch.cat(new org.bytedeco.pytorch.TensorVector(parts.toArray(new Tensor[0])), 1);
  }

  private static Tensor longs(long[] data, int n, int len) {
    return dev.clip4j.internal.HostTensors.fromLongs(data, n, len);
  }

  /** Releases the encoder, tokenizer and weights; waits for embed calls in flight. Idempotent. */
  @Override
  public void close() {
    guard.close(() -> {
      stages.forEach(Stage::close);
      encoder.close();
      tokenizer.close();
    });
  }
}
