package dev.clip4j.model;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What an OpenAI-layout CLIP state dict (OpenAI's {@code clip} archives, and open_clip's own
 * state dicts, which use the same names) says about its model when no configuration comes with
 * it: the architecture, inferred from the tensor shapes as open_clip 2.20's {@code
 * build_model_from_openai_state_dict} infers it, and the MLP activation, from the module classes
 * a TorchScript archive records.
 *
 * <p>Example, with an archive read by {@link dev.clip4j.model.io.JitArchiveReader}:
 *
 * <pre>{@code
 * try (JitArchive a = JitArchiveReader.read(Path.of("ViT-B-32.pt"))) {
 *   ModelConfig config = OpenAiCheckpoints.inferConfig(a.shapes(), a.intAttributes(), a.source().toString());
 *   MlpActivation act = OpenAiCheckpoints.activationFromModuleTypes(a.moduleTypes(), a.source().toString());
 * }
 * }</pre>
 *
 * <p>Stateless; thread-safe.
 */
public final class OpenAiCheckpoints {
  /** open_clip's {@code CLIPVisionCfg.head_width}, and OpenAI's {@code heads = width // 64}. */
  static final int OPENAI_HEAD_WIDTH = 64;
  /** Largest image side accepted (pixels). */
  static final int MAX_IMAGE = 1 << 16;

  private static final Pattern VISION_BLOCK = Pattern.compile("^visual\\.transformer\\.resblocks\\.(\\d+)\\.attn\\.in_proj_weight$");
  private static final Pattern MANGLE = Pattern.compile("\\.___torch_mangle_\\d+(?=\\.)");

  private OpenAiCheckpoints() {}

  /**
   * The configuration of a ViT CLIP state dict with OpenAI's names, as open_clip's {@code
   * build_model_from_openai_state_dict} infers it: vision width and patch from {@code
   * visual.conv1.weight}, layers from the {@code visual.*.attn.in_proj_weight} keys, grid and
   * image size from {@code visual.positional_embedding}, embed dim from {@code text_projection},
   * context length from {@code positional_embedding}, vocabulary from {@code
   * token_embedding.weight}, text width from {@code ln_final.weight}, text layers from the {@code
   * transformer.resblocks.N} keys; heads {@code width / 64} in both towers, MLP ratio 4, no
   * LayerScale, class-token pooling. Stricter than open_clip where it would build something else
   * than the weights describe: block indices must run 0..n-1, the positional embedding must be a
   * square grid plus the class token, the tower widths must agree, and a width that is not a
   * multiple of 64 is refused (the number of heads cannot be told from weights; see {@link
   * #inferConfig(Map, Map, String)}). {@link ModelConfig#quickGelu()} is null: the activation is
   * not in the shapes ({@link #activationFromModuleTypes}).
   *
   * @param shapes tensor name to shape
   * @param source names the checkpoint in messages and in {@link ModelConfig#source()}
   * @throws Clip4jException with {@link ErrorCode#UNSUPPORTED} for an OpenAI ResNet CLIP (RN50,
   *     RN101, RN50x4, RN50x16, RN50x64): see {@link #inferResNetConfig}
   * @throws InvalidModelException listing every problem when the shapes are not those of a ViT
   *     CLIP state dict
   */
  public static ModelConfig inferConfig(Map<String, long[]> shapes, String source) {
    return inferConfig(shapes, Map.of(), source);
  }

