package dev.clip4j.hardening;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Writes what {@code torch.save(state_dict)} writes for float32 tensors, for tests: a stored
 * (uncompressed) zip {@code archive/} with {@code data.pkl} (pickle protocol 2: an OrderedDict of
 * {@code _rebuild_tensor_v2(persistent storage, 0, size, stride, False, OrderedDict())}), {@code
 * byteorder}, {@code version} and one {@code data/N} member per tensor.
 */
public final class TorchSaveWriter {
  private TorchSaveWriter() {}

  /** A float32 tensor: C-order values and shape. */
  public record F32(float[] values, long... shape) {}

  /** The archive's bytes. */
  public static byte[] bytes(Map<String, F32> tensors) {
    Map<String, byte[]> members = new LinkedHashMap<>();
    members.put("archive/data.pkl", pickle(tensors));
    members.put("archive/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
    int i = 0;
    for (F32 t : tensors.values()) {
      ByteBuffer b = ByteBuffer.allocate(t.values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
      b.asFloatBuffer().put(t.values);
      members.put("archive/data/" + i++, b.array());
    }
    members.put("archive/version", "3\n".getBytes(StandardCharsets.US_ASCII));
    return storedZip(members);
  }

  /** Writes the archive to {@code file}. */
  public static void write(Path file, Map<String, F32> tensors) throws IOException {
    Files.write(file, bytes(tensors));
  }

  /** A zip of stored members (what torch.save writes; also used to wrap fuzzed pickles). */
  public static byte[] storedZip(Map<String, byte[]> members) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (ZipOutputStream z = new ZipOutputStream(out)) {
      for (Map.Entry<String, byte[]> m : members.entrySet()) {
        ZipEntry e = new ZipEntry(m.getKey());
        e.setMethod(ZipEntry.STORED);
        e.setSize(m.getValue().length);
        e.setCompressedSize(m.getValue().length);
        CRC32 crc = new CRC32();
        crc.update(m.getValue());
        e.setCrc(crc.getValue());
        z.putNextEntry(e);
        z.write(m.getValue());
        z.closeEntry();
      }
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    return out.toByteArray();
  }

  /**
   * A training checkpoint as open_clip's training loop saves it: {@code {"epoch": 3, "name":
   * "run", "state_dict": OrderedDict(prefix + name -> tensor), "optimizer": {"state": {},
   * "param_groups": [{"lr": 0.001, "params": [0, 1]}]}}}.
   */
  public static void writeTrainingCheckpoint(Path file, Map<String, F32> tensors, String prefix) throws IOException {
    Map<String, F32> prefixed = new java.util.LinkedHashMap<>();
    tensors.forEach((k, v) -> prefixed.put(prefix + k, v));
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    p.write(0x80);
    p.write(2);
    p.write('}');
    p.write('(');
    unicode(p, "epoch");
    binint(p, 3);
    unicode(p, "name");
    unicode(p, "run");
    unicode(p, "state_dict");
    stateDict(p, prefixed);
    unicode(p, "optimizer");
    p.write('}');
    p.write('(');
    unicode(p, "state");
    p.write('}');
    unicode(p, "param_groups");
    p.write(']');
    p.write('(');
    p.write('}');
    p.write('(');
    unicode(p, "lr");
    p.write('G');
    long bits = Double.doubleToLongBits(0.001);
    for (int i = 7; i >= 0; i--) {
      p.write((int) (bits >>> (8 * i)) & 0xff);
    }
    unicode(p, "params");
    p.write(']');
    p.write('(');
    binint(p, 0);
    binint(p, 1);
    p.write('e');
    p.write('u');
    p.write('e');
    p.write('u');
    p.write('u');
    p.write('.');
    Map<String, byte[]> members = new java.util.LinkedHashMap<>();
    members.put("archive/data.pkl", p.toByteArray());
    int i = 0;
    for (F32 t : prefixed.values()) {
      java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(t.values.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
      b.asFloatBuffer().put(t.values);
      members.put("archive/data/" + i++, b.array());
    }
    members.put("archive/version", "3\n".getBytes(StandardCharsets.US_ASCII));
    Files.write(file, storedZip(members));
  }

  /** data.pkl for {@code tensors} (storage keys "0", "1", ... in map order). */
  public static byte[] pickle(Map<String, F32> tensors) {
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    p.write(0x80);
    p.write(2);
    stateDict(p, tensors);
    p.write('.');
    return p.toByteArray();
  }

  /** An OrderedDict of tensors onto the pickle stack (storage keys "0", "1", ... in map order). */
  private static void stateDict(ByteArrayOutputStream p, Map<String, F32> tensors) {
    global(p, "collections", "OrderedDict");
    p.write(')');
    p.write('R');
    int i = 0;
    for (Map.Entry<String, F32> e : tensors.entrySet()) {
      F32 t = e.getValue();
      unicode(p, e.getKey());
      global(p, "torch._utils", "_rebuild_tensor_v2");
      p.write('(');
      // persistent id ('storage', torch.FloatStorage, key, 'cpu', numel)
      p.write('(');
      unicode(p, "storage");
      global(p, "torch", "FloatStorage");
      unicode(p, Integer.toString(i++));
      unicode(p, "cpu");
      binint(p, t.values.length);
      p.write('t');
      p.write('Q');
      binint(p, 0);
      p.write('(');
      for (long d : t.shape) {
        binint(p, d);
      }
      p.write('t');
      p.write('(');
      long stride = 1;
      long[] strides = new long[t.shape.length];
      for (int d = t.shape.length - 1; d >= 0; d--) {
        strides[d] = stride;
        stride *= t.shape[d];
      }
      for (long s : strides) {
        binint(p, s);
      }
      p.write('t');
      p.write(0x89); // False
      global(p, "collections", "OrderedDict");
      p.write(')');
      p.write('R');
      p.write('t');
      p.write('R');
      p.write('s');
    }
  }

  private static void global(OutputStream p, String module, String name) {
    write(p, ("c" + module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
  }

  private static void unicode(ByteArrayOutputStream p, String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    p.write('X');
    write(p, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
    write(p, b);
  }

  private static void binint(ByteArrayOutputStream p, long v) {
    p.write('J');
    write(p, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(Math.toIntExact(v)).array());
  }

  private static void write(OutputStream p, byte[] b) {
    try {
      p.write(b);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
