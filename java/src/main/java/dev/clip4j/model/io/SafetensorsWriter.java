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
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Writes float32 LibTorch tensors as a safetensors file (atomically: temp file + rename). */
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
}