  /**
   * {@link #inferConfig(Map, String)}, also using the integer attributes a TorchScript archive
   * records ({@link dev.clip4j.model.io.JitArchive#intAttributes()}): where the archive records the attention
   * modules' {@code num_heads} (a scripted model does; OpenAI's traced archives do not), those
   * give the heads instead of {@code width / 64}, and must agree across the layers and divide the
   * width; recorded {@code context_length}, {@code vocab_size} and {@code input_resolution} must
   * equal what the shapes say.
   *
   * @param intAttributes attribute path to value (may be empty)
   */
  public static ModelConfig inferConfig(Map<String, long[]> shapes, Map<String, Long> intAttributes, String source) {
    Objects.requireNonNull(shapes, "shapes");
    Objects.requireNonNull(intAttributes, "intAttributes");
    Objects.requireNonNull(source, "source");
    if (!shapes.containsKey("visual.proj")) {
      if (shapes.keySet().stream().anyMatch(k -> k.startsWith("visual.layer1."))) {
        throw new Clip4jException(ErrorCode.UNSUPPORTED, source + ": this is an OpenAI ResNet CLIP (RN50, RN101,"
            + " RN50x4, RN50x16, RN50x64: visual.layer1-4 and visual.attnpool), not a ViT one: its configuration is"
            + " inferred by inferResNetConfig (ClipModel.load reads both)");
      }
      List<String> visual = shapes.keySet().stream().filter(k -> k.startsWith("visual.")).limit(3).toList();
      throw new InvalidModelException(source + ": not an OpenAI-layout CLIP state dict: no visual.proj (ViT)"
          + " and no visual.layer1.* (ResNet); " + (visual.isEmpty() ? "no visual.* tensors at all"
          : "visual tensors such as " + visual));
    }
    List<String> problems = new ArrayList<>();
    long[] conv = dims(shapes, "visual.conv1.weight", 4, problems);
    long[] vpos = dims(shapes, "visual.positional_embedding", 2, problems);
    long[] vproj = dims(shapes, "visual.proj", 2, problems);
    long[] tproj = dims(shapes, "text_projection", 2, problems);
    long[] tpos = dims(shapes, "positional_embedding", 2, problems);
    long[] tok = dims(shapes, "token_embedding.weight", 2, problems);
    long[] lnf = dims(shapes, "ln_final.weight", 1, problems);

    int visionWidth = 0;
    int patch = 0;
    int grid = 0;
    if (conv != null) {
      visionWidth = positive(conv[0], "visual.conv1.weight", problems);
      patch = positive(conv[3], "visual.conv1.weight", problems);
      if (conv[1] != 3 || conv[2] != conv[3]) {
        problems.add("visual.conv1.weight is " + Arrays.toString(conv) + ", not [width, 3, patch, patch]");
      }
    }
    if (vpos != null) {
      long tokens = vpos[0];
      long g = Math.round(Math.sqrt(Math.max(0, tokens - 1)));
      if (tokens < 2 || g * g + 1 != tokens) {
        problems.add("visual.positional_embedding has " + tokens + " rows, not a square grid of patches plus the class token");
      } else if (patch > 0 && g * patch > MAX_IMAGE) {
        problems.add("the image size " + g * patch + " (a " + g + "x" + g + " grid of " + patch + " px patches) is larger than "
            + MAX_IMAGE);
      } else {
        grid = (int) g;
      }
      if (conv != null && vpos[1] != conv[0]) {
        problems.add("visual.positional_embedding is " + vpos[1] + " wide but visual.conv1.weight makes " + conv[0] + " channels");
      }
    }
    int embedDim = 0;
    if (tproj != null) {
      embedDim = positive(tproj[1], "text_projection", problems);
    }
    if (vproj != null) {
      if (conv != null && vproj[0] != conv[0]) {
        problems.add("visual.proj has " + vproj[0] + " rows but the vision width is " + conv[0]);
      }
      if (tproj != null && vproj[1] != tproj[1]) {
        problems.add("visual.proj projects to " + vproj[1] + " but text_projection to " + tproj[1]);
      }
    }
    int context = tpos == null ? 0 : positive(tpos[0], "positional_embedding", problems);
    int vocab = tok == null ? 0 : positive(tok[0], "token_embedding.weight", problems);
    int textWidth = lnf == null ? 0 : positive(lnf[0], "ln_final.weight", problems);
    if (lnf != null) {
      for (long[] d : new long[][] {tpos, tok}) {
        if (d != null && d[1] != lnf[0]) {
          problems.add((d == tpos ? "positional_embedding" : "token_embedding.weight") + " is " + d[1]
              + " wide but ln_final.weight is " + lnf[0]);
        }
      }
      if (tproj != null && tproj[0] != lnf[0]) {
        problems.add("text_projection has " + tproj[0] + " rows but the text width is " + lnf[0]);
      }
    }

    // Layers: OpenAI/open_clip count visual.*.attn.in_proj_weight keys and transformer.resblocks.N indices.
    TreeSet<Integer> visionBlocks = new TreeSet<>();
    TreeSet<Integer> textBlocks = new TreeSet<>();
    for (String k : shapes.keySet()) {
      if (k.startsWith("visual.") && k.endsWith(".attn.in_proj_weight")) {
        Matcher m = VISION_BLOCK.matcher(k);
        if (!m.matches() || m.group(1).length() > 6) {
          problems.add("attention weights at " + k + ", outside visual.transformer.resblocks.N");
        } else {
          visionBlocks.add(Integer.parseInt(m.group(1)));
        }
      }
      if (k.startsWith("transformer.resblocks")) {
        String[] parts = k.split("\\.", -1);
        if (parts.length < 4 || !parts[1].equals("resblocks") || !parts[2].matches("\\d{1,6}")) {
          problems.add("unexpected text block key " + k);
        } else {
          textBlocks.add(Integer.parseInt(parts[2]));
        }
      }
    }
    int visionLayers = layers(visionBlocks, "visual.transformer.resblocks", problems);
    int textLayers = layers(textBlocks, "transformer.resblocks", problems);

    String visionHeadsFrom = "width / " + OPENAI_HEAD_WIDTH;
    String textHeadsFrom = visionHeadsFrom;
    int visionHeads = 0;
    int textHeads = 0;
    if (visionWidth > 0) {
      Integer recorded = recordedHeads(intAttributes, "visual.transformer.resblocks.", visionLayers, visionWidth, problems);
      visionHeadsFrom = recorded != null ? "the archive's num_heads" : visionHeadsFrom;
      visionHeads = recorded != null ? recorded : openAiHeads(visionWidth, "vision", problems);
    }
    if (textWidth > 0) {
      Integer recorded = recordedHeads(intAttributes, "transformer.resblocks.", textLayers, textWidth, problems);
      textHeadsFrom = recorded != null ? "the archive's num_heads" : textHeadsFrom;
      textHeads = recorded != null ? recorded : openAiHeads(textWidth, "text", problems);
    }

    agree(intAttributes, "context_length", context, "positional_embedding", problems);
    agree(intAttributes, "vocab_size", vocab, "token_embedding.weight", problems);
    agree(intAttributes, "input_resolution", (long) patch * grid, "visual.conv1.weight and visual.positional_embedding", problems);

    if (!problems.isEmpty()) {
      throw new InvalidModelException(source + ": cannot infer the CLIP architecture from the weights: "
          + String.join("; ", problems));
    }
    VisionConfig vision = new VisionConfig(patch * grid, patch, visionWidth, visionLayers, visionWidth / visionHeads,
        4.0, false, false, true);
    TextConfig text = new TextConfig(context, vocab, textWidth, textHeads, textLayers, 4.0, false);
    String how = source + " (architecture inferred from the weights' shapes as open_clip's"
        + " build_model_from_openai_state_dict; vision heads from " + visionHeadsFrom + ", text heads from "
        + textHeadsFrom + ")";
    return new ModelConfig(embedDim, null, vision, text, null, null, how);
  }

