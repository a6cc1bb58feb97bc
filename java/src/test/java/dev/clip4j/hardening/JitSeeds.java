package dev.clip4j.hardening;

import dev.clip4j.hardening.TorchScriptWriter.Module;
import dev.clip4j.hardening.TorchScriptWriter.Tensor;
import dev.clip4j.model.ModelConfig;
import dev.clip4j.model.StateDictSchema;
import dev.clip4j.model.io.DType;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A tiny TorchScript CLIP archive, written in code the way {@code torch.jit.save} writes open_clip's
 * scripted CLIP (class names, attribute order, fp16 weights as in OpenAI's archives, the
 * non-persistent {@code attn_mask}, recorded {@code num_heads}): the seed of the archive
 * reader's fuzz corpora and corruption-matrix entries. The tensor names and shapes are those of
 * {@link StateDictSchema} for {@link #CONFIG}, so the archive is a complete CLIP state.
 */
public final class JitSeeds {
  private JitSeeds() {}

  /** ViT 8 px / 4 px patches, width 8, 2 heads; text width 8, 2 heads, context 4, vocab 6; embed 4. */
  public static final String CONFIG = "{\"embed_dim\":4,\"quick_gelu\":true,"
      + "\"vision_cfg\":{\"image_size\":8,\"patch_size\":4,\"width\":8,\"head_width\":4,\"layers\":1},"
      + "\"text_cfg\":{\"context_length\":4,\"vocab_size\":6,\"width\":8,\"heads\":2,\"layers\":1}}";

  private static final String OC = "__torch__.open_clip.";
  private static final String NN = "__torch__.torch.nn.modules.";

  /** The configuration of the seed model. */
  public static ModelConfig config() {
    return ModelConfig.parse(CONFIG, "JitSeeds.CONFIG");
  }

  /** The module tree of the seed (a fresh copy): weights F16, attn_mask F32. */
  public static Module tinyClip() {
    return tinyClip(DType.F16, "QuickGELU");
  }

  /** The module tree with weights of {@code dtype} and MLP activation class {@code act}. */
  public static Module tinyClip(DType dtype, String act) {
    ModelConfig cfg = config();
    Random rng = new Random(20261203);
    Module root = new Module(OC + "model.CLIP");
    for (Map.Entry<String, long[]> e : StateDictSchema.of(cfg).shapes().entrySet()) {
      String[] path = e.getKey().split("\\.");
      Module m = root;
      StringBuilder at = new StringBuilder();
      for (int i = 0; i < path.length - 1; i++) {
        at.append(i == 0 ? "" : ".").append(path[i]);
        m = m.child(path[i], typeOf(at.toString(), path[i]));
      }
      long n = 1;
      for (long d : e.getValue()) {
        n *= d;
      }
      float[] v = new float[(int) n];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (rng.nextGaussian() * 0.1);
      }
      m.put(path[path.length - 1], new Tensor(dtype, v, e.getValue()));
    }
    // What a scripted open_clip CLIP also records: plain attributes, the causal mask, activation modules.
    root.put("training", false).put("context_length", 4L).put("vocab_size", 6L);
    float[] mask = new float[16];
    for (int i = 0; i < 4; i++) {
      for (int j = i + 1; j < 4; j++) {
        mask[i * 4 + j] = Float.NEGATIVE_INFINITY;
      }
    }
    root.put("attn_mask", new Tensor(DType.F32, mask, 4, 4));
    root.child("visual", OC + "transformer.VisionTransformer").put("output_dim", 4L).put("global_average_pool", false);
    for (String tower : new String[] {"visual.transformer", "transformer"}) {
      Module blocks = at(root, tower).child("resblocks", NN + "container.ModuleList");
      for (Object o : blocks.attrs.values()) {
        Module block = (Module) o;
        block.child("attn", NN + "activation.MultiheadAttention").put("num_heads", 2L).put("head_dim", 4L)
            .put("batch_first", false).put("dropout", 0.0);
        Module gelu = new Module(act.equals("GELU") ? NN + "activation.GELU" : OC + "transformer." + act)
            .put("training", false);
        if (act.equals("GELU")) {
          gelu.put("approximate", "none");
        }
        block.child("mlp", NN + "container.Sequential").put("gelu", gelu);
      }
    }
    return root;
  }

  private static Module at(Module root, String dotted) {
    Module m = root;
    for (String p : dotted.split("\\.")) {
      m = (Module) m.attrs.get(p);
    }
    return m;
  }

  private static String typeOf(String path, String name) {
    if (name.matches("\\d+")) {
      return OC + "transformer.ResidualAttentionBlock";
    }
    switch (name) {
      case "visual": return OC + "transformer.VisionTransformer";
      case "transformer": return OC + "transformer.Transformer";
      case "resblocks": return NN + "container.ModuleList";
      case "attn": return NN + "activation.MultiheadAttention";
      case "out_proj": return NN + "linear.NonDynamicallyQuantizableLinear";
      case "mlp": return NN + "container.Sequential";
      case "c_fc":
      case "c_proj": return NN + "linear.Linear";
      case "conv1": return NN + "conv.Conv2d";
      case "token_embedding": return NN + "sparse.Embedding";
      default:
        if (name.startsWith("ln_")) {
          return OC + "transformer.LayerNorm";
        }
        throw new IllegalArgumentException("no class for " + path);
    }
  }

  /** Python the archive's code/ would hold (clip4j never reads it). */
  public static Map<String, String> code() {
    Map<String, String> c = new LinkedHashMap<>();
    c.put("__torch__/open_clip/model.py", "class CLIP(Module):\n  __parameters__ = [\"positional_embedding\", ]\n"
        + "  def forward(self: __torch__.open_clip.model.CLIP) -> None:\n    return None\n");
    return c;
  }

  /** The archive's bytes. */
  public static byte[] archive() {
    return TorchScriptWriter.bytes(tinyClip(), code());
  }

  /** The stored members of the archive (data.pkl, constants.pkl, version, storages). */
  public static Map<String, byte[]> members() {
    return TorchScriptWriter.members(tinyClip());
  }

  /** The archive's data.pkl. */
  public static byte[] pickle() {
    List<Tensor> storages = new ArrayList<>();
    return TorchScriptWriter.pickle(tinyClip(), storages);
  }
}
