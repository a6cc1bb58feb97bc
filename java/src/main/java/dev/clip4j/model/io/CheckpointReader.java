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
    byte[] head = new byte[4];
    int n;
    try (InputStream in = Files.newInputStream(file)) {
      n = in.readNBytes(head, 0, 4);
    } catch (IOException e) {
      throw new InvalidModelException(file + ": cannot read: " + e.getMessage(), e);
    }
    if (n == 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
      return readTorchZip(file);
    }
    return readSafetensors(file);
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

  /** Reads a {@code torch.save(state_dict)} zip archive. */
  public static StateDict readTorchZip(Path file) {
    UserFiles.requireRegularFile(file, InvalidModelException::new);
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