  /** Whether these shapes are an OpenAI-layout ResNet CLIP state dict (no visual.proj, visual.layer1.*). */
  public static boolean isResNet(Map<String, long[]> shapes) {
    return !shapes.containsKey("visual.proj") && shapes.keySet().stream().anyMatch(k -> k.startsWith("visual.layer1."));
  }

  private static final Pattern RESNET_BLOCK = Pattern.compile("^visual\\.layer([1-4])\\.(\\d{1,6})\\.");

  /**
   * The configuration of a ResNet CLIP state dict with OpenAI's names (RN50, RN101, RN50x4, ...),
   * as open_clip 2.20's {@code build_model_from_openai_state_dict} infers it: blocks per stage from
   * the {@code visual.layerN.M} indices (which must run 0..n-1), width from {@code
   * visual.layer1.0.conv1.weight}, image size from {@code visual.attnpool.positional_embedding}
   * (a square grid plus the query token, times 32), the attention pool's heads {@code width * 32 /
   * 64} (or the archive's recorded {@code visual.attnpool.num_heads}); the text side as for ViT
   * CLIPs. {@link ResNetConfig#quickGelu()} is null: the activation is not in the shapes.
   *
   * @throws InvalidModelException listing every problem
   */
  public static ResNetConfig inferResNetConfig(Map<String, long[]> shapes, Map<String, Long> intAttributes,
      String source) {
    Objects.requireNonNull(shapes, "shapes");
    Objects.requireNonNull(intAttributes, "intAttributes");
    List<String> problems = new ArrayList<>();
    List<TreeSet<Integer>> stages = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      stages.add(new TreeSet<>());
    }
    for (String k : shapes.keySet()) {
      Matcher m = RESNET_BLOCK.matcher(k);
      if (m.find()) {
        stages.get(Integer.parseInt(m.group(1)) - 1).add(Integer.parseInt(m.group(2)));
      }
    }
    List<Integer> layers = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      layers.add(layers(stages.get(i), "visual.layer" + (i + 1), problems));
    }
    long[] c1 = dims(shapes, "visual.layer1.0.conv1.weight", 4, problems);
    long[] apos = dims(shapes, "visual.attnpool.positional_embedding", 2, problems);
    long[] tproj = dims(shapes, "text_projection", 2, problems);
    long[] tpos = dims(shapes, "positional_embedding", 2, problems);
    long[] tok = dims(shapes, "token_embedding.weight", 2, problems);
    long[] lnf = dims(shapes, "ln_final.weight", 1, problems);
    int width = c1 == null ? 0 : positive(c1[0], "visual.layer1.0.conv1.weight", problems);
    if (width > ResNetConfig.MAX_WIDTH) {
      problems.add("visual.layer1.0.conv1.weight gives a width of " + width + ", more than " + ResNetConfig.MAX_WIDTH);
      width = 0;
    }
    int imageSize = 0;
    if (apos != null) {
      long tokens = apos[0];
      long g = Math.round(Math.sqrt(Math.max(0, tokens - 1)));
      if (tokens < 2 || g * g + 1 != tokens) {
        problems.add("visual.attnpool.positional_embedding has " + tokens + " rows, not a square grid plus the query token");
      } else if (g * 32 > MAX_IMAGE) {
        problems.add("the image size " + g * 32 + " is larger than " + MAX_IMAGE);
      } else {
        imageSize = (int) g * 32;
      }
    }
    int embedDim = tproj == null ? 0 : positive(tproj[1], "text_projection", problems);
    int context = tpos == null ? 0 : positive(tpos[0], "positional_embedding", problems);
    int vocab = tok == null ? 0 : positive(tok[0], "token_embedding.weight", problems);
    int textWidth = lnf == null ? 0 : positive(lnf[0], "ln_final.weight", problems);
    TreeSet<Integer> textBlocks = new TreeSet<>();
    for (String k : shapes.keySet()) {
      if (k.startsWith("transformer.resblocks")) {
        String[] parts = k.split("\\.", -1);
        if (parts.length < 4 || !parts[2].matches("\\d{1,6}")) {
          problems.add("unexpected text block key " + k);
        } else {
          textBlocks.add(Integer.parseInt(parts[2]));
        }
      }
    }
    int textLayers = layers(textBlocks, "transformer.resblocks", problems);
    int headWidth = OPENAI_HEAD_WIDTH;
    String poolHeadsFrom = "width * 32 / " + OPENAI_HEAD_WIDTH;
    Long poolHeads = intAttributes.get("visual.attnpool.num_heads");
    if (width > 0 && poolHeads != null) {
      if (poolHeads < 1 || (width * 32L) % poolHeads != 0) {
        problems.add("visual.attnpool.num_heads is " + poolHeads + ", which does not divide the pool width " + width * 32);
      } else {
        headWidth = (int) (width * 32L / poolHeads);
        poolHeadsFrom = "the archive's num_heads";
      }
    }
    int textHeads = 0;
    String textHeadsFrom = "width / " + OPENAI_HEAD_WIDTH;
    if (textWidth > 0) {
      Integer recorded = recordedHeads(intAttributes, "transformer.resblocks.", textLayers, textWidth, problems);
      textHeadsFrom = recorded != null ? "the archive's num_heads" : textHeadsFrom;
      textHeads = recorded != null ? recorded : openAiHeads(textWidth, "text", problems);
    }
    agree(intAttributes, "context_length", context, "positional_embedding", problems);
    agree(intAttributes, "vocab_size", vocab, "token_embedding.weight", problems);
    agree(intAttributes, "input_resolution", imageSize, "visual.attnpool.positional_embedding", problems);
    if (!problems.isEmpty()) {
      throw new InvalidModelException(source + ": cannot infer the ResNet CLIP architecture from the weights: "
          + String.join("; ", problems));
    }
    String how = source + " (ResNet CLIP inferred from the weights' shapes as open_clip's"
        + " build_model_from_openai_state_dict; attention-pool heads from " + poolHeadsFrom + ", text heads from "
        + textHeadsFrom + ")";
    TextConfig text = new TextConfig(context, vocab, textWidth, textHeads, textLayers, 4.0, false);
    return new ResNetConfig(embedDim, null, imageSize, layers, width, headWidth, text, null, how);
  }

  /**
   * The MLP activation from the module classes a TorchScript archive records ({@link
   * dev.clip4j.model.io.JitArchive#moduleTypes()}): a module whose class is called {@code QuickGELU} (open_clip's
   * {@code __torch__.open_clip.transformer.QuickGELU}, OpenAI's {@code
   * __torch__.multimodal.model.multimodal_transformer.QuickGELU}, ...) means quick_gelu; torch's
   * {@code __torch__.torch.nn.modules.activation.GELU} means gelu. TorchScript's {@code
   * ___torch_mangle_N} segments are ignored. Refused when neither is found, when both are, and
   * when a block's activation slot ({@code *.mlp.gelu}) holds another class. (Whether a torch GELU
   * uses the tanh approximation is a constant of the archive's code, not of its data: CLIP
   * models use the exact GELU, and open_clip builds {@code nn.GELU()}.)
   *
   * @param types module path to qualified class name
   * @param source names the archive in messages and in {@link MlpActivation#source()}
   * @throws InvalidModelException when the activation cannot be told or is contradictory
   */
  public static MlpActivation activationFromModuleTypes(Map<String, String> types, String source) {
    Objects.requireNonNull(types, "types");
    Objects.requireNonNull(source, "source");
    Map<String, String> quick = new TreeMap<>();
    Map<String, String> gelu = new TreeMap<>();
    List<String> unknown = new ArrayList<>();
    for (Map.Entry<String, String> e : types.entrySet()) {
      String path = e.getKey();
      String type = e.getValue();
      String plain = demangle(type);
      String simple = plain.substring(plain.lastIndexOf('.') + 1);
      if (simple.equals("QuickGELU")) {
        quick.put(path, type);
      } else if (plain.equals("__torch__.torch.nn.modules.activation.GELU")) {
        gelu.put(path, type);
      } else if (simple.equals("GELU") || path.endsWith(".mlp.gelu") || path.equals("mlp.gelu")) {
        unknown.add(path + " (" + type + ")");
      }
    }
    if (!unknown.isEmpty()) {
      throw new InvalidModelException(source + ": the MLP activation modules include classes clip4j does not"
          + " know: " + first(unknown) + "; it implements QuickGELU and torch's exact GELU");
    }
    if (!quick.isEmpty() && !gelu.isEmpty()) {
      throw new InvalidModelException(source + ": the archive records both QuickGELU modules ("
          + first(new ArrayList<>(quick.keySet())) + ") and GELU modules (" + first(new ArrayList<>(gelu.keySet()))
          + "); the MLP activation is contradictory");
    }
    if (quick.isEmpty() && gelu.isEmpty()) {
      throw new InvalidModelException(source + ": the archive records no QuickGELU or GELU module among its "
          + types.size() + " module types, so the MLP activation cannot be told; state it explicitly"
          + " (quick_gelu or gelu)");
    }
    boolean isQuick = !quick.isEmpty();
    Map<String, String> found = isQuick ? quick : gelu;
    Map.Entry<String, String> one = found.entrySet().iterator().next();
    return new MlpActivation(isQuick ? Activation.QUICK_GELU : Activation.GELU,
        source + ": module type " + one.getValue() + " at " + one.getKey()
            + (found.size() > 1 ? " (and " + (found.size() - 1) + " more " + (isQuick ? "QuickGELU" : "GELU") + " modules)" : ""));
  }

  /** {@code type} without TorchScript's {@code ___torch_mangle_N} module segments. */
  static String demangle(String type) {
    return MANGLE.matcher(type).replaceAll("");
  }

  private static String first(List<String> items) {
    return items.size() <= 3 ? String.join(", ", items)
        : String.join(", ", items.subList(0, 3)) + " and " + (items.size() - 3) + " more";
  }

  private static long[] dims(Map<String, long[]> shapes, String key, int rank, List<String> problems) {
    long[] d = shapes.get(key);
    if (d == null) {
      problems.add(key + " is missing");
      return null;
    }
    if (d.length != rank) {
      problems.add(key + " has shape " + Arrays.toString(d) + ", expected " + rank + " dimensions");
      return null;
    }
    return d;
  }

  private static int positive(long v, String key, List<String> problems) {
    if (v < 1 || v > 1 << 24) {
      problems.add(key + " has a dimension of " + v);
      return 0;
    }
    return (int) v;
  }

  private static int layers(TreeSet<Integer> blocks, String prefix, List<String> problems) {
    if (blocks.isEmpty()) {
      problems.add("no " + prefix + ".N blocks");
      return 0;
    }
    if (blocks.first() != 0 || blocks.last() != blocks.size() - 1) {
      problems.add(prefix + " indices are " + (blocks.size() > 8 ? blocks.size() + " values from " + blocks.first()
          + " to " + blocks.last() : blocks.toString()) + ", not 0.." + (blocks.size() - 1));
      return 0;
    }
    return blocks.size();
  }

  private static int openAiHeads(int width, String tower, List<String> problems) {
    if (width % OPENAI_HEAD_WIDTH != 0) {
      problems.add("the " + tower + " width " + width + " is not a multiple of " + OPENAI_HEAD_WIDTH
          + " and the archive records no num_heads, so the number of attention heads cannot be told"
          + " (OpenAI's and open_clip's rule heads = width / 64 does not apply)");
      return 1;
    }
    return width / OPENAI_HEAD_WIDTH;
  }

  /** The recorded num_heads of the blocks under {@code prefix}, or null when none is recorded. */
  private static Integer recordedHeads(Map<String, Long> ints, String prefix, int layers, int width, List<String> problems) {
    Long heads = null;
    int recorded = 0;
    for (int i = 0; i < layers; i++) {
      Long h = ints.get(prefix + i + ".attn.num_heads");
      if (h == null) {
        continue;
      }
      recorded++;
      if (heads != null && !heads.equals(h)) {
        problems.add(prefix + "N.attn.num_heads differ between blocks (" + heads + " and " + h + ")");
        return null;
      }
      heads = h;
    }
    if (heads == null) {
      return null;
    }
    if (recorded != layers) {
      problems.add("only " + recorded + " of " + layers + " " + prefix + "N blocks record num_heads");
      return null;
    }
    if (heads < 1 || width % heads != 0) {
      problems.add(prefix + "N.attn.num_heads is " + heads + ", which does not divide the width " + width);
      return null;
    }
    return heads.intValue();
  }

  private static void agree(Map<String, Long> ints, String key, long fromShapes, String what, List<String> problems) {
    Long v = ints.get(key);
    if (v != null && fromShapes > 0 && v != fromShapes) {
      problems.add("the archive records " + key + " = " + v + " but " + what + " give " + fromShapes);
    }
  }
}
