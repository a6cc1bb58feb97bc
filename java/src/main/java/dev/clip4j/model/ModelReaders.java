package dev.clip4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.InvalidModelException;
import dev.clip4j.internal.UserFiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Enumeration;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * The registry of format readers and the one place formats are told apart. Detection looks at
 * contents, not names: a directory by the metadata file it holds, a file by its magic bytes and,
 * for zip archives, by their entries (read in Java: nothing native touches the file here).
 */
final class ModelReaders {
  private static final Map<ModelFormat, ModelReader> READERS = new EnumMap<>(ModelFormat.class);
  private static final int MAX_CONFIG_BYTES = 4 << 20;

  static {
    register(new OpenClipHubReader());
    register(new HfClipReader());
    register(new HfSiglipReader());
    register(new SentenceTransformersReader());
    register(new TorchScriptReader());
    register(new OpenAiJitReader());
    register(Bundles.READER);
    register(new CheckpointFileReader());
  }

  private ModelReaders() {}

  private static void register(ModelReader r) {
    READERS.put(r.format(), r);
  }

  /** Reads {@code path} with the reader of the forced or detected format. */
  static ModelDescription read(Path path, LoadOptions options) {
    java.util.Objects.requireNonNull(path, "path");
    java.util.Objects.requireNonNull(options, "options");
    ModelFormat format = options.format().orElseGet(() -> detect(path));
    ModelReader reader = READERS.get(format);
    if (reader == null) {
      throw new InvalidModelException(path + ": the " + format.id() + " format is recognised but clip4j cannot read it yet");
    }
    ModelDescription d = reader.read(path, options);
    if (options.vocabulary().isPresent()) {
      if (d.tokenizer() == null) {
        throw new InvalidModelException(path + ": a vocabulary was given but the model has no text tower");
      }
      if (!(d.tokenizer() instanceof TokenizerSpec.ClipBpe || d.tokenizer() instanceof TokenizerSpec.ClipVocabFiles)) {
        throw new InvalidModelException(path + ": a CLIP BPE vocabulary was given but the model tokenizes with "
            + d.tokenizer().source());
      }
      d = d.withTokenizer(TokenizerSpec.clipVocabulary(options.vocabulary().get(), d.tokenizer().maxLength()));
    }
    return d;
  }

