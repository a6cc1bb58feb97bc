package dev.clip4j.model.io;

import dev.clip4j.InvalidModelException;
import dev.clip4j.internal.UserFiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads model weights from {@code .safetensors} files and {@code torch.save} archives ({@code
 * .bin}/{@code .pt}) in pure Java, safely: no Python, no LibTorch parsing, no code execution;
 * every failure is an {@link InvalidModelException} naming the file.
 */
public final class CheckpointReader {
  private CheckpointReader() {}

  /** Reads a checkpoint, telling the format by its content (zip magic or safetensors header). */
  public static StateDict read(Path file) {
    UserFiles.requireRegularFile(file, InvalidModelException::new);
    byte[] head = new byte[LEGACY_MAGIC.length];
    int n;
    try (InputStream in = Files.newInputStream(file)) {
      n = in.readNBytes(head, 0, head.length);
    } catch (IOException e) {
      throw new InvalidModelException(file + ": cannot read: " + e.getMessage(), e);
    }
    if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
      return readTorchZip(file);
    }
    refusePickle(file, head, n);
    return readSafetensors(file);
  }

  /** Throws when {@code head} (the first {@code n} bytes of {@code file}) starts a bare pickle. */
  private static void refusePickle(Path file, byte[] head, int n) {
    String pickle = pickleKind(head, n);
    if (pickle != null) {
      throw new InvalidModelException(file + ": unsupported format: " + pickle + ". clip4j reads safetensors and"
          + " the zip format of torch.save (PyTorch >= 1.6) and never runs a bare pickle; re-save the weights"
          + " with torch.save(torch.load(f), f2) on PyTorch >= 1.6, or as safetensors");
    }
  }

  /**
   * What torch.save wrote before PyTorch 1.6 (and with _use_new_zipfile_serialization=False): a
   * pickle (protocol 2) of this magic number, then more pickles and the raw storages.
   */
  private static final byte[] LEGACY_MAGIC = {
    (byte) 0x80, 0x02, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46, (byte) 0xf9, 0x20, 0x6a,
    (byte) 0xa8, 0x50, 0x19
  };

  /**
   * A legacy torch.save file or another bare pickle (PROTO opcode, protocol 2..5), or null. A
   * safetensors file always has '{' after its 8-byte header length, which tells the two apart
   * when the length's first bytes happen to look like a PROTO opcode.
   */
  private static String pickleKind(byte[] head, int n) {
    if (n < 2 || (head[0] & 0xFF) != 0x80 || head[1] < 2 || head[1] > 5 || (n > 8 && head[8] == '{')) {
      return null;
    }
    if (n == LEGACY_MAGIC.length && java.util.Arrays.equals(head, LEGACY_MAGIC)) {
      return "a legacy (non-zip) torch.save pickle (PyTorch < 1.6, or saved with"
          + " _use_new_zipfile_serialization=False)";
    }
    return "a Python pickle (protocol " + head[1] + "), not a weights file clip4j reads";
  }

  /**
   * Reads a model's weights from a checkpoint as open_clip's {@code load_checkpoint} takes them:
   * a training checkpoint's {@code state_dict} entry (the rest of it is dropped), and the {@code
   * module.} prefix that {@code DistributedDataParallel} adds removed when every name has it.
   * {@link StateDict#metadata()} says what was done ({@code wrapper}, {@code stripped_prefix}).
   */
  public static StateDict readModelWeights(Path file) {
    StateDict sd = read(file);
    java.util.Set<String> keys = sd.keys();
    String prefix = "module.";
    if (keys.isEmpty() || !keys.stream().allMatch(k -> k.startsWith(prefix) && k.length() > prefix.length())) {
      return sd;
    }
    java.util.Map<String, TensorData> renamed = new java.util.LinkedHashMap<>();
    for (TensorData t : sd.tensors().values()) {
      String name = t.name().substring(prefix.length());
      renamed.put(name, new TensorData(name, t.dtype(), t.shape(), t.data()));
    }
    java.util.Map<String, String> meta = new java.util.HashMap<>(sd.metadata());
    meta.put("stripped_prefix", prefix);
    return new StateDict(file, sd.format(), renamed, meta);
  }

  /** Reads a safetensors file. */
  public static StateDict readSafetensors(Path file) {
    UserFiles.requireRegularFile(file, InvalidModelException::new);
    return SafetensorsReader.read(file);
  }

  /** Reads a {@code torch.save(state_dict)} zip archive (a legacy non-zip pickle is named and refused). */
  public static StateDict readTorchZip(Path file) {
    UserFiles.requireRegularFile(file, InvalidModelException::new);
    byte[] head = new byte[LEGACY_MAGIC.length];
    try (InputStream in = Files.newInputStream(file)) {
      refusePickle(file, head, in.readNBytes(head, 0, head.length));
    } catch (IOException e) {
      throw new InvalidModelException(file + ": cannot read: " + e.getMessage(), e);
    }
    return TorchZipReader.read(file);
  }

  /**
   * Reads a sharded checkpoint through its index ({@code model.safetensors.index.json} or {@code
   * pytorch_model.bin.index.json}); see {@link ShardedCheckpoint}.
   */
  public static StateDict readSharded(Path indexFile) {
    return ShardedCheckpoint.read(indexFile);
  }
}
