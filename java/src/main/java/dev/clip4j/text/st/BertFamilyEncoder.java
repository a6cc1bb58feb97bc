package dev.clip4j.text.st;

import com.fasterxml.jackson.databind.JsonNode;
import dev.clip4j.Engine;
import dev.clip4j.InvalidModelException;
import dev.clip4j.internal.Messages;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.bytedeco.pytorch.CompilationUnit;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.QualifiedName;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The BERT-family encoders of sentence-transformers CLIP text towers, from HF {@code config.json},
 * as TorchScript source compiled with LibTorch: {@code distilbert}, {@code bert} and {@code
 * xlm-roberta} (learned absolute positions; XLM-R's start after the padding index and skip
 * padding, as HF computes them), post-LN blocks, attention masked with the attention mask
 * (masked scores set to the float minimum), exact-erf GELU, the config's LayerNorm epsilon.
 * Returns the last hidden state [N, L, width]. Owns its module; thread-safe forwards.
 *
 * <p>Known keys that the encoder does not use are accepted and logged, never silently: BERT's
 * {@code pooler.*} (sentence-transformers pools itself) and the {@code embeddings.position_ids}
 * buffer older transformers versions saved. Every other key must match exactly.
 */
final class BertFamilyEncoder implements AutoCloseable {
  /** The architectures and their HF key names. */
  enum Arch {
    DISTILBERT("distilbert.", "embeddings.LayerNorm", "transformer.layer.", "attention.q_lin", "attention.k_lin",
        "attention.v_lin", "attention.out_lin", "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm"),
    BERT("bert.", "embeddings.LayerNorm", "encoder.layer.", "attention.self.query", "attention.self.key",
        "attention.self.value", "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
        "output.dense", "output.LayerNorm"),
    XLM_ROBERTA("roberta.", "embeddings.LayerNorm", "encoder.layer.", "attention.self.query", "attention.self.key",
        "attention.self.value", "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
        "output.dense", "output.LayerNorm");

    final String prefix;
    final String embLn;
    final String layer;
    final String q;
    final String k;
    final String v;
    final String o;
    final String ln1;
    final String fc1;
    final String fc2;
    final String ln2;

    Arch(String prefix, String embLn, String layer, String q, String k, String v, String o, String ln1, String fc1,
        String fc2, String ln2) {
      this.prefix = prefix;
      this.embLn = embLn;
      this.layer = layer;
      this.q = q;
      this.k = k;
      this.v = v;
      this.o = o;
      this.ln1 = ln1;
      this.fc1 = fc1;
      this.fc2 = fc2;
      this.ln2 = ln2;
    }
  }

  /** Model dimensions read from config.json. */
  record Dims(Arch arch, int dim, int heads, int layers, int hidden, int vocab, int positions, int typeVocab,
      double eps, int padId) {}
  private final JitModule module;
  private final int dim;
  private final int vocab;
  private final int maxPositions;
  private final int padId;

  private BertFamilyEncoder(JitModule module, int dim, int vocab, int maxPositions, int padId) {
    this.module = module;
    this.dim = dim;
    this.vocab = vocab;
    this.maxPositions = maxPositions;
    this.padId = padId;
  }

  /** The expected weight shapes (HF key names, without a model prefix), in a fixed order. */
  static Map<String, long[]> schema(Dims d) {
    Arch a = d.arch();
    int dim = d.dim();
    Map<String, long[]> s = new LinkedHashMap<>();
    s.put("embeddings.word_embeddings.weight", new long[] {d.vocab(), dim});
    s.put("embeddings.position_embeddings.weight", new long[] {d.positions(), dim});
    if (a != Arch.DISTILBERT) {
      s.put("embeddings.token_type_embeddings.weight", new long[] {d.typeVocab(), dim});
    }
    s.put(a.embLn + ".weight", new long[] {dim});
    s.put(a.embLn + ".bias", new long[] {dim});
    for (int i = 0; i < d.layers(); i++) {
      String p = a.layer + i + ".";
      for (String lin : new String[] {a.q, a.k, a.v, a.o}) {
        s.put(p + lin + ".weight", new long[] {dim, dim});
        s.put(p + lin + ".bias", new long[] {dim});
      }
      s.put(p + a.ln1 + ".weight", new long[] {dim});
      s.put(p + a.ln1 + ".bias", new long[] {dim});
      s.put(p + a.fc1 + ".weight", new long[] {d.hidden(), dim});
      s.put(p + a.fc1 + ".bias", new long[] {d.hidden()});
      s.put(p + a.fc2 + ".weight", new long[] {dim, d.hidden()});
      s.put(p + a.fc2 + ".bias", new long[] {dim});
      s.put(p + a.ln2 + ".weight", new long[] {dim});
      s.put(p + a.ln2 + ".bias", new long[] {dim});
    }
    return s;
  }

