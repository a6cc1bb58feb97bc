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
