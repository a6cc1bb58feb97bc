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
  static final int FORMAT_VERSION = 1;
  static final String VOCAB_ENTRY = "clip4j_bpe_vocab.txt.gz.b64";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int MAX_MANIFEST_BYTES = 1 << 20;

  private Bundles() {}

  /** Writes {@code model} as a bundle at {@code out} (atomically: temp file + rename). */
  static void save(ClipModel model, ModelResources res, Path out) {
    if (res == null || res.config() == null || res.weights() == null) {
      throw new InvalidModelException(
          "this model was loaded from a " + model.info().format().id() + " file; only open_clip"
              + " checkpoints and clip4j bundles can be saved as bundles");
    }
    ObjectNode manifest = JSON.createObjectNode();
    manifest.put("clip4j_bundle_version", FORMAT_VERSION);
    manifest.set("model_cfg", res.modelCfgJson());
    manifest.put("activation", res.activation().id());
    manifest.put("activation_source", res.activation().source());
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
    if (res.preprocessCfg() != null) {
      manifest.set("preprocess_cfg", res.preprocessCfg());
    }
    ObjectNode tok = manifest.putObject("tokenizer");
    tok.put("type", "open_clip_simple_bpe");
    tok.put("context_length", res.config().text().contextLength());
    tok.put("vocab", res.bpeVocabGz() == null ? null : VOCAB_ENTRY);
    ObjectNode src = manifest.putObject("source");
    src.put("format", model.info().format().id());
    model.info().fileHashes().forEach(src.putObject("sha256")::put);

    Map<String, Tensor> weights = res.weights().get();
    try {
      writeArchive(weights, manifest, res, out);
    } finally {
      OpenClipModels.release(weights);
    }
  }

  private static void writeArchive(Map<String, Tensor> weights, ObjectNode manifest, ModelResources res, Path out) {
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
      if (res.bpeVocabGz() != null) {
        extra.put(new BytePointer(VOCAB_ENTRY), new BytePointer(Base64.getEncoder().encodeToString(res.bpeVocabGz())));
      }
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

  /** Loads a bundle. */
  static ClipModel load(Path file, LoadOptions options) {
    String sha = TorchScriptModels.sha256(file);
    options.expectedSha256().ifPresent(expected -> {
      if (!expected.equals(sha)) {
        throw new InvalidModelException(file + ": SHA-256 " + sha + " does not match the pinned " + expected + "; refusing to load");
      }
    });
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
    MlpActivation activation = MlpActivation.resolve(config, null, stated, "bundle manifest");
    byte[] vocab = null;
    byte[] vocabB64 = entries.get(VOCAB_ENTRY);
    if (vocabB64 != null) {
      try {
        vocab = Base64.getDecoder().decode(vocabB64);
      } catch (IllegalArgumentException e) {
        throw new InvalidModelException(file + ": the bundle's tokenizer vocabulary is corrupt");
      }
    }
    Map<String, Tensor> weights = readWeights(file);
    Map<String, String> hashes = new LinkedHashMap<>();
    hashes.put(file.getFileName().toString(), sha);
    final byte[] vocabFinal = vocab;
    ModelResources res = new ModelResources(config, (ObjectNode) cfgNode, activation, preprocessCfg, vocabFinal,
        () -> readWeights(file));
    try {
      return OpenClipModels.build(res, weights, options, ModelFormat.CLIP4J_BUNDLE, hashes);
    } finally {
      OpenClipModels.release(weights);
    }
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