  static Dims dims(JsonNode c, Path source) {
    String type = c.path("model_type").asText();
    Dims d;
    switch (type) {
      case "distilbert":
        if (c.path("sinusoidal_pos_embds").asBoolean(false)) {
          throw new InvalidModelException(source + ": sinusoidal position embeddings are not implemented");
        }
        checkAct(c.path("activation").asText("gelu"), source);
        d = new Dims(Arch.DISTILBERT, c.path("dim").asInt(-1), c.path("n_heads").asInt(-1), c.path("n_layers").asInt(-1),
            c.path("hidden_dim").asInt(-1), c.path("vocab_size").asInt(-1), c.path("max_position_embeddings").asInt(-1),
            0, 1e-12, c.path("pad_token_id").asInt(0));
        break;
      case "bert":
      case "xlm-roberta":
        checkAct(c.path("hidden_act").asText("gelu"), source);
        String pet = c.path("position_embedding_type").asText("absolute");
        if (!pet.equals("absolute")) {
          throw new InvalidModelException(source + ": position_embedding_type '" + pet + "' is not implemented (absolute)");
        }
        d = new Dims(type.equals("bert") ? Arch.BERT : Arch.XLM_ROBERTA, c.path("hidden_size").asInt(-1),
            c.path("num_attention_heads").asInt(-1), c.path("num_hidden_layers").asInt(-1),
            c.path("intermediate_size").asInt(-1), c.path("vocab_size").asInt(-1),
            c.path("max_position_embeddings").asInt(-1), c.path("type_vocab_size").asInt(2),
            c.path("layer_norm_eps").asDouble(1e-12), c.path("pad_token_id").asInt(type.equals("bert") ? 0 : 1));
        break;
      default:
        throw new InvalidModelException(source + ": encoder model_type '" + type
            + "' is not implemented (supported: distilbert, bert, xlm-roberta)");
    }
    if (d.dim() < 1 || d.heads() < 1 || d.layers() < 1 || d.hidden() < 1 || d.vocab() < 1 || d.positions() < 1
        || d.dim() % d.heads() != 0 || (d.arch() != Arch.DISTILBERT && d.typeVocab() < 1)
        || d.padId() < 0 || d.padId() >= d.vocab()
        || (d.arch() == Arch.XLM_ROBERTA && d.positions() - d.padId() - 1 < 1)) {
      throw new InvalidModelException(source + ": config.json lacks valid encoder dimensions (width, heads, layers,"
          + " intermediate size, vocab size, max positions, pad_token_id)");
    }
    return d;
  }

  private static void checkAct(String act, Path source) {
    if (!act.equals("gelu")) {
      throw new InvalidModelException(source + ": encoder activation '" + act + "' is not implemented (gelu)");
    }
  }

