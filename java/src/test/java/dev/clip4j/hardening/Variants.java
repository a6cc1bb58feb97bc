package dev.clip4j.hardening;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * Corrupted variants of valid files, deterministic for a seed: truncations (at many offsets and at
 * every zip record boundary), bit flips, zeroed ranges, and hand-made hostile files per format
 * (absurd header lengths, out-of-range offsets, {@code ../} zip members, zip/gzip bombs, images
 * declaring 65535x32767 pixels in a few bytes).
 */
final class Variants {
  private Variants() {}

  /** Generic corruptions of {@code valid}: name to content. */
  static Map<String, byte[]> generic(byte[] valid, Random rng, int flips, int zeroings) {
    Map<String, byte[]> out = new LinkedHashMap<>();
    TreeSet<Integer> cuts = new TreeSet<>(List.of(0, 1, 2, 3, 4, 7, 8, 9, 12, 16, 24, 32, 33, 64));
    for (int i = 1; i < 12; i++) {
      cuts.add((int) ((long) valid.length * i / 12));
    }
    cuts.add(valid.length - 1);
    cuts.add(valid.length / 2 + 1);
    for (int c : cuts) {
      if (c >= 0 && c < valid.length) {
        out.put("trunc-" + c, Arrays.copyOf(valid, c));
      }
    }
    for (int i = 0; i < flips; i++) {
      byte[] b = valid.clone();
      int n = 1 + rng.nextInt(8);
      for (int k = 0; k < n; k++) {
        int pos = rng.nextInt(b.length);
        b[pos] ^= (byte) (1 << rng.nextInt(8));
      }
      out.put("flip-" + i, b);
    }
    for (int i = 0; i < zeroings; i++) {
      byte[] b = valid.clone();
      int from = rng.nextInt(b.length);
      int len = 1 + rng.nextInt(Math.max(1, Math.min(64, b.length - from)));
      Arrays.fill(b, from, Math.min(b.length, from + len), (byte) 0);
      out.put("zero-" + i + "-at-" + from, b);
    }
    return out;
  }

