package dev.clip4j.model.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Writes safetensors files atomically (temp file + rename): float32 LibTorch tensors ({@link
 * #write}), or checkpoint tensors of any dtype, streamed one at a time ({@link #writeTensors}).
 */
public final class SafetensorsWriter {
  private SafetensorsWriter() {}

  /** Writes {@code tensors} (CPU float32; made contiguous) in map order. */
  public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
    ObjectNode header = new ObjectMapper().createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode m = header.putObject("__metadata__");
      metadata.forEach(m::put);
    }
    long offset = 0;
    for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
      Tensor t = e.getValue();
      if (t.scalar_type().intern() != ScalarType.Float || !t.is_cpu()) { // host reads CPU memory only
        throw new IllegalArgumentException(e.getKey() + ": only CPU float32 tensors are written");
      }
      ObjectNode n = header.putObject(e.getKey());
      n.put("dtype", "F32");
      ArrayNode shape = n.putArray("shape");
      for (long d = 0; d < t.dim(); d++) {
        shape.add(t.size(d));
      }
      long bytes = t.numel() * 4;
      n.putArray("data_offsets").add(offset).add(offset + bytes);
      offset += bytes;
    }
    byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
    int pad = (8 - h.length % 8) % 8;
    Path abs = file.toAbsolutePath();
    Path tmp = abs.resolveSibling("." + abs.getFileName() + ".tmp");
    try (OutputStream out = Files.newOutputStream(tmp)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length + pad);
      out.write(len.array());
      out.write(h);
      out.write(" ".repeat(pad).getBytes(StandardCharsets.US_ASCII));
      byte[] chunk = new byte[1 << 20];
      for (Tensor t : tensors.values()) {
        Tensor c = t.contiguous();
        BytePointer p = new BytePointer(c.data_ptr()).capacity(c.numel() * 4);
        long n = c.numel() * 4;
        for (long pos = 0; pos < n; pos += chunk.length) {
          int k = (int) Math.min(chunk.length, n - pos);
          p.position(pos).get(chunk, 0, k);
          out.write(chunk, 0, k);
        }
      }
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot write " + file + ": " + e.getMessage(), e);
    }
    try {
      Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot write " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Writes {@code tensors} in list order, streaming: the header is built from the declared names,
   * dtypes and shapes, then each tensor is {@linkplain LazyTensor#load() produced}, written and
   * dropped before the next, so at most one produced tensor is held at a time. Atomic (temp file
   * + rename; the temp file is removed on failure).
   *
   * @throws IllegalArgumentException for a duplicate or reserved ({@code __metadata__}) name
   * @throws IllegalStateException if a supplier produces something other than it declared
   * @throws Clip4jException with {@link ErrorCode#IO} when the file cannot be written
   */
  public static void writeTensors(Path file, List<LazyTensor> tensors, Map<String, String> metadata) {
    Objects.requireNonNull(file, "file");
    Objects.requireNonNull(tensors, "tensors");
    Objects.requireNonNull(metadata, "metadata");
    ObjectNode header = new ObjectMapper().createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode m = header.putObject("__metadata__");
      metadata.forEach(m::put);
    }
    long offset = 0;
    for (LazyTensor t : tensors) {
      if (t.name().equals("__metadata__") || header.has(t.name())) {
        throw new IllegalArgumentException("tensor name '" + t.name() + "' is reserved or appears twice");
      }
      ObjectNode n = header.putObject(t.name());
      n.put("dtype", t.dtype().safetensorsName());
      ArrayNode shape = n.putArray("shape");
      for (long d : t.shape()) {
        shape.add(d);
      }
      long bytes = t.byteSize();
      n.putArray("data_offsets").add(offset).add(offset + bytes);
      offset = Math.addExact(offset, bytes);
    }
    byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
    int pad = (8 - h.length % 8) % 8;
    Path abs = file.toAbsolutePath();
    Path tmp = abs.resolveSibling("." + abs.getFileName() + ".tmp");
    boolean done = false;
    try {
      try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
          StandardOpenOption.WRITE)) {
        ByteBuffer head = ByteBuffer.allocate(8 + h.length + pad).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(h.length + pad).put(h);
        for (int i = 0; i < pad; i++) {
          head.put((byte) ' ');
        }
        head.flip();
        writeFully(out, head);
        for (LazyTensor t : tensors) {
          writeFully(out, t.load().data());
        }
      }
      Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      done = true;
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot write " + file + ": " + e.getMessage(), e);
    } finally {
      if (!done) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
          // best effort: the original error matters
        }
      }
    }
  }

  private static void writeFully(FileChannel out, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      out.write(b);
    }
  }
}