  /**
   * Builds the encoder of {@code config} from {@code weights} (HF key names, with or without the
   * architecture's prefix), every parameter converted to float32 on {@code device}.
   */
  static BertFamilyEncoder build(JsonNode config, Map<String, Tensor> weights, Path source, Device device) {
    Dims d = dims(config, source);
    Map<String, Tensor> w = new LinkedHashMap<>(stripPrefix(weights, d.arch().prefix));
    for (String unused : new TreeSet<>(w.keySet())) {
      if ((d.arch() != Arch.DISTILBERT && unused.startsWith("pooler.")) || unused.equals("embeddings.position_ids")) {
        System.getLogger(BertFamilyEncoder.class.getName()).log(System.Logger.Level.INFO,
            source + ": ignoring '" + unused + "' (not used by a sentence-transformers encoder)");
        w.remove(unused);
      }
    }
    // The layer count comes from a few bytes of JSON: bound it by the weights before expanding
    // names (16 tensors per layer, 4 or 5 outside the layers).
    long expected = 16L * d.layers() + 5;
    if (expected > w.size() + 4096L) {
      throw new InvalidModelException(source + ": config.json's " + d.layers() + " layers need " + expected
          + " tensors, the weights hold " + w.size() + ": the config cannot describe these weights");
    }
    Map<String, long[]> schema = schema(d);
    validate(schema, w, source);
    Engine.ensureInitialized();
    CompilationUnit cu = new CompilationUnit();
    JitModule m = new JitModule(new QualifiedName("__torch__.clip4j.TextEncoder"), cu, true);
    Map<String, String> names = new LinkedHashMap<>();
    int k = 0;
    for (String key : schema.keySet()) {
      String n = "p" + k++;
      names.put(key, n);
      m.register_parameter(n, w.get(key).to(device, ScalarType.Float).detach().contiguous(), false);
    }
    m.define(source(names, d));
    m.eval();
    int positions = d.arch() == Arch.XLM_ROBERTA ? d.positions() - d.padId() - 1 : d.positions();
    return new BertFamilyEncoder(torch.freeze(m), d.dim(), d.vocab(), positions, d.padId());
  }

  private static Map<String, Tensor> stripPrefix(Map<String, Tensor> w, String prefix) {
    if (w.isEmpty() || !w.keySet().stream().allMatch(k -> k.startsWith(prefix))) {
      return w;
    }
    Map<String, Tensor> out = new LinkedHashMap<>();
    w.forEach((k, v) -> out.put(k.substring(prefix.length()), v));
    return out;
  }

  static void validate(Map<String, long[]> expected, Map<String, Tensor> w, Path source) {
    List<String> missing = new ArrayList<>();
    List<String> unexpected = new ArrayList<>();
    List<String> shapes = new ArrayList<>();
    List<String> dtypes = new ArrayList<>();
    for (Map.Entry<String, long[]> e : expected.entrySet()) {
      Tensor t = w.get(e.getKey());
      if (t == null) {
        missing.add(e.getKey() + " " + java.util.Arrays.toString(e.getValue()));
        continue;
      }
      if (!java.util.Arrays.equals(t.sizes().vec().get(), e.getValue())) {
        shapes.add(e.getKey() + ": expected " + java.util.Arrays.toString(e.getValue()) + ", found "
            + java.util.Arrays.toString(t.sizes().vec().get()));
      }
      if (!t.is_floating_point()) {
        dtypes.add(e.getKey() + " (" + t.scalar_type().intern() + ")");
      }
    }
    for (String key : new TreeSet<>(w.keySet())) {
      if (!expected.containsKey(key)) {
        unexpected.add(key);
      }
    }
    if (!missing.isEmpty() || !unexpected.isEmpty() || !shapes.isEmpty() || !dtypes.isEmpty()) {
      StringBuilder sb = new StringBuilder(source + ": the weights do not match the encoder's config.json:");
      if (!missing.isEmpty()) {
        sb.append("\n  ").append(missing.size()).append(" missing: ").append(Messages.capped(missing, ", "));
      }
      if (!unexpected.isEmpty()) {
        sb.append("\n  ").append(unexpected.size()).append(" unexpected: ").append(Messages.capped(unexpected, ", "));
      }
      if (!shapes.isEmpty()) {
        sb.append("\n  ").append(shapes.size()).append(" mis-shaped: ").append(Messages.capped(shapes, "; "));
      }
      if (!dtypes.isEmpty()) {
        sb.append("\n  ").append(dtypes.size()).append(" not floating point: ").append(Messages.capped(dtypes, ", "));
      }
      throw new InvalidModelException(sb.toString());
    }
  }

