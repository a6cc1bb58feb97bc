package dev.clip4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import dev.clip4j.head.EmbeddingHead;
import dev.clip4j.internal.JitModules;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Base64;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.CompilationUnit;
import org.bytedeco.pytorch.ExtraFilesMap;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.QualifiedName;
import org.bytedeco.pytorch.Tensor;

/**
 * The clip4j bundle: one TorchScript archive whose parameters are the model's weights under
 * their open_clip state-dict names (a module tree mirrors the dotted names), and whose extra
 * files carry {@value ModelFormat#BUNDLE_MANIFEST} (format version, model_cfg, activation and
 * its provenance, head, preprocess_cfg, tokenizer, source file hashes) and the tokenizer
 * vocabulary. Loading reads the manifest in Java first, then the weights through LibTorch, and
 * builds the model through exactly the code path of the open_clip loader, so a reloaded bundle
 * gives bit-identical outputs.
 *
 * <p>Like any TorchScript archive a bundle is parsed by LibTorch: load bundles you made or trust,
 * and pin their SHA-256 with {@link LoadOptions.Builder#expectedSha256}.
 */
final class Bundles {
  /** The bundle format's reader. */
  static final ModelReader READER = new ModelReader() {
    @Override
    public ModelFormat format() {
      return ModelFormat.CLIP4J_BUNDLE;
    }

    @Override
    public ModelDescription read(Path path, LoadOptions options) {
      return Bundles.read(path, options);
    }
  };

  static final int FORMAT_VERSION = 1;
  static final String VOCAB_ENTRY = "clip4j_bpe_vocab.txt.gz.b64";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int MAX_MANIFEST_BYTES = 1 << 20;

  private Bundles() {}

  /** Writes {@code model} as a bundle at {@code out} (atomically: temp file + rename). */
  static void save(ClipModel model, Path out) {
    if (model.description() == null) {
      throw new InvalidModelException("this model (a pair of models) cannot be saved as a bundle: only CLIP models"
          + " whose weights clip4j reads can");
    }
    save(model.description(), out);
  }

  /** Writes the model {@code d} describes as a bundle at {@code out} (atomically: temp file + rename). */
  static void save(ModelDescription d, Path out) {
    if (d.architecture() instanceof Architecture.ClipResNet) {
      throw new dev.clip4j.Clip4jException(dev.clip4j.ErrorCode.UNSUPPORTED, d.path() + ": ResNet CLIPs cannot be"
          + " converted or saved as bundles yet (load them from their open_clip directory, checkpoint or archive)");
    }
    if (!(d.architecture() instanceof Architecture.ClipVit clip)) {
      throw new InvalidModelException("this model (" + d.architecture().describe() + ", read as " + d.format().id()
          + ") cannot be saved as a bundle: only CLIP models whose weights clip4j reads can");
    }
    if (d.preprocess().cropRounding() != dev.clip4j.preprocess.CropRounding.HALF_EVEN
        || d.preprocess().rgbConversion() != dev.clip4j.preprocess.RgbConversion.AFTER_RESIZE) {
      throw new InvalidModelException("a bundle keeps open_clip's preprocessing rules; this model was loaded with"
          + " transformers' (load it with PreprocessRules.OPEN_CLIP to bundle it, or convert it --to hf)");
    }
    ObjectNode manifest = JSON.createObjectNode();
    manifest.put("clip4j_bundle_version", FORMAT_VERSION);
    manifest.set("model_cfg", clip.config().toModelCfgJson());
    manifest.put("activation", clip.activation().id());
    manifest.put("activation_source", clip.activation().source());
    ObjectNode head = manifest.putObject("head");
    for (String tower : new String[] {"image", "text"}) {
      ObjectNode h = head.putObject(tower);
      h.put("projection", tower.equals("image") ? "visual.proj" : "text_projection");
      h.put("layout", "in_out");
      h.put("bias", false);
      h.put("activation", Activation.IDENTITY.id());
      h.put("normalize", true);
      h.put("eps", EmbeddingHead.DEFAULT_EPS);
    }
    manifest.set("preprocess_cfg", d.preprocess().toOpenClipJson());
    byte[] vocab = vocabularyBytes(d.tokenizer());
    ObjectNode tok = manifest.putObject("tokenizer");
    tok.put("type", "open_clip_simple_bpe");
    tok.put("context_length", clip.config().text().contextLength());
    tok.put("vocab", VOCAB_ENTRY);
    tok.put("vocab_source", d.tokenizer().source());
    ObjectNode src = manifest.putObject("source");
    src.put("format", d.format().id());
    d.fileHashes().forEach(src.putObject("sha256")::put);

    Map<String, Tensor> weights = clip.weights().load();
    try {
      writeArchive(weights, manifest, vocab, out);
    } finally {
      OpenClipModels.release(weights);
    }
  }

