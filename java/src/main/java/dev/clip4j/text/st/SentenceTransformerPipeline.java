package dev.clip4j.text.st;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.Engine;
import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import dev.clip4j.head.EmbeddingHead;
import dev.clip4j.head.WeightLayout;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.StateDictTensors;
import dev.clip4j.internal.UseGuard;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A sentence-transformers text model loaded completely from its {@code modules.json}, every
 * module in order, or not at all. This is what makes the most-reported failure of multilingual
 * CLIP text towers impossible: a {@code clip-ViT-B-32-multilingual-v1} directory always goes
 * through its {@code 2_Dense} projection (768 → 512), and the output width is computed from the
 * modules and checked by a dummy forward at load.
 *
 * <p>Modules: {@code Transformer} (DistilBERT encoders, from HF {@code config.json} +
 * {@code model.safetensors}/{@code pytorch_model.bin}, tokenized with {@code tokenizer.json},
 * truncated to {@code max_seq_length}), {@code Pooling} (CLS, max, mean, mean-sqrt-len,
 * concatenated in sentence-transformers' order, honouring the attention mask), {@code Dense}
 * ({@code linear.weight}, optional {@code linear.bias}, Identity/Tanh/ReLU/GELU; run by clip4j's
 * fused head except ReLU), {@code Normalize}. Anything else is refused by name. Every weight of
 * every module is checked (missing, unexpected, mis-shaped keys listed at once).
 *
 * <p>Thread safety: {@link #embed} may run concurrently; {@link #close()} waits for it.
 */
public final class SentenceTransformerPipeline implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path dir;
  private final StTokenizer tokenizer;
  private final BertFamilyEncoder encoder;
  private final List<String> poolingModes;
  private final List<Dense> dense;
  private final boolean normalize;
  private final long outputDim;
  private final List<String> descriptions;
  private final UseGuard guard = new UseGuard("SentenceTransformerPipeline");

  /** One Dense module: y = act(x W^T + b). */
  private static final class Dense implements AutoCloseable {
    final EmbeddingHead head; // identity / tanh / gelu, no normalisation
    final Tensor weight;      // for ReLU
    final Tensor bias;
    final boolean relu;
    final int out;

    Dense(EmbeddingHead head, Tensor weight, Tensor bias, boolean relu, int out) {
      this.head = head;
      this.weight = weight;
      this.bias = bias;
      this.relu = relu;
      this.out = out;
    }

    Tensor apply(Tensor x) {
      if (!relu) {
        return head.apply(x);
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

  private final Device device;

  private SentenceTransformerPipeline(Path dir, StTokenizer tokenizer, BertFamilyEncoder encoder, List<String> poolingModes,
      List<Dense> dense, boolean normalize, long outputDim, List<String> descriptions, Device device) {
    this.device = device;
    this.dir = dir;
    this.tokenizer = tokenizer;
    this.encoder = encoder;
    this.poolingModes = poolingModes;
    this.dense = dense;
    this.normalize = normalize;
    this.outputDim = outputDim;
    this.descriptions = List.copyOf(descriptions);
  }

  /** Loads the pipeline in {@code dir} (which holds {@code modules.json}) on the CPU. */
  public static SentenceTransformerPipeline load(Path dir) {
    return load(dir, "cpu");
  }

  /**
   * Loads the pipeline on {@code device} ("cpu", "cuda", "cuda:N"): the encoder and every Dense
   * layer are placed on that device in float32, so no layer stays behind on the CPU.
   */
  public static SentenceTransformerPipeline load(Path dir, String device) {
    Engine.ensureInitialized();
    Device dev;
    try {
      dev = new Device(device);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("invalid device '" + device + "'", e);
    }
    JsonNode modules = readJson(dir.resolve("modules.json"));
    if (!modules.isArray() || modules.isEmpty()) {
      throw new InvalidModelException(dir.resolve("modules.json") + ": expected a non-empty list of modules");
    }
    List<JsonNode> ordered = new ArrayList<>();
    modules.forEach(ordered::add);
    ordered.sort(Comparator.comparingInt(n -> n.path("idx").asInt()));
    StTokenizer tokenizer = null;
    BertFamilyEncoder encoder = null;
    List<String> pooling = null;
    List<Dense> dense = new ArrayList<>();
    boolean normalize = false;
    long dim = -1;
    List<String> desc = new ArrayList<>();
    try {
      for (JsonNode mod : ordered) {
        String type = mod.path("type").asText();
        String short_ = type.substring(type.lastIndexOf('.') + 1);
        Path mdir = dir.resolve(mod.path("path").asText(""));
        switch (type) {
          case "sentence_transformers.models.Transformer": {
            if (encoder != null) {
              throw new InvalidModelException(dir + ": more than one Transformer module");
            }
            JsonNode st = Files.isRegularFile(mdir.resolve("sentence_bert_config.json"))
                ? readJson(mdir.resolve("sentence_bert_config.json")) : JSON.createObjectNode();
            JsonNode cfg = readJson(mdir.resolve("config.json"));
            int maxLen = st.path("max_seq_length").asInt(cfg.path("max_position_embeddings").asInt(512));
            if (st.path("do_lower_case").asBoolean(false)) {
              throw new InvalidModelException(mdir + ": do_lower_case=true in sentence_bert_config.json is not implemented");
            }
            Path weights = firstExisting(mdir, "model.safetensors", "pytorch_model.bin");
            Map<String, Tensor> w = read(weights);
            encoder = BertFamilyEncoder.build(cfg, w, weights, dev);
            if (maxLen > encoder.maxPositions()) {
              throw new InvalidModelException(mdir + ": max_seq_length " + maxLen + " exceeds max_position_embeddings " + encoder.maxPositions());
            }
            tokenizer = new StTokenizer(mdir, maxLen);
            dim = encoder.dim();
            desc.add("Transformer(" + cfg.path("model_type").asText() + ", width " + dim + ", max_seq_length " + maxLen + ")");
            break;
          }
          case "sentence_transformers.models.Pooling": {
            requireAfter(encoder != null && pooling == null, dir, short_);
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
            desc.add("Pooling(" + String.join("+", pooling) + ")");
            break;
          }
          case "sentence_transformers.models.Dense": {
            requireAfter(pooling != null, dir, short_);
            Dense d = dense(mdir, dim, dev);
            dense.add(d);
            dim = d.out;
            desc.add("Dense(" + (dense.size()) + ": -> " + dim + ")");
            break;
          }
          case "sentence_transformers.models.Normalize":
            requireAfter(pooling != null, dir, short_);
            normalize = true;
            desc.add("Normalize");
            break;
          default:
            throw new InvalidModelException(dir.resolve("modules.json") + ": module type '" + type
                + "' is not supported (Transformer, Pooling, Dense, Normalize)");
        }
      }
      if (encoder == null || pooling == null) {
        throw new InvalidModelException(dir + ": modules.json needs a Transformer and a Pooling module");
      }
      SentenceTransformerPipeline p = new SentenceTransformerPipeline(dir, tokenizer, encoder, pooling, dense, normalize, dim, desc, dev);
      long got = p.embed(List.of("clip4j")).size(1);
      if (got != dim) {
        p.close();
        throw new InvalidModelException(dir + ": dummy forward gave width " + got + ", the modules say " + dim);
      }
      return p;
    } catch (RuntimeException e) {
      if (tokenizer != null) {
        tokenizer.close();
      }
      if (encoder != null) {
        encoder.close();
      }
      dense.forEach(Dense::close);
      throw e;
    }
  }

  private static void requireAfter(boolean ok, Path dir, String type) {
    if (!ok) {
      throw new InvalidModelException(dir.resolve("modules.json") + ": a " + type + " module is out of place"
          + " (expected Transformer, Pooling, then Dense/Normalize)");
    }
  }

  private static Dense dense(Path mdir, long in, Device dev) {
    JsonNode cfg = readJson(mdir.resolve("config.json"));
    int inF = cfg.path("in_features").asInt(-1);
    int outF = cfg.path("out_features").asInt(-1);
    boolean bias = cfg.path("bias").asBoolean(true);
    String act = cfg.path("activation_function").asText("torch.nn.modules.activation.Tanh");
    if (inF != in || outF < 1) {
      throw new InvalidModelException(mdir + ": Dense in_features " + inF + " does not match the incoming width " + in
          + (outF < 1 ? " (or out_features is missing)" : ""));
    }
    Path wf = firstExisting(mdir, "model.safetensors", "pytorch_model.bin");
    Map<String, Tensor> w = read(wf);
    Map<String, long[]> expected = new LinkedHashMap<>();
    expected.put("linear.weight", new long[] {outF, inF});
    if (bias) {
      expected.put("linear.bias", new long[] {outF});
    }
    BertFamilyEncoder.validate(expected, w, wf);
    Tensor weight = w.get("linear.weight").to(dev, ScalarType.Float).contiguous();
    Tensor b = bias ? w.get("linear.bias").to(dev, ScalarType.Float).contiguous() : null;
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

  /** Output width (e.g. 512 for clip-ViT-B-32-multilingual-v1). */
  public long outputDim() {
    return outputDim;
  }

  /** The modules, in order, as loaded. */
  public List<String> moduleDescriptions() {
    return descriptions;
  }

  /** Whether the pipeline ends in a Normalize module. */
  public boolean normalizes() {
    return normalize;
  }

  /** The tokenizer (for token-level inspection). */
  public StTokenizer tokenizer() {
    return tokenizer;
  }

  /**
   * Embeds texts: what sentence-transformers' {@code encode} returns ([N, D] float32,
   * unnormalised unless the pipeline has a Normalize module). A batch is padded to its longest
   * text; padding does not change any row.
   */
  public Tensor embed(List<String> texts) {
    Objects.requireNonNull(texts, "texts");
    if (texts.isEmpty()) {
      throw new InvalidInputException("no texts to embed");
    }
    try (UseGuard.Use use = guard.enter()) {
      StTokenizer.Batch b = tokenizer.batch(texts);
      for (long id : b.ids()) {
        if (id < 0 || id >= encoder.vocab()) {
          throw new InvalidInputException(dir + ": the tokenizer produced id " + id + " outside the encoder's vocabulary");
        }
      }
      try (Engine.InferenceScope scope = Engine.inference()) {
        Tensor ids = longs(b.ids(), b.size(), b.length()).to(device, ScalarType.Long);
        Tensor mask = longs(b.mask(), b.size(), b.length()).to(device, ScalarType.Long);
        Tensor h = encoder.forward(ids, mask);
        Tensor x = pool(h, mask);
        for (Dense d : dense) {
          x = d.apply(x.contiguous());
        }
        if (normalize) {
          x = x.div(x.norm(new ScalarOptional(new Scalar(2.0)), new long[] {1}, true).clamp_min(new Scalar(1e-12)));
        }
        return x;
      }
    }
  }

  private Tensor pool(Tensor h, Tensor mask) {
    Tensor m = mask.unsqueeze(-1).to(ScalarType.Float);
    List<Tensor> parts = new ArrayList<>();
    for (String mode : poolingModes) {
      switch (mode) {
        case "cls_token":
          parts.add(h.select(1, 0));
          break;
        case "max_tokens": {
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
    LongPointer p = new LongPointer(data);
    try {
      return torch.from_blob(p, new long[] {n, len}, new TensorOptions(ScalarType.Long)).clone();
    } finally {
      p.close();
    }
  }

  @Override
  public void close() {
    guard.close(() -> {
      dense.forEach(Dense::close);
      encoder.close();
      tokenizer.close();
    });
  }
}