  private static String source(Map<String, String> n, Dims d) {
    Arch a = d.arch();
    int dim = d.dim();
    int heads = d.heads();
    int dh = dim / heads;
    String eps = Double.toString(d.eps());
    StringBuilder s = new StringBuilder();
    s.append("def forward(self, ids: Tensor, mask: Tensor) -> Tensor:\n");
    s.append("    N = ids.size(0)\n    L = ids.size(1)\n");
    if (a == Arch.XLM_ROBERTA) {
      // HF create_position_ids_from_input_ids: padding_idx + cumsum over non-pad tokens.
      s.append("    keep = (ids != ").append(d.padId()).append(").long()\n");
      s.append("    pos = torch.cumsum(keep, 1) * keep + ").append(d.padId()).append("\n");
      s.append("    pe = torch.embedding(self.").append(n.get("embeddings.position_embeddings.weight")).append(", pos)\n");
    } else {
      s.append("    pos = torch.arange(L, device=ids.device)\n");
      s.append("    pe = torch.embedding(self.").append(n.get("embeddings.position_embeddings.weight")).append(", pos).unsqueeze(0)\n");
    }
    s.append("    x = torch.embedding(self.").append(n.get("embeddings.word_embeddings.weight")).append(", ids) + pe\n");
    if (a != Arch.DISTILBERT) {
      s.append("    x = x + self.").append(n.get("embeddings.token_type_embeddings.weight")).append("[0]\n");
    }
    s.append("    x = torch.layer_norm(x, [").append(dim).append("], self.").append(n.get(a.embLn + ".weight"))
        .append(", self.").append(n.get(a.embLn + ".bias")).append(", ").append(eps).append(")\n");
    s.append("    masked = (mask == 0).view([N, 1, 1, L])\n");
    for (int i = 0; i < d.layers(); i++) {
      String p = a.layer + i + ".";
      for (String[] qkv : new String[][] {{"q", a.q}, {"k", a.k}, {"v", a.v}}) {
        s.append("    ").append(qkv[0]).append(" = torch.linear(x, self.").append(n.get(p + qkv[1] + ".weight"))
            .append(", self.").append(n.get(p + qkv[1] + ".bias")).append(").view([N, L, ").append(heads).append(", ")
            .append(dh).append("]).transpose(1, 2)\n");
      }
      if (a == Arch.DISTILBERT) {
        s.append("    q = q / ").append(Math.sqrt(dh)).append("\n");
        s.append("    scores = torch.matmul(q, k.transpose(2, 3))\n");
      } else {
        s.append("    scores = torch.matmul(q, k.transpose(2, 3)) / ").append(Math.sqrt(dh)).append("\n");
      }
      s.append("    scores = scores.masked_fill(masked, -3.4028234663852886e+38)\n");
      s.append("    w = torch.softmax(scores, -1)\n");
      s.append("    c = torch.matmul(w, v).transpose(1, 2).reshape([N, L, ").append(dim).append("])\n");
      s.append("    c = torch.linear(c, self.").append(n.get(p + a.o + ".weight")).append(", self.").append(n.get(p + a.o + ".bias")).append(")\n");
      s.append("    x = torch.layer_norm(c + x, [").append(dim).append("], self.").append(n.get(p + a.ln1 + ".weight"))
          .append(", self.").append(n.get(p + a.ln1 + ".bias")).append(", ").append(eps).append(")\n");
      s.append("    h = torch.gelu(torch.linear(x, self.").append(n.get(p + a.fc1 + ".weight")).append(", self.").append(n.get(p + a.fc1 + ".bias")).append("))\n");
      s.append("    h = torch.linear(h, self.").append(n.get(p + a.fc2 + ".weight")).append(", self.").append(n.get(p + a.fc2 + ".bias")).append(")\n");
      s.append("    x = torch.layer_norm(h + x, [").append(dim).append("], self.").append(n.get(p + a.ln2 + ".weight"))
          .append(", self.").append(n.get(p + a.ln2 + ".bias")).append(", ").append(eps).append(")\n");
    }
    s.append("    return x\n");
    return s.toString();
  }

  int dim() {
    return dim;
  }

  int vocab() {
    return vocab;
  }

  int maxPositions() {
    return maxPositions;
  }

  /** The config's pad_token_id: what a batch is padded with. */
  int padId() {
    return padId;
  }

  /** Last hidden state [N, L, dim] for ids/mask [N, L] int64 (validated by the caller). */
  Tensor forward(Tensor ids, Tensor mask) {
    IValueVector args = new IValueVector(new IValue(ids), new IValue(mask));
    return module.forward(args).toTensor();
  }

  @Override
  public void close() {
    module.close();
  }
}