  /** Truncations at every zip record boundary (local headers, central entries, EOCD), +-1. */
  static Map<String, byte[]> zipBoundaries(byte[] zip) {
    Map<String, byte[]> out = new LinkedHashMap<>();
    ByteBuffer b = ByteBuffer.wrap(zip).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i + 4 <= zip.length; i++) {
      int sig = b.getInt(i);
      if (sig == 0x04034b50 || sig == 0x02014b50 || sig == 0x06054b50) {
        for (int d = -1; d <= 1; d++) {
          int cut = i + d;
          if (cut > 0 && cut < zip.length) {
            out.put(String.format("zipcut-%08x-%d", sig, cut), Arrays.copyOf(zip, cut));
          }
        }
      }
    }
    return out;
  }

  // ---- safetensors ------------------------------------------------------------------------

  static byte[] safetensors(long declaredLen, String header, int dataBytes) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(declaredLen).put(h);
    return b.array();
  }

  static Map<String, byte[]> hostileSafetensors() {
    Map<String, byte[]> m = new LinkedHashMap<>();
    String ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    int n = ok.length();
    m.put("len-max", safetensors(Long.MAX_VALUE, ok, 8));
    m.put("len-negative", safetensors(-1, ok, 8));
    m.put("len-2^40", safetensors(1L << 40, ok, 8));
    m.put("len-past-eof", safetensors(n + 9, ok, 8));
    m.put("len-zero", safetensors(0, ok, 8));
    String overlap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
    m.put("overlap", safetensors(overlap.length(), overlap, 12));
    String past = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1000000],\"data_offsets\":[0,4000000]}}";
    m.put("offsets-past-eof", safetensors(past.length(), past, 8));
    String neg = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}";
    m.put("offsets-negative", safetensors(neg.length(), neg, 8));
    String huge = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}";
    m.put("shape-overflow", safetensors(huge.length(), huge, 8));
    String big = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1073741824],\"data_offsets\":[0,4294967296]}}";
    m.put("offsets-4GiB", safetensors(big.length(), big, 8));
    String dup = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    m.put("duplicate-key", safetensors(dup.length(), dup, 8));
    String deep = "[".repeat(100_000);
    m.put("deep-json", safetensors(deep.length(), deep, 0));
    String meta = "{\"__metadata__\":{\"k\":[1,2]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    m.put("metadata-not-string", safetensors(meta.length(), meta, 8));
    return m;
  }

  // ---- Hugging Face CLIP -------------------------------------------------------------------

  /** config.json files clip4j must refuse: hostile values and settings it does not compute. */
  static Map<String, String> hostileHfConfigs(String valid) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("gelu-new", valid.replaceFirst("\"quick_gelu\"", "\"gelu_new\""));
    m.put("towers-disagree", valid.replaceFirst("\"quick_gelu\"", "\"gelu\""));
    m.put("eps-1e-6", valid.replaceFirst("1\\.0E-5", "1.0E-6"));
    m.put("width-huge", valid.replaceFirst("\"hidden_size\" : 64", "\"hidden_size\" : 6" + "4".repeat(400)));
    m.put("layers-2^31", valid.replaceFirst("\"num_hidden_layers\" : 1", "\"num_hidden_layers\" : 2147483648"));
    m.put("heads-string", valid.replaceFirst("\"num_attention_heads\" : 4", "\"num_attention_heads\" : \"4\""));
    m.put("siglip", valid.replace("\"model_type\" : \"clip\"", "\"model_type\" : \"siglip\""));
    m.put("unknown-key", valid.replaceFirst("\\{", "{\"rope_scaling\":{},"));
    m.put("deep", "{\"model_type\":\"clip\",\"text_config\":" + "[".repeat(100_000));
    m.put("duplicate-key", valid.replaceFirst("\\{", "{\"model_type\":\"clip\","));
    m.put("not-object", "[1,2,3]");
    return m;
  }

  /** preprocessor_config.json files clip4j must refuse. */
  static Map<String, String> hostileHfPreprocessorConfigs(String valid) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("lanczos", valid.replace("\"resample\" : 3", "\"resample\" : 1"));
    m.put("crop-differs", valid.replaceFirst("\"height\" : 32", "\"height\" : 30"));
    m.put("size-huge", valid.replace("\"shortest_edge\" : 32", "\"shortest_edge\" : 9" + "9".repeat(30)));
    m.put("std-zero", valid.replaceFirst("0\\.26862954", "0"));
    m.put("rescale-half", valid.replaceFirst("\"rescale_factor\" : [0-9.Ee-]+", "\"rescale_factor\" : 0.5"));
    m.put("fast", valid.replace("\"CLIPImageProcessor\"", "\"CLIPImageProcessorFast\""));
    m.put("deep", "{\"size\":" + "{\"a\":".repeat(100_000));
    return m;
  }

  // ---- torch.save zip ---------------------------------------------------------------------

  /** A zip member as the local/central records describe it (method 0 stored or 8 deflated). */
  record Member(String name, byte[] data, int method, long declaredSize) {}

  /** A zip written by hand, so names and sizes can lie. */
  static byte[] rawZip(List<Member> members) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream cd = new ByteArrayOutputStream();
    int count = 0;
    for (Member m : members) {
      byte[] name = m.name.getBytes(StandardCharsets.UTF_8);
      byte[] stored = m.method == 8 ? deflate(m.data) : m.data;
      CRC32 crc = new CRC32();
      crc.update(m.data);
      int offset = out.size();
      ByteBuffer lh = ByteBuffer.allocate(30).order(ByteOrder.LITTLE_ENDIAN);
      lh.putInt(0x04034b50).putShort((short) 20).putShort((short) 0).putShort((short) m.method).putInt(0)
          .putInt((int) crc.getValue()).putInt(stored.length).putInt((int) m.declaredSize)
          .putShort((short) name.length).putShort((short) 0);
      out.writeBytes(lh.array());
      out.writeBytes(name);
      out.writeBytes(stored);
      ByteBuffer ce = ByteBuffer.allocate(46).order(ByteOrder.LITTLE_ENDIAN);
      ce.putInt(0x02014b50).putShort((short) 20).putShort((short) 20).putShort((short) 0).putShort((short) m.method)
          .putInt(0).putInt((int) crc.getValue()).putInt(stored.length).putInt((int) m.declaredSize)
          .putShort((short) name.length).putShort((short) 0).putShort((short) 0).putShort((short) 0)
          .putShort((short) 0).putInt(0).putInt(offset);
      cd.writeBytes(ce.array());
      cd.writeBytes(name);
      count++;
    }
    int cdOffset = out.size();
    out.writeBytes(cd.toByteArray());
    ByteBuffer eocd = ByteBuffer.allocate(22).order(ByteOrder.LITTLE_ENDIAN);
    eocd.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) count).putShort((short) count)
        .putInt(cd.size()).putInt(cdOffset).putShort((short) 0);
    out.writeBytes(eocd.array());
    return out.toByteArray();
  }

  static byte[] deflate(byte[] data) {
    Deflater d = new Deflater(Deflater.BEST_SPEED, true);
    d.setInput(data);
    d.finish();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[1 << 16];
    while (!d.finished()) {
      out.write(buf, 0, d.deflate(buf));
    }
    d.end();
    return out.toByteArray();
  }

  /** Pickle bytes from a compact spec: the ops of {@link TorchSaveWriter} style, hand-written. */
  static byte[] pickleOps(String... parts) {
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    for (String s : parts) {
      p.writeBytes(s.getBytes(StandardCharsets.ISO_8859_1));
    }
    return p.toByteArray();
  }

  private static Map<String, byte[]> hostileZips;

  /** Hand-made hostile torch.save archives (built once: the bombs take a moment to deflate). */
  static synchronized Map<String, byte[]> hostileTorchZips() {
    if (hostileZips == null) {
      hostileZips = java.util.Collections.unmodifiableMap(buildHostileTorchZips());
    }
    return hostileZips;
  }

  private static Map<String, byte[]> buildHostileTorchZips() {
    Map<String, byte[]> m = new LinkedHashMap<>();
    byte[] pkl = Seeds.pickle();
    byte[] d0 = new byte[24];
    byte[] d1 = new byte[16];
    m.put("member-dotdot", rawZip(List.of(new Member("archive/data.pkl", pkl, 0, pkl.length),
        new Member("archive/../x", d0, 0, d0.length), new Member("archive/data/0", d0, 0, d0.length),
        new Member("archive/data/1", d1, 0, d1.length))));
    m.put("member-absolute", rawZip(List.of(new Member("/tmp/clip4j-evil", pkl, 0, pkl.length),
        new Member("archive/data.pkl", pkl, 0, pkl.length))));
    m.put("member-dotdot-pkl", rawZip(List.of(new Member("../data.pkl", pkl, 0, pkl.length))));
    // A zip bomb: 256 MiB of zeros deflated to a few hundred KiB, as the storage member and as data.pkl.
    byte[] zeros = new byte[256 << 20];
    m.put("bomb-storage", rawZip(List.of(new Member("archive/data.pkl", pkl, 0, pkl.length),
        new Member("archive/data/0", zeros, 8, zeros.length), new Member("archive/data/1", d1, 0, d1.length))));
    m.put("bomb-pickle", rawZip(List.of(new Member("archive/data.pkl", zeros, 8, zeros.length))));
    m.put("size-lies", rawZip(List.of(new Member("archive/data.pkl", pkl, 0, 0x7fffffff),
        new Member("archive/data/0", d0, 0, d0.length), new Member("archive/data/1", d1, 0, d1.length))));
    String rebuild = "ctorch._utils\n_rebuild_tensor_v2\n";
    String storage = "((X\u0007\0\0\0storagectorch\nFloatStorage\nX\u0001\0\0\u00000X\u0003\0\0\0cpuJ\u0006\0\0\0tQ";
    String od = "ccollections\nOrderedDict\n)R";
    String[][] pickles = {
      {"os-system", "\u0080\u0002cos\nsystem\nX\u0002\0\0\0idtR."},
      {"builtins-eval", "\u0080\u0002cbuiltins\neval\nX\u0001\0\0\u00001\u0085R."},
      {"negative-offset", "\u0080\u0002" + od + "X\u0001\0\0\0a" + rebuild + storage
          + "\u008a\u0001\u00ff(J\u0002\0\0\0t(J\u0001\0\0\0t\u0089" + od + "tRs."},
      {"view-past-storage", "\u0080\u0002" + od + "X\u0001\0\0\0a" + rebuild + storage
          + "J\u0004\0\0\0(J\u0004\0\0\0t(J\u0001\0\0\0t\u0089" + od + "tRs."},
      {"numel-huge", "\u0080\u0002" + od + "X\u0001\0\0\0a" + rebuild
          + "((X\u0007\0\0\0storagectorch\nFloatStorage\nX\u0001\0\0\u00000X\u0003\0\0\0cpu\u008a\u0008\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u007ftQ"
          + "J\0\0\0\0(J\u0002\0\0\0t(J\u0001\0\0\0t\u0089" + od + "tRs."},
      {"stride-huge", "\u0080\u0002" + od + "X\u0001\0\0\0a" + rebuild + storage
          + "J\0\0\0\0(J\u0002\0\0\0J\u0002\0\0\0t(\u008a\u0008\0\0\0\0\0\0\0\u0040J\u0001\0\0\0t\u0089" + od + "tRs."},
      // A broadcast view (stride 0) of 2^28 elements of a 6-element storage: would be a 1 GiB copy.
      {"broadcast-view", "\u0080\u0002" + od + "X\u0001\0\0\0a" + rebuild + storage
          + "J\0\0\0\0(J\0\0\0\u0010t(J\0\0\0\0t\u0089" + od + "tRs."},
      // One storage key declared with 2 and then 6 elements (found by fuzzing the archive reader):
      // the mapping made for the first must not serve the second.
      {"storage-two-sizes", "\u0080\u0002" + od + "X\u0001\0\0\0a" + rebuild
          + "((X\u0007\0\0\0storagectorch\nFloatStorage\nX\u0001\0\0\u00000X\u0003\0\0\0cpuJ\u0002\0\0\0tQ"
          + "J\0\0\0\0(J\u0002\0\0\0t(J\u0001\0\0\0t\u0089" + od + "tRsX\u0001\0\0\0b" + rebuild + storage
          + "J\0\0\0\0(J\u0006\0\0\0t(J\u0001\0\0\0t\u0089" + od + "tRs."},
      {"nested-dict", "\u0080\u0002}X\u0005\0\0\0inner}s."},
      {"memo-missing", "\u0080\u0002h\u0007."},
      {"stack-underflow", "\u0080\u0002R."},
      {"marks-only", "\u0080\u0002" + "(".repeat(100_000) + "."},
      {"long-string", "\u0080\u0002X\u00ff\u00ff\u00ff\u007f."},
      {"proto-9", "\u0080\u0009."},
    };
    for (String[] p : pickles) {
      byte[] body = pickleOps(p[1]);
      m.put("pickle-" + p[0], rawZip(List.of(new Member("archive/data.pkl", body, 0, body.length),
          new Member("archive/data/0", d0, 0, d0.length), new Member("archive/data/1", d1, 0, d1.length))));
    }
    // EOCD claiming 0xffff entries without zip64, and a central directory offset past the file.
    byte[] z = Seeds.torchZip();
    byte[] many = z.clone();
    ByteBuffer.wrap(many).order(ByteOrder.LITTLE_ENDIAN).putShort(many.length - 22 + 10, (short) 0xffff);
    m.put("eocd-count-ffff", many);
    byte[] far = z.clone();
    ByteBuffer.wrap(far).order(ByteOrder.LITTLE_ENDIAN).putInt(far.length - 22 + 16, 0x7ffffff0);
    m.put("eocd-cd-offset-far", far);
    byte[] cdHuge = z.clone();
    ByteBuffer.wrap(cdHuge).order(ByteOrder.LITTLE_ENDIAN).putInt(cdHuge.length - 22 + 12, 0xfffffff0);
    m.put("eocd-cd-size-huge", cdHuge);
    // Two central entries pointing at the same local header (overlapping members).
    m.put("overlapping-members", overlapping());
    return m;
  }

  private static byte[] overlapping() {
    byte[] pkl = Seeds.pickle();
    byte[] d = new byte[24];
    byte[] z = rawZip(List.of(new Member("archive/data.pkl", pkl, 0, pkl.length), new Member("archive/data/0", d, 0, d.length),
        new Member("archive/data/1", d, 0, d.length)));
    // Point data/1's central entry at data/0's local header.
    ByteBuffer b = ByteBuffer.wrap(z).order(ByteOrder.LITTLE_ENDIAN);
    List<Integer> central = new ArrayList<>();
    for (int i = 0; i + 4 <= z.length; i++) {
      if (b.getInt(i) == 0x02014b50) {
        central.add(i);
      }
    }
    int off0 = b.getInt(central.get(1) + 42);
    b.putInt(central.get(2) + 42, off0);
    return z;
  }

  // ---- images -----------------------------------------------------------------------------

  private static byte[] pngChunk(String type, byte[] data) {
    ByteBuffer b = ByteBuffer.allocate(12 + data.length);
    b.putInt(data.length).put(type.getBytes(StandardCharsets.US_ASCII)).put(data);
    CRC32 crc = new CRC32();
    crc.update(type.getBytes(StandardCharsets.US_ASCII));
    crc.update(data);
    b.putInt((int) crc.getValue());
    return b.array();
  }

  /** A PNG that declares {@code w x h} RGB pixels and holds one tiny IDAT. */
  static byte[] pngDeclaring(int w, int h) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A});
    out.writeBytes(pngChunk("IHDR", ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 8).put((byte) 2)
        .put((byte) 0).put((byte) 0).put((byte) 0).array()));
    out.writeBytes(pngChunk("IDAT", deflateZlib(new byte[64])));
    out.writeBytes(pngChunk("IEND", new byte[0]));
    return out.toByteArray();
  }

  private static byte[] deflateZlib(byte[] data) {
    Deflater d = new Deflater();
    d.setInput(data);
    d.finish();
    byte[] buf = new byte[1024];
    int n = d.deflate(buf);
    d.end();
    return Arrays.copyOf(buf, n);
  }

  /** {@code jpeg} with its SOF0 frame size rewritten to {@code w x h}. */
  static byte[] jpegDeclaring(byte[] jpeg, int w, int h) {
    byte[] b = jpeg.clone();
    for (int i = 2; i + 9 < b.length; i++) {
      if ((b[i] & 0xFF) == 0xFF && ((b[i + 1] & 0xFF) == 0xC0 || (b[i + 1] & 0xFF) == 0xC2)) {
        b[i + 5] = (byte) (h >>> 8);
        b[i + 6] = (byte) h;
        b[i + 7] = (byte) (w >>> 8);
        b[i + 8] = (byte) w;
        return b;
      }
    }
    throw new IllegalStateException("no SOF marker");
  }

  /** A GIF whose screen and image descriptor say {@code w x h}, with a one-byte LZW stream. */
  static byte[] gifDeclaring(int w, int h) {
    ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
    b.put("GIF89a".getBytes(StandardCharsets.US_ASCII)).putShort((short) w).putShort((short) h)
        .put((byte) 0x80).put((byte) 0).put((byte) 0);
    b.put(new byte[] {0, 0, 0, (byte) 255, (byte) 255, (byte) 255}); // 2-colour table
    b.put((byte) 0x2C).putShort((short) 0).putShort((short) 0).putShort((short) w).putShort((short) h).put((byte) 0);
    b.put((byte) 2).put((byte) 2).put((byte) 0x4C).put((byte) 0x01).put((byte) 0).put((byte) 0x3B);
    return Arrays.copyOf(b.array(), b.position());
  }

  /** A BMP header declaring {@code w x h} 24-bit pixels followed by a few bytes. */
  static byte[] bmpDeclaring(int w, int h) {
    ByteBuffer b = ByteBuffer.allocate(54 + 16).order(ByteOrder.LITTLE_ENDIAN);
    b.put((byte) 'B').put((byte) 'M').putInt(70).putInt(0).putInt(54);
    b.putInt(40).putInt(w).putInt(h).putShort((short) 1).putShort((short) 24).putInt(0).putInt(0)
        .putInt(2835).putInt(2835).putInt(0).putInt(0);
    return b.array();
  }
}
