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
    String pickle = pickleKind(head, n);
    if (pickle != null) {
      throw new InvalidModelException(file + ": unsupported format: " + pickle + ". clip4j reads safetensors and"
          + " the zip format of torch.save (PyTorch >= 1.6) and never runs a bare pickle; re-save the weights"
          + " with torch.save(torch.load(f), f2) on PyTorch >= 1.6, or as safetensors");
    }
    return readSafetensors(file);
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
}