  /**
   * The format of {@code path}: a directory holding {@code open_clip_config.json} (open_clip hub),
   * {@code modules.json} (sentence-transformers) or a {@code config.json} whose {@code model_type}
   * is a CLIP or {@code siglip} (Hugging Face); a file that is a zip with a clip4j manifest (bundle), with TorchScript
   * code (an OpenAI-style archive), or a {@code torch.save} / safetensors checkpoint (bare).
   *
   * @throws InvalidModelException naming the path and what was found instead
   */
  static ModelFormat detect(Path path) {
    if (Files.isDirectory(path)) {
      if (Files.isRegularFile(path.resolve(OpenClipModels.CONFIG))) {
        return ModelFormat.OPEN_CLIP_HUB;
      }
      if (Files.isRegularFile(path.resolve("modules.json"))) {
        return ModelFormat.SENTENCE_TRANSFORMERS;
      }
      Path hfConfig = path.resolve("config.json");
      if (Files.isRegularFile(hfConfig)) {
        String type = hfModelType(hfConfig);
        if (type.equals("clip") || type.equals("clip_vision_model") || type.equals("clip_text_model")) {
          return ModelFormat.HF_CLIP;
        }
        if (type.equals(dev.clip4j.model.hf.HfSiglipConfig.MODEL_TYPE)) {
          return ModelFormat.HF_SIGLIP;
        }
        throw new InvalidModelException(path + ": config.json has model_type '" + type + "', not a CLIP (clip4j reads"
            + " model_type clip, clip_vision_model, clip_text_model and siglip Hugging Face directories)");
      }
      throw new InvalidModelException(path + " is a directory without open_clip_config.json (open_clip),"
          + " config.json (Hugging Face CLIPModel) or modules.json (sentence-transformers): not a model directory");
    }
    UserFiles.requireRegularFile(path, InvalidModelException::new);
    byte[] head = new byte[8];
    int n;
    try (InputStream in = Files.newInputStream(path)) {
      n = in.readNBytes(head, 0, head.length);
    } catch (IOException e) {
      throw new InvalidModelException(path + " cannot be read: " + e.getMessage(), e);
    }
    if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
      return detectZip(path);
    }
    if (n >= 2 && (head[0] & 0xff) == 0x80 && head[1] >= 2 && head[1] <= 5) {
      throw new InvalidModelException(path + " is a legacy (non-zip) pickle checkpoint (torch.save with"
          + " _use_new_zipfile_serialization=False, PyTorch < 1.6): clip4j does not read legacy pickles (unsupported);"
          + " re-save it with a current torch.save or as safetensors");
    }
    if (n == 8) {
      long headerLen = java.nio.ByteBuffer.wrap(head).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
      if (headerLen > 1 && headerLen < (100L << 20)) {
        return ModelFormat.CHECKPOINT; // a safetensors header length; its reader checks the rest
      }
    }
    throw new InvalidModelException(path + " is neither a model directory, a zip archive (TorchScript, clip4j bundle,"
        + " torch.save checkpoint) nor a safetensors file");
  }

  private static ModelFormat detectZip(Path path) {
    boolean code = false;
    boolean manifest = false;
    boolean dataPkl = false;
    try (ZipFile zip = new ZipFile(path.toFile())) {
      Enumeration<? extends ZipEntry> entries = zip.entries();
      int count = 0;
      while (entries.hasMoreElements() && count++ < 1_000_000) {
        String name = entries.nextElement().getName();
        int slash = name.indexOf('/');
        String rest = slash < 0 ? name : name.substring(slash + 1);
        code |= rest.startsWith("code/");
        dataPkl |= rest.equals("data.pkl");
        manifest |= rest.equals("extra/" + ModelFormat.BUNDLE_MANIFEST);
      }
    } catch (ZipException e) {
      throw new InvalidModelException(
          path + " is not a model archive (not a valid zip: " + e.getMessage() + "); expected a"
              + " TorchScript file, a clip4j bundle, a torch.save checkpoint or an open_clip model directory", e);
    } catch (IOException e) {
      throw new InvalidModelException(path + " cannot be read: " + e.getMessage(), e);
    }
    if (manifest && code) {
      return ModelFormat.CLIP4J_BUNDLE;
    }
    if (code) {
      return READERS.containsKey(ModelFormat.OPENAI_JIT) ? ModelFormat.OPENAI_JIT : ModelFormat.TORCHSCRIPT;
    }
    if (dataPkl) {
      return ModelFormat.CHECKPOINT;
    }
    throw new InvalidModelException(path + " is a zip archive but neither TorchScript, a clip4j bundle nor a torch.save"
        + " checkpoint");
  }

  /** {@code model_type} of a Hugging Face config.json (read bounded). */
  private static String hfModelType(Path config) {
    UserFiles.requireRegularFile(config, InvalidModelException::new);
    try {
      if (Files.size(config) > MAX_CONFIG_BYTES) {
        throw new InvalidModelException(config + ": larger than " + MAX_CONFIG_BYTES + " bytes");
      }
      JsonNode root = new ObjectMapper().readTree(Files.readAllBytes(config));
      if (root == null || !root.isObject() || !root.path("model_type").isTextual()) {
        throw new InvalidModelException(config + ": a Hugging Face config.json needs a string model_type");
      }
      return root.get("model_type").textValue();
    } catch (IOException e) {
      throw new InvalidModelException(config + ": not valid JSON: " + e.getMessage(), e);
    }
  }
}