  /** The BPE merges a CLIP tokenizer spec reads (what a bundle carries). */
  static byte[] vocabularyBytes(TokenizerSpec spec) {
    if (spec instanceof TokenizerSpec.ClipBpe bpe) {
      return bpe.bpeVocab();
    }
    if (spec instanceof TokenizerSpec.ClipVocabFiles files) {
      try {
        return java.nio.file.Files.readAllBytes(files.merges()); // a header line, then the merges
      } catch (IOException e) {
        throw new InvalidModelException(files.merges() + ": cannot read: " + e.getMessage(), e);
      }
    }
    throw new InvalidModelException("a bundle carries an open_clip BPE vocabulary; this model tokenizes with "
        + spec.source());
  }

  private static void writeArchive(Map<String, Tensor> weights, ObjectNode manifest, byte[] vocab, Path out) {
    CompilationUnit cu = new CompilationUnit();
    JitModule root = new JitModule(new QualifiedName("__torch__.clip4j.Bundle"), cu, true);
    Map<String, JitModule> nodes = new HashMap<>();
    nodes.put("", root);
    for (Map.Entry<String, Tensor> e : weights.entrySet()) {
      String key = e.getKey();
      int dot = key.lastIndexOf('.');
      JitModule parent = node(cu, nodes, dot < 0 ? "" : key.substring(0, dot));
      parent.register_parameter(dot < 0 ? key : key.substring(dot + 1), e.getValue(), false);
    }
    ExtraFilesMap extra = new ExtraFilesMap();
    try {
      extra.put(new BytePointer(ModelFormat.BUNDLE_MANIFEST), new BytePointer(JSON.writeValueAsString(manifest)));
      extra.put(new BytePointer(VOCAB_ENTRY), new BytePointer(Base64.getEncoder().encodeToString(vocab)));
      Path abs = out.toAbsolutePath();
      Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
      root.save(tmp.toString(), extra);
      Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new dev.clip4j.Clip4jException(dev.clip4j.ErrorCode.IO, "cannot write bundle " + out + ": " + e.getMessage(), e);
    } finally {
      root.close();
    }
  }

  private static JitModule node(CompilationUnit cu, Map<String, JitModule> nodes, String path) {
    JitModule m = nodes.get(path);
    if (m != null) {
      return m;
    }
    int dot = path.lastIndexOf('.');
    JitModule parent = node(cu, nodes, dot < 0 ? "" : path.substring(0, dot));
    m = new JitModule(new QualifiedName("__torch__.clip4j.Node"), cu, true);
    parent.register_module(dot < 0 ? path : path.substring(dot + 1), m);
    nodes.put(path, m);
    return m;
  }

