package dev.clip4j.text.st;

import com.fasterxml.jackson.databind.JsonNode;
import dev.clip4j.Engine;
import dev.clip4j.InvalidModelException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.bytedeco.pytorch.CompilationUnit;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.QualifiedName;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A Hugging Face DistilBERT encoder ({@code model_type: distilbert}) as TorchScript source
 * compiled with LibTorch: learned position embeddings, post-LN blocks, attention masked with the
 * attention mask (masked scores set to the float minimum, as HF does), exact-erf GELU, LayerNorm
 * eps 1e-12. Returns the last hidden state [N, L, dim]. Owns its module; thread-safe forwards.
 */
final class DistilBertEncoder implements AutoCloseable {
  private final JitModule module;
  private final int dim;
  private final int vocab;
  private final int maxPositions;

  private DistilBertEncoder(JitModule module, int dim, int vocab, int maxPositions) {
    this.module = module;
    this.dim = dim;
    this.vocab = vocab;
    this.maxPositions = maxPositions;
  }

  /** The expected weight shapes for {@code config} (HF key names, without a model prefix). */
  static Map<String, long[]> schema(int dim, int hidden, int layers, int vocab, int positions) {
    Map<String, long[]> s = new LinkedHashMap<>();
    s.put("embeddings.word_embeddings.weight", new long[] {vocab, dim});
    s.put("embeddings.position_embeddings.weight", new long[] {positions, dim});
    s.put("embeddings.LayerNorm.weight", new long[] {dim});
    s.put("embeddings.LayerNorm.bias", new long[] {dim});
    for (int i = 0; i < layers; i++) {
      String p = "transformer.layer." + i + ".";
      for (String lin : new String[] {"q_lin", "k_lin", "v_lin", "out_lin"}) {
        s.put(p + "attention." + lin + ".weight", new long[] {dim, dim});
        s.put(p + "attention." + lin + ".bias", new long[] {dim});
      }
      s.put(p + "sa_layer_norm.weight", new long[] {dim});
      s.put(p + "sa_layer_norm.bias", new long[] {dim});
      s.put(p + "ffn.lin1.weight", new long[] {hidden, dim});
      s.put(p + "ffn.lin1.bias", new long[] {hidden});
      s.put(p + "ffn.lin2.weight", new long[] {dim, hidden});
      s.put(p + "ffn.lin2.bias", new long[] {dim});
      s.put(p + "output_layer_norm.weight", new long[] {dim});
      s.put(p + "output_layer_norm.bias", new long[] {dim});
    }
    return s;
  }

  static DistilBertEncoder build(JsonNode config, Map<String, Tensor> weights, Path source) {
    if (!"distilbert".equals(config.path("model_type").asText())) {
      throw new InvalidModelException(source + ": encoder model_type '" + config.path("model_type").asText()
          + "' is not implemented (supported: distilbert)");
    }
    if (config.path("sinusoidal_pos_embds").asBoolean(false)) {
      throw new InvalidModelException(source + ": sinusoidal position embeddings are not implemented");
    }
    String act = config.path("activation").asText("gelu");
    if (!act.equals("gelu")) {
      throw new InvalidModelException(source + ": DistilBERT activation '" + act + "' is not implemented (gelu)");
    }
    int dim = config.path("dim").asInt(-1);
    int heads = config.path("n_heads").asInt(-1);
    int layers = config.path("n_layers").asInt(-1);
    int hidden = config.path("hidden_dim").asInt(-1);
    int vocab = config.path("vocab_size").asInt(-1);
    int positions = config.path("max_position_embeddings").asInt(-1);
    if (dim < 1 || heads < 1 || layers < 1 || hidden < 1 || vocab < 1 || positions < 1 || dim % heads != 0) {
      throw new InvalidModelException(source + ": config.json lacks valid dim/n_heads/n_layers/hidden_dim/vocab_size/max_position_embeddings");
    }
    Map<String, Tensor> w = stripPrefix(weights, "distilbert.");
    validate(schema(dim, hidden, layers, vocab, positions), w, source);
    Engine.ensureInitialized();
    CompilationUnit cu = new CompilationUnit();
    JitModule m = new JitModule(new QualifiedName("__torch__.clip4j.DistilBert"), cu, true);
    Map<String, String> names = new LinkedHashMap<>();
    int k = 0;
    for (String key : schema(dim, hidden, layers, vocab, positions).keySet()) {
      String n = "p" + k++;
      names.put(key, n);
      m.register_parameter(n, w.get(key).to(ScalarType.Float).detach().contiguous(), false);
    }
    m.define(source(names, dim, heads, layers));
    m.eval();
    return new DistilBertEncoder(torch.freeze(m), dim, vocab, positions);
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
    for (Map.Entry<String, long[]> e : expected.entrySet()) {
      Tensor t = w.get(e.getKey());
      if (t == null) {
        missing.add(e.getKey() + " " + java.util.Arrays.toString(e.getValue()));
      } else if (!java.util.Arrays.equals(t.sizes().vec().get(), e.getValue())) {
        shapes.add(e.getKey() + ": expected " + java.util.Arrays.toString(e.getValue()) + ", found "
            + java.util.Arrays.toString(t.sizes().vec().get()));
      }
    }
    for (String key : new TreeSet<>(w.keySet())) {
      if (!expected.containsKey(key)) {
        unexpected.add(key);
      }
    }
    if (!missing.isEmpty() || !unexpected.isEmpty() || !shapes.isEmpty()) {
      StringBuilder sb = new StringBuilder(source + ": the weights do not match the encoder's config.json:");
      if (!missing.isEmpty()) {
        sb.append("\n  ").append(missing.size()).append(" missing: ").append(String.join(", ", missing));
      }
      if (!unexpected.isEmpty()) {
        sb.append("\n  ").append(unexpected.size()).append(" unexpected: ").append(String.join(", ", unexpected));
      }
      if (!shapes.isEmpty()) {
        sb.append("\n  ").append(shapes.size()).append(" mis-shaped: ").append(String.join("; ", shapes));
      }
      throw new InvalidModelException(sb.toString());
    }
  }

