package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/** The model formats clip4j loads, and their detection from a path's contents (not its name). */
public enum ModelFormat {
  /**
   * open_clip's hub layout: a directory with {@code open_clip_config.json} and {@code
   * open_clip_model.safetensors} or {@code open_clip_pytorch_model.bin}.
   */
  OPEN_CLIP_HUB("open_clip"),
  /** A TorchScript archive ({@code torch.jit.script}/{@code trace}) with encode_image/encode_text. */
  TORCHSCRIPT("torchscript"),
  /** What {@code clip4j convert} / {@link ClipModel#save} writes: TorchScript + a clip4j manifest. */
  CLIP4J_BUNDLE("clip4j-bundle");

  /** Name of the manifest inside a bundle's extra files. */
  public static final String BUNDLE_MANIFEST = "clip4j_manifest.json";

  private final String id;

  ModelFormat(String id) {
    this.id = id;
  }

  /** The stable name used in {@code info()} and on the command line. */
  public String id() {
    return id;
  }

  /** Parses {@link #id()} (or the constant name). */
  public static ModelFormat fromId(String s) {
    for (ModelFormat f : values()) {
      if (f.id.equalsIgnoreCase(s) || f.name().equalsIgnoreCase(s)) {
        return f;
      }
    }
    throw new IllegalArgumentException("unknown model format '" + s + "' (open_clip, torchscript, clip4j-bundle)");
  }

  /**
   * Detects the format of {@code path}: a directory with {@code open_clip_config.json} is the hub
   * layout; a file is opened as a zip (in Java, nothing native) and is a bundle when it carries
   * the clip4j manifest, TorchScript when it has a {@code code/} tree, and refused otherwise
   * (including a plain {@code torch.save} checkpoint given without its directory).
   *
   * @throws InvalidModelException naming the path and what was found
   */
  public static ModelFormat detect(Path path) {
    if (Files.isDirectory(path)) {
      if (Files.isRegularFile(path.resolve("open_clip_config.json"))) {
        return OPEN_CLIP_HUB;
      }
      if (Files.isRegularFile(path.resolve("modules.json"))) {
        throw new InvalidModelException(
            path + " is a sentence-transformers directory (modules.json): it is a text model; load it"
                + " with SentenceTransformerPipeline / --text-model and pair it with an image tower");
      }
      throw new InvalidModelException(
          path + " is a directory without open_clip_config.json: not an open_clip hub model directory");
    }
    if (!Files.isRegularFile(path)) {
      throw new InvalidModelException(path + ": no such model file or directory");
    }
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
        manifest |= rest.equals("extra/" + BUNDLE_MANIFEST);
      }
    } catch (ZipException e) {
      throw new InvalidModelException(
          path + " is not a model archive (not a valid zip: " + e.getMessage() + "); expected a"
              + " TorchScript file, a clip4j bundle or an open_clip model directory", e);
    } catch (IOException e) {
      throw new InvalidModelException(path + " cannot be read: " + e.getMessage(), e);
    }
    if (manifest && code) {
      return CLIP4J_BUNDLE;
    }
    if (code) {
      return TORCHSCRIPT;
    }
    if (dataPkl) {
      throw new InvalidModelException(
          path + " is a torch.save checkpoint (weights only); pass the open_clip model directory that"
              + " holds it together with open_clip_config.json");
    }
    throw new InvalidModelException(path + " is a zip archive but neither TorchScript nor a clip4j bundle");
  }

  /** Reads up to {@code max} bytes of a stream (helper for small metadata entries). */
  static byte[] readBounded(InputStream in, int max, Path source) throws IOException {
    byte[] data = in.readNBytes(max + 1);
    if (data.length > max) {
      throw new InvalidModelException(source + ": metadata entry larger than " + max + " bytes");
    }
    return data;
  }
}