  /** Describes a bundle: its manifest read in Java, its weights read through LibTorch when built. */
  static ModelDescription read(Path file, LoadOptions options) {
    java.util.function.Supplier<Map<String, String>> hashes = Hashing.singleFile(file, options);
    Map<String, byte[]> entries = readExtraEntries(file);
    byte[] manifestBytes = entries.get(ModelFormat.BUNDLE_MANIFEST);
    if (manifestBytes == null) {
      throw new InvalidModelException(file + ": not a clip4j bundle (no " + ModelFormat.BUNDLE_MANIFEST + ")");
    }
    JsonNode manifest;
    try {
      manifest = JSON.readTree(manifestBytes);
    } catch (IOException e) {
      throw new InvalidModelException(file + ": the bundle manifest is not valid JSON: " + e.getMessage(), e);
    }
    if (manifest == null || !manifest.isObject() || manifest.path("clip4j_bundle_version").asInt(-1) != FORMAT_VERSION) {
      throw new InvalidModelException(file + ": unsupported bundle manifest (clip4j_bundle_version must be " + FORMAT_VERSION + ")");
    }
    JsonNode cfgNode = manifest.get("model_cfg");
    String activationId = manifest.path("activation").asText(null);
    if (cfgNode == null || !cfgNode.isObject() || activationId == null) {
      throw new InvalidModelException(file + ": the bundle manifest lacks model_cfg or activation");
    }
    JsonNode pre = manifest.get("preprocess_cfg");
    ObjectNode preprocessCfg = pre != null && pre.isObject() ? (ObjectNode) pre : null;
    ModelConfig config = ModelConfig.fromModelCfg(cfgNode, preprocessCfg, file + " (bundle manifest)");
    Activation stated;
    try {
      stated = Activation.fromId(activationId);
    } catch (IllegalArgumentException e) {
      throw new InvalidModelException(file + ": the bundle manifest names an unknown activation '" + activationId + "'");
    }
    String statedSource = "bundle manifest" + (manifest.path("activation_source").isTextual()
        ? " (from " + manifest.get("activation_source").textValue() + ")" : "");
    MlpActivation activation = MlpActivation.resolve(config, options.modelName().orElse(null), stated, statedSource);
    if (options.activation().isPresent() && options.activation().get() != activation.activation()) {
      throw new InvalidModelException(file + ": --activation " + options.activation().get().id() + " contradicts the "
          + statedSource + ", which says " + activation.id());
    }
    byte[] vocabB64 = entries.get(VOCAB_ENTRY);
    TokenizerSpec tokenizer;
    if (vocabB64 != null) {
      try {
        tokenizer = new TokenizerSpec.ClipBpe(Base64.getDecoder().decode(vocabB64), config.text().contextLength(),
            file + " (bundle)");
      } catch (IllegalArgumentException e) {
        throw new InvalidModelException(file + ": the bundle's tokenizer vocabulary is corrupt");
      }
    } else {
      tokenizer = TokenizerSpec.standardClip(config.text().contextLength());
    }
    dev.clip4j.preprocess.PreprocessConfig preprocess;
    try {
      preprocess = dev.clip4j.preprocess.PreprocessConfig.fromOpenClip(preprocessCfg, config.vision().imageSize());
    } catch (IllegalArgumentException e) {
      throw new InvalidModelException(file + ": preprocess_cfg: " + e.getMessage(), e);
    }
    WeightSource weights = () -> readWeights(file);
    return new ModelDescription(ModelFormat.CLIP4J_BUNDLE, file, new Architecture.ClipVit(config, activation, weights),
        preprocess, tokenizer, hashes);
  }

  private static Map<String, Tensor> readWeights(Path file) {
    JitModule m = TorchScriptModels.loadModule(file, new org.bytedeco.pytorch.Device("cpu"));
    try {
      return JitModules.namedParameters(m);
    } finally {
      m.close();
    }
  }

  /** The archive's extra files (read with java.util.zip: nothing native touches the file here). */
  static Map<String, byte[]> readExtraEntries(Path file) {
    Map<String, byte[]> out = new HashMap<>();
    try (ZipFile zip = new ZipFile(file.toFile())) {
      Enumeration<? extends ZipEntry> en = zip.entries();
      while (en.hasMoreElements()) {
        ZipEntry e = en.nextElement();
        String name = e.getName();
        int slash = name.indexOf('/');
        String rest = slash < 0 ? name : name.substring(slash + 1);
        if (rest.equals("extra/" + ModelFormat.BUNDLE_MANIFEST) || rest.equals("extra/" + VOCAB_ENTRY)) {
          int limit = rest.endsWith(VOCAB_ENTRY) ? 64 << 20 : MAX_MANIFEST_BYTES;
          try (InputStream in = zip.getInputStream(e)) {
            out.put(rest.substring("extra/".length()), ModelFormat.readBounded(in, limit, file));
          }
        }
      }
    } catch (ZipException e) {
      throw new InvalidModelException(file + " is not a valid bundle archive: " + e.getMessage(), e);
    } catch (IOException e) {
      throw new InvalidModelException(file + " cannot be read: " + e.getMessage(), e);
    }
    return out;
  }
}
