package dev.clip4j.model.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.InvalidModelException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads safetensors files with full validation before any data is touched: header length within
 * bounds, a strict JSON object (no duplicate keys), supported dtypes, non-negative shapes whose
 * byte size equals the entry's offset range, offsets that tile the data section exactly (sorted,
 * no overlaps, no gaps, nothing past the end), and a string-to-string {@code __metadata__}.
 * Tensors are read-only slices of a memory mapping of the file (no copy).
 */
final class SafetensorsReader {
  static final long MAX_HEADER = 100L << 20;
  private static final ObjectMapper JSON = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  private SafetensorsReader() {}

  private record Entry(String name, DType dtype, long[] shape, long begin, long end) {}

  static StateDict read(Path file) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < 8) {
        throw bad(file, "file of " + size + " bytes is too short for a safetensors header");
      }
      ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lenBuf, 0, file);
      long headerLen = lenBuf.getLong(0);
      if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > size - 8) {
        throw bad(file, "header length " + Long.toUnsignedString(headerLen) + " is out of bounds (file has "
            + size + " bytes)");
      }
      ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
      readFully(ch, hb, 8, file);
      JsonNode header;
      try {
        header = JSON.readTree(hb.array());
      } catch (IOException e) {
        throw bad(file, "header is not valid JSON: " + firstLine(e.getMessage()));
      }
      if (header == null || !header.isObject()) {
        throw bad(file, "header is not a JSON object");
      }
      long dataStart = 8 + headerLen;
      long dataLen = size - dataStart;
      Map<String, String> metadata = new LinkedHashMap<>();
      List<Entry> entries = new ArrayList<>();
      for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext();) {
        Map.Entry<String, JsonNode> f = it.next();
        String name = f.getKey();
        JsonNode v = f.getValue();
        if (name.equals("__metadata__")) {
          if (!v.isObject()) {
            throw bad(file, "__metadata__ is not an object");
          }
          for (Iterator<Map.Entry<String, JsonNode>> m = v.fields(); m.hasNext();) {
            Map.Entry<String, JsonNode> kv = m.next();
            if (!kv.getValue().isTextual()) {
              throw bad(file, "__metadata__ value of '" + kv.getKey() + "' is not a string");
            }
            metadata.put(kv.getKey(), kv.getValue().asText());
          }
          continue;
        }
        entries.add(entry(file, name, v));
      }
      entries.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
      long expected = 0;
      for (Entry e : entries) {
        if (e.begin != expected) {
          throw bad(file, "tensor '" + e.name + "' starts at " + e.begin + " but the previous data ends at "
              + expected + (e.begin < expected ? " (overlap)" : " (gap)"));
        }
        expected = e.end;
      }
      if (expected != dataLen) {
        throw bad(file, "the tensors cover " + expected + " bytes but the data section has " + dataLen
            + (expected > dataLen ? " (offsets past the end of the file: truncated?)" : " (trailing bytes)"));
      }
      Map<String, TensorData> tensors = new LinkedHashMap<>();
      // File order = header order; map each tensor's range (each < 2 GiB by the checks below).
      Map<String, Entry> byName = new LinkedHashMap<>();
      for (Entry e : entries) {
        byName.put(e.name, e);
      }
      for (Iterator<String> it = header.fieldNames(); it.hasNext();) {
        String name = it.next();
        Entry e = byName.get(name);
        if (e == null) {
          continue;
        }
        long len = e.end - e.begin;
        if (len > Integer.MAX_VALUE) {
          throw bad(file, "tensor '" + name + "' of " + len + " bytes is larger than 2 GiB");
        }
        ByteBuffer data = len == 0
            ? ByteBuffer.allocate(0)
            : ch.map(FileChannel.MapMode.READ_ONLY, dataStart + e.begin, len);
        tensors.put(name, new TensorData(name, e.dtype, e.shape, data, len == 0 ? null : file, dataStart + e.begin));
      }
      return new StateDict(file, "safetensors", tensors, metadata);
    } catch (IOException e) {
      throw new InvalidModelException(file + ": cannot read: " + e.getMessage(), e);
    }
  }

  private static Entry entry(Path file, String name, JsonNode v) {
    if (!v.isObject()) {
      throw bad(file, "entry '" + name + "' is not an object");
    }
    JsonNode dtypeNode = v.get("dtype");
    JsonNode shapeNode = v.get("shape");
    JsonNode offsets = v.get("data_offsets");
    if (dtypeNode == null || !dtypeNode.isTextual() || shapeNode == null || !shapeNode.isArray()
        || offsets == null || !offsets.isArray() || offsets.size() != 2 || v.size() != 3) {
      throw bad(file, "entry '" + name + "' must have exactly dtype, shape and data_offsets [begin, end]");
    }
    DType dtype = DType.fromSafetensors(dtypeNode.asText());
    if (dtype == null) {
      throw bad(file, "tensor '" + name + "' has unsupported dtype " + dtypeNode.asText());
    }
    if (shapeNode.size() > 16) {
      throw bad(file, "tensor '" + name + "' has more than 16 dimensions");
    }
    long[] shape = new long[shapeNode.size()];
    for (int i = 0; i < shape.length; i++) {
      JsonNode d = shapeNode.get(i);
      if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0) {
        throw bad(file, "tensor '" + name + "' has an invalid shape " + shapeNode);
      }
      shape[i] = d.asLong();
    }
    long bytes;
    try {
      bytes = Math.multiplyExact(TensorData.numel(shape), dtype.byteSize());
    } catch (ArithmeticException e) {
      throw bad(file, "tensor '" + name + "' shape " + Arrays.toString(shape) + " overflows");
    }
    JsonNode b = offsets.get(0);
    JsonNode e = offsets.get(1);
    if (!b.isIntegralNumber() || !e.isIntegralNumber() || !b.canConvertToLong() || !e.canConvertToLong()
        || b.asLong() < 0 || e.asLong() < b.asLong()) {
      throw bad(file, "tensor '" + name + "' has invalid data_offsets " + offsets);
    }
    if (e.asLong() - b.asLong() != bytes) {
      throw bad(file, "tensor '" + name + "' is " + dtype.safetensorsName() + " " + Arrays.toString(shape) + " = "
          + bytes + " bytes but its data_offsets span " + (e.asLong() - b.asLong()));
    }
    return new Entry(name, dtype, shape, b.asLong(), e.asLong());
  }

  static void readFully(FileChannel ch, ByteBuffer b, long pos, Path file) throws IOException {
    while (b.hasRemaining()) {
      int n = ch.read(b, pos);
      if (n < 0) {
        throw bad(file, "file is truncated");
      }
      pos += n;
    }
  }

  static InvalidModelException bad(Path file, String what) {
    return new InvalidModelException(file + ": invalid safetensors file: " + what);
  }

  static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
