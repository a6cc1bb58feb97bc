package dev.clip4j.model.io;

import dev.clip4j.InvalidModelException;
import dev.clip4j.internal.UserFiles;
import dev.clip4j.model.io.RestrictedUnpickler.ScriptObject;
import dev.clip4j.model.io.RestrictedUnpickler.TensorRef;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Reads the weights of a TorchScript archive ({@code torch.jit.save} of a scripted or traced
 * module: OpenAI's {@code clip} archives ViT-B-32.pt, ViT-L-14.pt, ..., open_clip's {@code
 * torch.jit.script} output) in pure Java, without running it: no Python, no LibTorch, and nothing
 * in the archive's {@code code/} is read or run (those members are checked as zip entries and
 * never inflated).
 *
 * <p>{@code data.pkl} holds the module tree as TorchScript's pickler writes it: every module is
 * an object of its {@code __torch__.*} class whose attributes are its parameters, buffers,
 * submodules and plain values. {@link RestrictedUnpickler} turns it into opaque objects (no class
 * is looked up), and this reader walks the tree from the root. The state dict is, as in
 * PyTorch's {@code state_dict()}, every tensor that is a direct attribute of a module, named by
 * its dotted attribute path, with these exceptions (listed by {@link JitArchive#leftOut()}):
 *
 * <ul>
 *   <li>{@code attn_mask} anywhere: the causal mask of the text tower, derived from the context
 *       length. open_clip registers it as a non-persistent buffer and OpenAI's model keeps it as
 *       a plain attribute; neither is in their state dicts (a scripted archive records the
 *       non-persistent buffer like any buffer, so only the name tells).
 *   <li>{@code input_resolution}, {@code context_length}, {@code vocab_size} at the root when
 *       they are 0-dim integer tensors: OpenAI's archives keep these as buffers, and both {@code
 *       clip.model.build_model} and open_clip's {@code build_model_from_openai_state_dict} drop
 *       them from the state dict. Their values are in {@link JitArchive#intAttributes()}.
 * </ul>
 *
 * Tensors inside containers (lists, dicts, tuples) are not module attributes and are skipped, as
 * are the graph constants of {@code constants.pkl} (tensors the code captured, e.g. the mask of a
 * traced OpenAI model: unnamed, never in a state dict). The archive records no difference
 * between a parameter, a buffer and another tensor attribute outside its {@code code/}, which is
 * not read; an extra tensor attribute would therefore appear as an extra state-dict key, which a
 * strict key check then reports.
 *
 * <p>Tensors keep their stored dtype and are memory-mapped, zero-copy views of their storages
 * when contiguous (strided views are gathered). Everything is bounded before it is allocated:
 * {@code data.pkl} size, pickle values, module nesting depth, tensor count, path lengths, storage
 * extents. Every failure is an {@link InvalidModelException} naming the file and the reason; a
 * well-formed archive without CLIP weights gives a {@link NotAClipStateException}.
 */
public final class JitArchiveReader {
  /** Largest {@code data.pkl} read. */
  static final long MAX_PICKLE = TorchZipReader.MAX_PICKLE;
  /** Deepest module nesting (a ViT CLIP nests 6 deep). */
  static final int MAX_DEPTH = 64;
  /** Most tensors, module types and int attributes kept (ViT-bigG: ~1,000 tensors, ~700 modules). */
  static final int MAX_ENTRIES = 100_000;
  /** Longest dotted path. */
  static final int MAX_PATH = 1024;
  /** Most characters in all kept paths together. */
  static final long MAX_CHARS = 16L << 20;
  /** Most attribute entries walked (a module shared under several paths is walked under each). */
  static final int MAX_VISITS = 4_000_000;

  private static final String KIND = "TorchScript archive";
  private static final Set<String> OPENAI_SCALARS = Set.of("input_resolution", "context_length", "vocab_size");

  private JitArchiveReader() {}

  /**
   * Reads a TorchScript archive's module data.
   *
   * @throws NotAClipStateException for a well-formed archive whose module data holds no CLIP
   *     weights (no {@code logit_scale} or no {@code visual.*} tensor)
   * @throws InvalidModelException for anything else that is wrong, naming the file and the
   *     reason (not a zip, not a TorchScript archive, a pickle outside what TorchScript writes,
   *     a bound exceeded, a tensor past its storage, ...)
   */
  public static JitArchive read(Path file) {
    UserFiles.requireRegularFile(file, InvalidModelException::new);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      return new JitArchiveReader.Walk(file).read(ch);
    } catch (IOException e) {
      throw new InvalidModelException(file + ": cannot read: " + e.getMessage(), e);
    }
  }

  /**
   * Whether {@code name} is in a TorchScript archive's {@code code/} directory ({@code
   * <archive>/code/...}): Python source and debug tables, deflated, never read by clip4j.
   */
  static boolean isCodeMember(String name) {
    int slash = name.indexOf('/');
    return slash > 0 && name.startsWith("code/", slash + 1);
  }

  static InvalidModelException bad(Path file, String what) {
    return ZipDirectory.bad(file, KIND, what);
  }

  /** One read: the walk's state and bounds. */
  private static final class Walk {
    private final Path file;
    private final Map<String, TensorRef> tensors = new LinkedHashMap<>();
    private final Map<String, String> types = new LinkedHashMap<>();
    private final Map<String, Long> ints = new LinkedHashMap<>();
    private final Map<String, String> leftOut = new LinkedHashMap<>();
    private final Set<ScriptObject> onPath = Collections.newSetFromMap(new IdentityHashMap<>());
    private long chars;
    private int entries;
    private int visits;

    Walk(Path file) {
      this.file = file;
    }

    JitArchive read(FileChannel ch) throws IOException {
      Map<String, ZipDirectory.Member> members = ZipDirectory.read(ch, file, JitArchiveReader::isCodeMember, KIND);
      String prefix = null;
      for (String name : members.keySet()) {
        int slash = name.indexOf('/');
        if (slash > 0 && name.indexOf('/', slash + 1) < 0 && name.substring(slash + 1).equals("data.pkl")) {
          if (prefix != null) {
            throw bad(file, "more than one data.pkl");
          }
          prefix = name.substring(0, slash + 1);
        }
      }
      if (prefix == null) {
        throw bad(file, "no <archive>/data.pkl (not a PyTorch zip archive)");
      }
      if (!members.containsKey(prefix + "constants.pkl")) {
        throw bad(file, "no " + prefix + "constants.pkl: this is not a TorchScript archive (a torch.save"
            + " state dict is read with CheckpointReader)");
      }
      ZipDirectory.Member bo = members.get(prefix + "byteorder");
      if (bo != null) {
        String order = new String(bytes(ch, bo, 16), StandardCharsets.US_ASCII).trim();
        if (!order.equals("little")) {
          throw bad(file, "byte order '" + order + "' is not supported");
        }
      }
      ZipDirectory.Member pkl = members.get(prefix + "data.pkl");
      if (pkl.size() > MAX_PICKLE) {
        throw bad(file, "data.pkl of " + pkl.size() + " bytes is larger than " + MAX_PICKLE);
      }
      Object top = RestrictedUnpickler.loadTorchScript(ByteBuffer.wrap(bytes(ch, pkl, (int) MAX_PICKLE)), file);
      if (!(top instanceof ScriptObject root)) {
        throw bad(file, "data.pkl holds " + RestrictedUnpickler.describe(top) + ", not a module object");
      }
      types.put("", root.type);
      walk(root, "", 0);

      // Root scalars of OpenAI's archives: metadata, not weights.
      TorchZipReader.Storages storages = new TorchZipReader.Storages(ch, members, prefix, file, KIND);
      for (String name : OPENAI_SCALARS) {
        TensorRef t = tensors.get(name);
        if (t != null) {
          ints.put(name, scalar(storages, name, t));
          tensors.remove(name);
          leftOut.put(name, "OpenAI's metadata scalar (clip's build_model and open_clip's"
              + " build_model_from_openai_state_dict drop it from the state dict)");
        }
      }

      // Every tensor checked against its storage and mapped, before deciding what the archive is.
      Map<String, TensorData> data = new LinkedHashMap<>();
      for (Map.Entry<String, TensorRef> e : tensors.entrySet()) {
        data.put(e.getKey(), tensor(storages, e.getKey(), e.getValue()));
      }
      if (data.isEmpty()) {
        throw new NotAClipStateException(file + ": the TorchScript archive's module data (root class "
            + root.type + ") holds no tensors, so it is not a CLIP state; it can only be run as"
            + " TorchScript code", root.type);
      }
      boolean visual = data.keySet().stream().anyMatch(k -> k.startsWith("visual."));
      if (!data.containsKey("logit_scale") || !visual) {
        String missing = !visual && !data.containsKey("logit_scale") ? "no logit_scale and no visual.* tensors"
            : !visual ? "no visual.* tensors" : "no logit_scale";
        throw new NotAClipStateException(file + ": the TorchScript archive's module data (root class "
            + root.type + ", " + data.size() + " tensors) is not a CLIP state: it has " + missing
            + "; it can only be run as TorchScript code", root.type);
      }
      StateDict sd = new StateDict(file, "torchscript", data, Map.of());
      return new JitArchive(file, root.type, sd, types, ints, leftOut);
    }

    /** Depth-first over the attributes of {@code o}, in their recorded order. */
    private void walk(ScriptObject o, String path, int depth) {
      if (o.attributes == null) {
        throw bad(file, "module '" + path + "' (" + o.type + ") has no attribute state (BUILD missing)");
      }
      if (depth > MAX_DEPTH) {
        throw bad(file, "modules nest deeper than " + MAX_DEPTH + " (at '" + clip(path) + "')");
      }
      if (!onPath.add(o)) {
        throw bad(file, "module '" + clip(path) + "' contains itself");
      }
      for (Map.Entry<String, Object> a : o.attributes.entrySet()) {
        if (++visits > MAX_VISITS) {
          throw bad(file, "the module tree has more than " + MAX_VISITS + " attributes (modules shared many times?)");
        }
        String name = a.getKey();
        Object v = a.getValue();
        if (!(v instanceof TensorRef || v instanceof ScriptObject || v instanceof Long)) {
          continue; // bools, floats, strings, None, devices, containers: not weights
        }
        if (!attributeName(name)) {
          throw bad(file, "module '" + clip(path) + "' has an attribute named '" + clip(name)
              + "', which is not an identifier or index");
        }
        String child = path.isEmpty() ? name : path + "." + name;
        if (child.length() > MAX_PATH) {
          throw bad(file, "attribute path longer than " + MAX_PATH + " characters: '" + clip(child) + "'");
        }
        if (v instanceof TensorRef t) {
          if (name.equals("attn_mask")) {
            leftOut.put(count(child), "derived causal attention mask (open_clip: non-persistent buffer;"
                + " OpenAI: plain attribute); not in a state dict");
          } else {
            tensors.put(count(child), t);
          }
        } else if (v instanceof ScriptObject s) {
          types.put(count(child), s.type);
          walk(s, child, depth + 1);
        } else {
          ints.put(count(child), (Long) v);
        }
      }
      onPath.remove(o);
    }

    /** Counts one kept entry against the bounds; returns {@code path}. */
    private String count(String path) {
      if (++entries > MAX_ENTRIES) {
        throw bad(file, "the module tree has more than " + MAX_ENTRIES + " tensors, modules and attributes");
      }
      chars += path.length();
      if (chars > MAX_CHARS) {
        throw bad(file, "the module tree's names exceed " + MAX_CHARS + " characters");
      }
      return path;
    }

    private TensorData tensor(TorchZipReader.Storages storages, String name, TensorRef t) throws IOException {
      String key = t.storage().key();
      if (key.isEmpty() || key.length() > 64 || key.contains("/") || key.equals("..")) {
        throw bad(file, "tensor '" + name + "' names storage '" + clip(key) + "', which is not a storage key");
      }
      ByteBuffer storage = storages.get(t.storage());
      return storages.tensor(name, t, storage, TorchZipReader.view(t, storage, name, file, KIND));
    }

    /** The value of a 0-dim (one-element) integer tensor, or an exactly integral float one. */
    private long scalar(TorchZipReader.Storages storages, String name, TensorRef t) throws IOException {
      TensorData d = tensor(storages, name, t);
      if (d.numel() != 1) {
        throw bad(file, "root tensor '" + name + "' has shape " + RestrictedUnpickler.shape(d.shape())
            + "; OpenAI's archives hold it as a 0-dim integer");
      }
      ByteBuffer b = d.data();
      switch (d.dtype()) {
        case I64:
          return b.getLong(0);
        case I32:
          return b.getInt(0);
        case I16:
          return b.getShort(0);
        case I8:
          return b.get(0);
        case U8:
          return b.get(0) & 0xff;
        case F16:
        case BF16:
        case F32:
        case F64: {
          double v = d.dtype() == DType.F64 ? b.getDouble(0) : d.toFloatArray()[0];
          if (v != Math.rint(v) || Math.abs(v) > 1 << 30) {
            throw bad(file, "root tensor '" + name + "' is " + v + ", not an integer");
          }
          return (long) v;
        }
        default:
          throw bad(file, "root tensor '" + name + "' is " + d.dtype() + ", not an integer");
      }
    }

    private byte[] bytes(FileChannel ch, ZipDirectory.Member m, int max) throws IOException {
      if (m.size() > max) {
        throw bad(file, "member '" + m.name() + "' is too large");
      }
      ByteBuffer b = ByteBuffer.allocate((int) m.size()).order(ByteOrder.LITTLE_ENDIAN);
      SafetensorsReader.readFully(ch, b, m.dataOffset(), file);
      return b.array();
    }
  }

  /** An attribute name: an identifier (a Python attribute) or digits (a ModuleList index). */
  private static boolean attributeName(String s) {
    if (s.isEmpty() || s.length() > 256) {
      return false;
    }
    if (s.matches("-[1-9][0-9]{0,8}")) {
      return true; // a negative index: ModifiedResNet's downsample names its AvgPool2d "-1" (OpenAI's RN archives)
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
        return false;
      }
    }
    return true;
  }

  private static String clip(String s) {
    return s.length() > 120 ? s.substring(0, 120) + "..." : s;
  }
}
