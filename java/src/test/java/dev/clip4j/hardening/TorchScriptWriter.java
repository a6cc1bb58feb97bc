package dev.clip4j.hardening;

import dev.clip4j.model.io.DType;
import dev.clip4j.testing.Half;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Writes what {@code torch.jit.save} writes, for tests: a zip {@code archive/} with {@code
 * data.pkl} (the module tree as TorchScript's pickler writes it: {@code GLOBAL
 * '__torch__.<class>'}, {@code EMPTY_TUPLE}, {@code NEWOBJ}, the attribute dict, {@code BUILD};
 * tensors as {@code _rebuild_tensor_v2} of persistent storages), {@code constants.pkl}, {@code
 * version}, one stored {@code data/N} per tensor and deflated {@code code/} members (whose content
 * clip4j never reads).
 */
public final class TorchScriptWriter {
  private TorchScriptWriter() {}

  /** A module object: its TorchScript class and its attributes, in order. */
  public static final class Module {
    final String type;
    final Map<String, Object> attrs = new LinkedHashMap<>();

    public Module(String type) {
      this.type = type;
    }

    /** Adds an attribute: a {@link Tensor}, Module, Long/Integer, String, Boolean, Double or null. */
    public Module put(String name, Object value) {
      attrs.put(name, value);
      return this;
    }

    /** The submodule at {@code name}, created with {@code type} if absent. */
    public Module child(String name, String type) {
      Object o = attrs.get(name);
      if (o instanceof Module m) {
        return m;
      }
      Module m = new Module(type);
      attrs.put(name, m);
      return m;
    }
  }

  /** A tensor of F32 or F16 values (rounded to nearest even), C order. */
  public record Tensor(DType dtype, float[] values, long... shape) {}

  /** The archive: data.pkl, constants.pkl, version, storages, and {@code code} (name to source), deflated. */
  public static byte[] bytes(Module root, Map<String, String> code) {
    Map<String, byte[]> stored = members(root);
    Map<String, byte[]> deflated = new LinkedHashMap<>();
    code.forEach((k, v) -> deflated.put("archive/code/" + k, v.getBytes(StandardCharsets.UTF_8)));
    return zip(stored, deflated);
  }

  /** The stored members of the archive of {@code root} (data.pkl first). */
  public static Map<String, byte[]> members(Module root) {
    List<Tensor> storages = new ArrayList<>();
    byte[] pkl = pickle(root, storages);
    Map<String, byte[]> m = new LinkedHashMap<>();
    m.put("archive/data.pkl", pkl);
    m.put("archive/constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'});
    m.put("archive/version", "3\n".getBytes(StandardCharsets.US_ASCII));
    for (int i = 0; i < storages.size(); i++) {
      m.put("archive/data/" + i, data(storages.get(i)));
    }
    return m;
  }

  /** data.pkl of {@code root}; the tensors are appended to {@code storages} (key = index). */
  public static byte[] pickle(Module root, List<Tensor> storages) {
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    p.write(0x80);
    p.write(2);
    value(p, root, storages);
    p.write('.');
    return p.toByteArray();
  }

  static byte[] data(Tensor t) {
    ByteBuffer b = ByteBuffer.allocate(t.values.length * t.dtype.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : t.values) {
      if (t.dtype == DType.F16) {
        b.putShort(Half.fromFloat(v));
      } else if (t.dtype == DType.F32) {
        b.putFloat(v);
      } else {
        throw new IllegalArgumentException(t.dtype.toString());
      }
    }
    return b.array();
  }

  private static void value(ByteArrayOutputStream p, Object v, List<Tensor> storages) {
    if (v instanceof Module m) {
      int dot = m.type.lastIndexOf('.');
      global(p, m.type.substring(0, dot), m.type.substring(dot + 1));
      p.write(')');
      p.write(0x81); // NEWOBJ
      p.write('}');
      p.write('(');
      for (Map.Entry<String, Object> a : m.attrs.entrySet()) {
        unicode(p, a.getKey());
        value(p, a.getValue(), storages);
      }
      p.write('u');
      p.write('b');
    } else if (v instanceof Tensor t) {
      tensor(p, t, storages.size());
      storages.add(t);
    } else if (v instanceof Integer || v instanceof Long) {
      long l = ((Number) v).longValue();
      if (l == (int) l) {
        binint(p, l);
      } else {
        p.write(0x8a);
        p.write(8);
        write(p, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(l).array());
      }
    } else if (v instanceof String s) {
      unicode(p, s);
    } else if (v instanceof Boolean b) {
      p.write(b ? 0x88 : 0x89);
    } else if (v instanceof Double d) {
      p.write('G');
      write(p, ByteBuffer.allocate(8).order(ByteOrder.BIG_ENDIAN).putDouble(d).array());
    } else if (v == null) {
      p.write('N');
    } else {
      throw new IllegalArgumentException("cannot write " + v.getClass());
    }
  }

  /** {@code _rebuild_tensor_v2(('storage', torch.XStorage, key, 'cpu', numel), 0, size, stride, False, OrderedDict())}. */
  static void tensor(ByteArrayOutputStream p, Tensor t, int key) {
    global(p, "torch._utils", "_rebuild_tensor_v2");
    p.write('(');
    p.write('(');
    unicode(p, "storage");
    global(p, "torch", t.dtype == DType.F16 ? "HalfStorage" : "FloatStorage");
    unicode(p, Integer.toString(key));
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
    p.write(0x89);
    global(p, "collections", "OrderedDict");
    p.write(')');
    p.write('R');
    p.write('t');
    p.write('R');
  }

  /** A zip of stored and deflated members (the deflated ones after the stored ones). */
  public static byte[] zip(Map<String, byte[]> stored, Map<String, byte[]> deflated) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (ZipOutputStream z = new ZipOutputStream(out)) {
      for (Map.Entry<String, byte[]> m : stored.entrySet()) {
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
      for (Map.Entry<String, byte[]> m : deflated.entrySet()) {
        ZipEntry e = new ZipEntry(m.getKey());
        e.setMethod(ZipEntry.DEFLATED);
        z.putNextEntry(e);
        z.write(m.getValue());
        z.closeEntry();
      }
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    return out.toByteArray();
  }

  static void global(ByteArrayOutputStream p, String module, String name) {
    write(p, ("c" + module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
  }

  static void unicode(ByteArrayOutputStream p, String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    p.write('X');
    write(p, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
    write(p, b);
  }

  static void binint(ByteArrayOutputStream p, long v) {
    p.write('J');
    write(p, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(Math.toIntExact(v)).array());
  }

  private static void write(ByteArrayOutputStream p, byte[] b) {
    p.write(b, 0, b.length);
  }
}
