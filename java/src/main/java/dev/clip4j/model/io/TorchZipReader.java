package dev.clip4j.model.io;

import dev.clip4j.InvalidModelException;
import dev.clip4j.model.io.RestrictedUnpickler.StorageRef;
import dev.clip4j.model.io.RestrictedUnpickler.TensorRef;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads {@code torch.save(state_dict)} archives (zip + pickle) without Python and without
 * LibTorch: the zip directory is checked by {@link ZipDirectory}, {@code data.pkl} is run by
 * {@link RestrictedUnpickler}, and each tensor is a view of its storage member, memory-mapped;
 * contiguous views are zero-copy slices, strided ones are gathered into a new buffer. Every view
 * is bounds-checked against its storage.
 */
final class TorchZipReader {
  static final long MAX_PICKLE = 64L << 20;
  private static final String KIND = "torch.save archive";

  private TorchZipReader() {}

  static StateDict read(Path file) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      // A TorchScript archive's code/ is deflated: skip it here so the message below can say what it is.
      Map<String, ZipDirectory.Member> members =
          ZipDirectory.read(ch, file, JitArchiveReader::isCodeMember, "torch.save archive");
      String prefix = null;
      for (String name : members.keySet()) {
        int slash = name.indexOf('/');
        if (slash > 0 && name.substring(slash + 1).equals("data.pkl")) {
          if (prefix != null) {
            throw ZipDirectory.bad(file, "more than one data.pkl");
          }
          prefix = name.substring(0, slash + 1);
        }
      }
      if (prefix == null) {
        throw ZipDirectory.bad(file, "no data.pkl (not a torch.save archive)");
      }
      if (members.containsKey(prefix + "constants.pkl") || members.keySet().stream().anyMatch(JitArchiveReader::isCodeMember)) {
        throw ZipDirectory.bad(file, "this is a TorchScript archive, not a state dict; load it as a TorchScript model");
      }
      ZipDirectory.Member bo = members.get(prefix + "byteorder");
      if (bo != null) {
        String order = new String(bytes(ch, bo, 16, file), StandardCharsets.US_ASCII).trim();
        if (!order.equals("little")) {
          throw ZipDirectory.bad(file, "byte order '" + order + "' is not supported");
        }
      }
      ZipDirectory.Member pkl = members.get(prefix + "data.pkl");
      if (pkl.size() > MAX_PICKLE) {
        throw ZipDirectory.bad(file, "data.pkl of " + pkl.size() + " bytes is too large");
      }
      Object top = RestrictedUnpickler.load(ByteBuffer.wrap(bytes(ch, pkl, (int) MAX_PICKLE, file)), file);
      if (!(top instanceof Map<?, ?> dict)) {
        throw ZipDirectory.bad(file, "the pickle is not a dict of tensors");
      }
      Map<String, String> metadata = new HashMap<>();
      if (dict.get("state_dict") instanceof Map<?, ?> inner) {
        // A training checkpoint ({"epoch": ..., "state_dict": {...}, "optimizer": {...}}, as
        // open_clip's training saves it): the model's weights are its state_dict; the rest is
        // training state, parsed by the same restricted unpickler and dropped.
        dict = inner;
        metadata.put("wrapper", "state_dict");
      }
      Storages storages = new Storages(ch, members, prefix, file, KIND);
      Map<String, TensorData> tensors = new LinkedHashMap<>();
      for (Map.Entry<?, ?> e : dict.entrySet()) {
        if (!(e.getKey() instanceof String key)) {
          throw ZipDirectory.bad(file, "a state dict key is not a string");
        }
        if (e.getValue() instanceof Map) {
          throw new InvalidModelException(file + ": entry '" + key + "' is a nested dict: neither a state dict"
              + " of tensors nor a training checkpoint with a 'state_dict' entry");
        }
        if (!(e.getValue() instanceof TensorRef t)) {
          throw ZipDirectory.bad(file, "entry '" + key + "' is not a tensor");
        }
        ByteBuffer storage = storages.get(t.storage());
        tensors.put(key, new TensorData(key, t.storage().dtype(), t.size(), view(t, storage, key, file, KIND)));
      }
      return new StateDict(file, "torch-zip", tensors, metadata);
    } catch (IOException e) {
      throw new InvalidModelException(file + ": cannot read: " + e.getMessage(), e);
    }
  }

  private static byte[] bytes(FileChannel ch, ZipDirectory.Member m, int max, Path file) throws IOException {
    if (m.size() > max) {
      throw ZipDirectory.bad(file, "member '" + m.name() + "' is too large");
    }
    ByteBuffer b = ByteBuffer.allocate((int) m.size());
    SafetensorsReader.readFully(ch, b, m.dataOffset(), file);
    return b.array();
  }

  /**
   * The storages of one archive, each mapped once. Every reference to a storage key must agree on
   * its dtype and element count: a view is checked against the element count of its own
   * reference, so a storage mapped for a smaller one must not serve it.
   */
  static final class Storages {
    private final FileChannel ch;
    private final Map<String, ZipDirectory.Member> members;
    private final String prefix;
    private final Path file;
    private final String kind;
    private final Map<String, StorageRef> refs = new HashMap<>();
    private final Map<String, ByteBuffer> buffers = new HashMap<>();

    Storages(FileChannel ch, Map<String, ZipDirectory.Member> members, String prefix, Path file, String kind) {
      this.ch = ch;
      this.members = members;
      this.prefix = prefix;
      this.file = file;
      this.kind = kind;
    }

    ByteBuffer get(StorageRef ref) throws IOException {
      StorageRef first = refs.putIfAbsent(ref.key(), ref);
      if (first != null && !first.equals(ref)) {
        throw ZipDirectory.bad(file, kind, "storage '" + ref.key() + "' is referenced as " + first.numel() + " "
            + first.dtype() + " elements and as " + ref.numel() + " " + ref.dtype() + " elements");
      }
      ByteBuffer b = buffers.get(ref.key());
      if (b == null) {
        b = storage(ch, members, prefix, ref, file, kind);
        buffers.put(ref.key(), b);
      }
      return b;
    }
  }

  /**
   * The bytes of one storage ({@code <prefix>data/<key>}), memory-mapped, after checking that the
   * member holds all {@code numel} elements; {@code kind} names the format in messages.
   */
  static ByteBuffer storage(FileChannel ch, Map<String, ZipDirectory.Member> members, String prefix,
      StorageRef ref, Path file, String kind) throws IOException {
    ZipDirectory.Member m = members.get(prefix + "data/" + ref.key());
    if (m == null) {
      throw ZipDirectory.bad(file, kind, "storage '" + ref.key() + "' is missing from the archive");
    }
    long bytes;
    try {
      bytes = Math.multiplyExact(ref.numel(), ref.dtype().byteSize());
    } catch (ArithmeticException e) {
      throw ZipDirectory.bad(file, kind, "storage '" + ref.key() + "' size overflows");
    }
    if (m.size() < bytes) {
      throw ZipDirectory.bad(file, kind, "storage '" + ref.key() + "' holds " + m.size() + " bytes but " + ref.numel()
          + " " + ref.dtype() + " elements need " + bytes);
    }
    if (bytes > Integer.MAX_VALUE) {
      throw ZipDirectory.bad(file, kind, "storage '" + ref.key() + "' is larger than 2 GiB");
    }
    return bytes == 0 ? ByteBuffer.allocate(0) : ch.map(FileChannel.MapMode.READ_ONLY, m.dataOffset(), bytes);
  }

  /**
   * The C-ordered bytes of tensor {@code t} in its storage: a zero-copy slice when contiguous, a
   * gathered copy when strided; every element is checked to lie inside the storage.
   */
  static ByteBuffer view(TensorRef t, ByteBuffer storage, String key, Path file, String kind) {
    long[] size = t.size();
    long[] stride = t.stride();
    if (size.length != stride.length) {
      throw ZipDirectory.bad(file, kind, "tensor '" + key + "' has " + size.length + " sizes but " + stride.length + " strides");
    }
    int es = t.storage().dtype().byteSize();
    long numel;
    long extent = 0;
    try {
      numel = TensorData.numel(size);
      for (int i = 0; i < size.length; i++) {
        if (size[i] > 0) {
          extent = Math.addExact(extent, Math.multiplyExact(size[i] - 1, stride[i]));
        }
      }
    } catch (ArithmeticException e) {
      throw ZipDirectory.bad(file, kind, "tensor '" + key + "' shape overflows");
    }
    if (t.offset() < 0) {
      throw ZipDirectory.bad(file, kind, "tensor '" + key + "' has a negative storage offset " + t.offset());
    }
    if (numel == 0) {
      return ByteBuffer.allocate(0);
    }
    if (extent >= t.storage().numel() || t.offset() > t.storage().numel() - extent - 1) { // no overflow
      throw ZipDirectory.bad(file, kind, "tensor '" + key + "' (offset " + t.offset() + ", size "
          + RestrictedUnpickler.shape(size) + ", stride " + RestrictedUnpickler.shape(stride)
          + ") reaches past its storage of " + t.storage().numel() + " elements");
    }
    boolean contiguous = true;
    long expect = 1;
    for (int i = size.length - 1; i >= 0; i--) {
      if (size[i] != 1 && stride[i] != expect) {
        contiguous = false;
      }
      expect *= size[i];
    }
    ByteBuffer src = storage.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    if (contiguous) {
      src.position((int) (t.offset() * es)).limit((int) ((t.offset() + numel) * es));
      return src.slice().order(ByteOrder.LITTLE_ENDIAN);
    }
    // A strided view (e.g. a saved transpose): gather it into C order. A view with more elements
    // than its storage repeats elements (stride 0, overlapping strides): its copy could be far
    // larger than the file, so it is refused rather than allocated.
    if (numel > t.storage().numel()) {
      throw ZipDirectory.bad(file, kind, "tensor '" + key + "' (size " + RestrictedUnpickler.shape(size) + ", stride "
          + RestrictedUnpickler.shape(stride) + ") has more elements than its storage of " + t.storage().numel()
          + " (a broadcast or overlapping view); clip4j reads only views that are plain layouts of their storage");
    }
    if (numel * es > Integer.MAX_VALUE) {
      throw ZipDirectory.bad(file, kind, "tensor '" + key + "' is too large to gather");
    }
    ByteBuffer out = ByteBuffer.allocateDirect((int) (numel * es)).order(ByteOrder.LITTLE_ENDIAN);
    long[] idx = new long[size.length];
    byte[] elem = new byte[es];
    for (long n = 0; n < numel; n++) {
      long off = t.offset();
      for (int d = 0; d < size.length; d++) {
        off += idx[d] * stride[d];
      }
      src.get((int) (off * es), elem);
      out.put(elem);
      for (int d = size.length - 1; d >= 0; d--) {
        if (++idx[d] < size[d]) {
          break;
        }
        idx[d] = 0;
      }
    }
    out.flip();
    return out;
  }
}