  private static String source(Map<String, String> n, int dim, int heads, int layers) {
    int dh = dim / heads;
    StringBuilder s = new StringBuilder();
    s.append("def forward(self, ids: Tensor, mask: Tensor) -> Tensor:\n");
    s.append("    N = ids.size(0)\n    L = ids.size(1)\n");
    s.append("    pos = torch.arange(L, device=ids.device)\n");
    s.append("    x = torch.embedding(self.").append(n.get("embeddings.word_embeddings.weight")).append(", ids)")
        .append(" + torch.embedding(self.").append(n.get("embeddings.position_embeddings.weight")).append(", pos).unsqueeze(0)\n");
    s.append("    x = torch.layer_norm(x, [").append(dim).append("], self.").append(n.get("embeddings.LayerNorm.weight"))
        .append(", self.").append(n.get("embeddings.LayerNorm.bias")).append(", 1e-12)\n");
    s.append("    masked = (mask == 0).view([N, 1, 1, L])\n");
    for (int i = 0; i < layers; i++) {
      String p = "transformer.layer." + i + ".";
      String a = p + "attention.";
      s.append("    q = torch.linear(x, self.").append(n.get(a + "q_lin.weight")).append(", self.").append(n.get(a + "q_lin.bias"))
          .append(").view([N, L, ").append(heads).append(", ").append(dh).append("]).transpose(1, 2)\n");
      s.append("    k = torch.linear(x, self.").append(n.get(a + "k_lin.weight")).append(", self.").append(n.get(a + "k_lin.bias"))
          .append(").view([N, L, ").append(heads).append(", ").append(dh).append("]).transpose(1, 2)\n");
      s.append("    v = torch.linear(x, self.").append(n.get(a + "v_lin.weight")).append(", self.").append(n.get(a + "v_lin.bias"))
          .append(").view([N, L, ").append(heads).append(", ").append(dh).append("]).transpose(1, 2)\n");
      s.append("    q = q / ").append(Math.sqrt(dh)).append("\n");
      s.append("    scores = torch.matmul(q, k.transpose(2, 3))\n");
      s.append("    scores = scores.masked_fill(masked, -3.4028234663852886e+38)\n");
      s.append("    w = torch.softmax(scores, -1)\n");
      s.append("    c = torch.matmul(w, v).transpose(1, 2).reshape([N, L, ").append(dim).append("])\n");
      s.append("    c = torch.linear(c, self.").append(n.get(a + "out_lin.weight")).append(", self.").append(n.get(a + "out_lin.bias")).append(")\n");
      s.append("    x = torch.layer_norm(c + x, [").append(dim).append("], self.").append(n.get(p + "sa_layer_norm.weight"))
          .append(", self.").append(n.get(p + "sa_layer_norm.bias")).append(", 1e-12)\n");
      s.append("    h = torch.gelu(torch.linear(x, self.").append(n.get(p + "ffn.lin1.weight")).append(", self.").append(n.get(p + "ffn.lin1.bias")).append("))\n");
      s.append("    h = torch.linear(h, self.").append(n.get(p + "ffn.lin2.weight")).append(", self.").append(n.get(p + "ffn.lin2.bias")).append(")\n");
      s.append("    x = torch.layer_norm(h + x, [").append(dim).append("], self.").append(n.get(p + "output_layer_norm.weight"))
          .append(", self.").append(n.get(p + "output_layer_norm.bias")).append(", 1e-12)\n");
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
