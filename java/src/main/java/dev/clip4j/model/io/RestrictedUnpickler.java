package dev.clip4j.model.io;

import dev.clip4j.InvalidModelException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A small explicit interpreter for the pickle that {@code torch.save(state_dict)} writes, and
 * nothing more. It is not a general unpickler with a filter: it knows a fixed opcode subset, and
 * the only callables are the ones a state dict needs ({@code collections.OrderedDict}, {@code
 * torch._utils._rebuild_tensor_v2}, {@code torch._utils._rebuild_parameter}) plus the storage
 * type tags, which are never called. Any other global, opcode, or shape of call is refused with
 * a message naming it. Stack, memo, string and op counts are bounded.
 *
 * <p>{@link #loadTorchScript} reads the {@code data.pkl} of a TorchScript archive, which
 * TorchScript's own pickler writes ({@code torch/csrc/jit/serialization/pickler.cpp}): each
 * module or class instance is {@code GLOBAL '__torch__.<qualified class>'}, {@code EMPTY_TUPLE},
 * {@code NEWOBJ}, then a dict of its attributes and {@code BUILD}. Such an object becomes an
 * opaque {@link ScriptObject} (class name + attributes): the class is never looked up, nothing in
 * the archive's {@code code/} is read or run. Besides the state-dict callables this dialect
 * allows only TorchScript's identity helpers ({@code torch.jit._pickle.restore_type_tag} and the
 * legacy {@code build_intlist}/{@code build_doublelist}/{@code build_boollist}/{@code
 * build_tensorlist}) and {@code torch.device(str)}, which becomes a {@link Device} record.
 */
final class RestrictedUnpickler {
  static final int MAX_OPS = 50_000_000;
  /** Memo entries (a CLIP state dict memoizes about 6 per tensor). */
  static final int MAX_MEMO = 250_000;
  static final int MAX_STACK = 1_000_000;
  static final int MAX_STRING = 1 << 20;
  /**
   * Values pushed in all (each is at most one new object of a few dozen bytes): bounds the heap a
   * pickle can make clip4j allocate, whatever its size. A state dict pushes about 30 per tensor
   * (ViT-bigG: ~1,000 tensors), so this allows some 15,000 tensors.
   */
  static final int MAX_VALUES = 500_000;

  private static final Set<String> CALLABLES = Set.of(
      "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter");

  /** The extra callables of TorchScript's pickles (all return their first argument or a record). */
  private static final Set<String> SCRIPT_CALLABLES = Set.of(
      "torch.jit._pickle.restore_type_tag", "torch.jit._pickle.build_intlist",
      "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist",
      "torch.jit._pickle.build_tensorlist", "torch.device");

  /** Longest TorchScript class name accepted (module path + class). */
  static final int MAX_CLASS_NAME = 512;

  /** Which pickles are accepted. */
  enum Dialect {
    /** {@code torch.save(state_dict)}. */
    TORCH_SAVE("torch.save archive"),
    /** A TorchScript archive's {@code data.pkl}. */
    TORCHSCRIPT("TorchScript archive");

    final String kind;

    Dialect(String kind) {
      this.kind = kind;
    }
  }

  /**
   * An instance of a TorchScript class (a module, or a class object) from {@code data.pkl}: its
   * recorded class name ({@code __torch__.open_clip.transformer.QuickGELU}, possibly with {@code
   * ___torch_mangle_N} segments) and its attributes in pickle order, set once by BUILD.
   */
  static final class ScriptObject {
    final String type;
    Map<String, Object> attributes;

    ScriptObject(String type) {
      this.type = type;
    }
  }

  /** {@code torch.device(name)}. */
  record Device(String name) {}

  /** A reference to a global the pickle named (allowed ones only). */
  record Global(String module, String name) {
    String qualified() {
      return module + "." + name;
    }
  }

  /** A persistent storage reference: ('storage', type, key, location, numel). */
  record StorageRef(DType dtype, String key, long numel) {}

  /** A tensor view of a storage. */
  record TensorRef(StorageRef storage, long offset, long[] size, long[] stride) {}

  /** A Python tuple. */
  record Tuple(List<Object> items) {}

  private static final Object MARK = new Object();
  private static final Object NONE = new Object();

  private final ByteBuffer in;
  private final Path file;
  private final Dialect dialect;
  private final List<Object> stack = new ArrayList<>();
  private final List<Integer> marks = new ArrayList<>();
  private final Map<Long, Object> memo = new HashMap<>();
  private int values;

  private RestrictedUnpickler(ByteBuffer in, Path file, Dialect dialect) {
    this.in = in.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    this.file = file;
    this.dialect = dialect;
  }

  /** Interprets {@code pickle}; returns the top-level object. */
  static Object load(ByteBuffer pickle, Path file) {
    return load(pickle, file, Dialect.TORCH_SAVE);
  }

  /**
   * Interprets the {@code data.pkl} of a TorchScript archive; returns the top-level object (the
   * root module, a {@link ScriptObject}, for a well-formed archive).
   */
  static Object loadTorchScript(ByteBuffer pickle, Path file) {
    return load(pickle, file, Dialect.TORCHSCRIPT);
  }

  private static Object load(ByteBuffer pickle, Path file, Dialect dialect) {
    try {
      return new RestrictedUnpickler(pickle, file, dialect).run();
    } catch (java.nio.BufferUnderflowException | IndexOutOfBoundsException e) {
      throw ZipDirectory.bad(file, dialect.kind, "the pickle is truncated or malformed");
    }
  }

  private Object run() {
    for (int ops = 0; ops < MAX_OPS; ops++) {
      int op = in.get() & 0xff;
      switch (op) {
        case 0x80: // PROTO
          int proto = in.get() & 0xff;
          if (proto > 5) {
            throw err("pickle protocol " + proto + " is not supported");
          }
          break;
        case 0x95: // FRAME
          in.getLong();
          break;
        case '(': // MARK
          marks.add(stack.size());
          push(MARK);
          break;
        case ')': // EMPTY_TUPLE
          push(new Tuple(List.of()));
          break;
        case '}': // EMPTY_DICT
          push(new LinkedHashMap<Object, Object>());
          break;
        case ']': // EMPTY_LIST
          push(new ArrayList<Object>());
          break;
        case 't': // TUPLE
          push(new Tuple(popMark()));
          break;
        case 0x85: // TUPLE1
          push(new Tuple(List.of(pop())));
          break;
        case 0x86: { // TUPLE2
          Object b = pop();
          Object a = pop();
          push(new Tuple(List.of(a, b)));
          break;
        }
        case 0x87: { // TUPLE3
          Object c = pop();
          Object b = pop();
          Object a = pop();
          push(new Tuple(List.of(a, b, c)));
          break;
        }
        case 'X': // BINUNICODE
          push(string(in.getInt() & 0xffffffffL));
          break;
        case 0x8c: // SHORT_BINUNICODE
          push(string(in.get() & 0xff));
          break;
        case 'J': // BININT
          push((long) in.getInt());
          break;
        case 'K': // BININT1
          push((long) (in.get() & 0xff));
          break;
        case 'M': // BININT2
          push((long) (in.getShort() & 0xffff));
          break;
        case 0x8a: { // LONG1
          int n = in.get() & 0xff;
          if (n > 8) {
            throw err("integer of " + n + " bytes is too large");
          }
          long v = 0;
          for (int i = 0; i < n; i++) {
            v |= (long) (in.get() & 0xff) << (8 * i);
          }
          if (n > 0 && n < 8 && (v & (1L << (8 * n - 1))) != 0) {
            v |= -1L << (8 * n); // sign-extend
          }
          push(v);
          break;
        }
        case 'G': // BINFLOAT (big-endian)
          push(Double.longBitsToDouble(in.order(ByteOrder.BIG_ENDIAN).getLong()));
          in.order(ByteOrder.LITTLE_ENDIAN);
          break;
        case 'N': // NONE
          push(NONE);
          break;
        case 0x88: // NEWTRUE
          push(Boolean.TRUE);
          break;
        case 0x89: // NEWFALSE
          push(Boolean.FALSE);
          break;
        case 'q': // BINPUT
          put(in.get() & 0xff);
          break;
        case 'r': // LONG_BINPUT
          put(in.getInt() & 0xffffffffL);
          break;
        case 0x94: // MEMOIZE
          put(memo.size());
          break;
        case 'h': // BINGET
          push(get(in.get() & 0xff));
          break;
        case 'j': // LONG_BINGET
          push(get(in.getInt() & 0xffffffffL));
          break;
        case 'c': { // GLOBAL
          String module = line();
          String name = line();
          push(global(module, name));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          Object name = pop();
          Object module = pop();
          if (!(module instanceof String) || !(name instanceof String)) {
            throw err("STACK_GLOBAL operands are not strings");
          }
          push(global((String) module, (String) name));
          break;
        }
        case 'Q': // BINPERSID
          push(persistent(pop()));
          break;
        case 'R': { // REDUCE
          Object args = pop();
          Object callable = pop();
          push(call(callable, args));
          break;
        }
        case 's': { // SETITEM
          Object v = pop();
          Object k = pop();
          dict(peek()).put(key(k), v);
          break;
        }
        case 'u': { // SETITEMS
          List<Object> items = popMark();
          if (items.size() % 2 != 0) {
            throw err("SETITEMS with an odd number of items");
          }
          Map<Object, Object> d = dict(peek());
          for (int i = 0; i < items.size(); i += 2) {
            d.put(key(items.get(i)), items.get(i + 1));
          }
          break;
        }
        case 'a': { // APPEND
          Object v = pop();
          list(peek()).add(v);
          break;
        }
        case 'e': { // APPENDS
          List<Object> items = popMark();
          list(peek()).addAll(items);
          break;
        }
        case 0x81: { // NEWOBJ: cls() for a TorchScript class (TorchScript pickles only)
          if (dialect != Dialect.TORCHSCRIPT) {
            throw err("pickle opcode 0x81 ('NEWOBJ') is not allowed in a state dict");
          }
          Object args = pop();
          Object cls = pop();
          if (!(cls instanceof Global g) || !isScriptClass(g.module)) {
            throw err("NEWOBJ of " + describe(cls) + ", which is not a TorchScript class");
          }
          if (!(args instanceof Tuple t) || !t.items.isEmpty()) {
            throw err("NEWOBJ of " + g.qualified() + " with arguments " + describe(args));
          }
          push(new ScriptObject(g.qualified()));
          break;
        }
        case 'b': { // BUILD: only OrderedDict state {"_metadata": ...}, which carries no tensors
          Object state = pop();
          Object target = peek();
          if (target instanceof ScriptObject o && dialect == Dialect.TORCHSCRIPT) {
            build(o, state);
            break;
          }
          if (!(target instanceof Map) || !(state instanceof Map)) {
            throw err("BUILD on something other than a dict");
          }
          for (Object k : ((Map<?, ?>) state).keySet()) {
            if (!"_metadata".equals(k)) {
              throw err("BUILD sets attribute " + describe(k) + ", which a state dict does not have");
            }
          }
          break;
        }
        case '.': // STOP
          if (stack.size() != 1) {
            throw err("pickle ended with " + stack.size() + " values on the stack");
          }
          return stack.get(0);
        default:
          throw err(String.format("pickle opcode 0x%02x ('%s') is not allowed in %s", op,
              op >= 32 && op < 127 ? String.valueOf((char) op) : "?",
              dialect == Dialect.TORCH_SAVE ? "a state dict" : "a TorchScript module's data"));
      }
    }
    throw err("the pickle runs for more than " + MAX_OPS + " operations");
  }

  private Object global(String module, String name) {
    String q = module + "." + name;
    if (CALLABLES.contains(q)) {
      return new Global(module, name);
    }
    if (module.equals("torch") && DType.fromTorchStorage(name) != null) {
      return new Global(module, name);
    }
    if (dialect == Dialect.TORCHSCRIPT) {
      if (SCRIPT_CALLABLES.contains(q)) {
        return new Global(module, name);
      }
      if (isScriptClass(module)) {
        if (q.length() > MAX_CLASS_NAME || !identifiers(module) || !identifier(name)) {
          throw err("TorchScript class name '" + clip(q) + "' is not a dotted identifier of at most "
              + MAX_CLASS_NAME + " characters");
        }
        return new Global(module, name);
      }
      throw err("the pickle references " + clip(q) + ", which a TorchScript module's data does not"
          + " (only __torch__ classes, tensors, torch.device and torch.jit._pickle helpers are allowed);"
          + " refusing to load it");
    }
    throw err("the pickle references " + q + ", which is not allowed in a weights file (only"
        + " OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter and torch storage types are);"
        + " refusing to load it");
  }

  /** Classes TorchScript compiled: their qualified names start with {@code __torch__}. */
  private static boolean isScriptClass(String module) {
    return module.equals("__torch__") || module.startsWith("__torch__.");
  }

  private static boolean identifiers(String dotted) {
    for (String seg : dotted.split("\\.", -1)) {
      if (!identifier(seg)) {
        return false;
      }
    }
    return true;
  }

  private static boolean identifier(String s) {
    if (s.isEmpty() || !(Character.isLetter(s.charAt(0)) || s.charAt(0) == '_')) {
      return false;
    }
    for (int i = 1; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!(c < 128 && (Character.isLetterOrDigit(c) || c == '_'))) {
        return false;
      }
    }
    return s.charAt(0) < 128;
  }

  /** BUILD of a TorchScript object: its attribute dict (string keys), set once. */
  private void build(ScriptObject o, Object state) {
    if (o.attributes != null) {
      throw err("BUILD of " + clip(o.type) + " a second time");
    }
    if (!(state instanceof Map<?, ?> m)) {
      throw err("object of class " + clip(o.type) + " has a custom __getstate__ state (" + describe(state)
          + "); clip4j reads only objects whose state is their attribute dict");
    }
    Map<String, Object> attrs = new LinkedHashMap<>();
    for (Map.Entry<?, ?> e : m.entrySet()) {
      if (!(e.getKey() instanceof String k)) {
        throw err("object of class " + clip(o.type) + " has an attribute name that is not a string");
      }
      attrs.put(k, e.getValue());
    }
    o.attributes = attrs;
  }

  private Object persistent(Object pid) {
    if (!(pid instanceof Tuple t) || t.items.size() != 5 || !"storage".equals(t.items.get(0))) {
      throw err("unsupported persistent id " + describe(pid));
    }
    Object type = t.items.get(1);
    Object key = t.items.get(2);
    Object numel = t.items.get(4);
    if (!(type instanceof Global g) || !g.module.equals("torch") || DType.fromTorchStorage(g.name) == null
        || !(key instanceof String) || !(numel instanceof Long) || (Long) numel < 0) {
      throw err("malformed storage reference " + describe(pid));
    }
    return new StorageRef(DType.fromTorchStorage(g.name), (String) key, (Long) numel);
  }

  private Object call(Object callable, Object args) {
    boolean script = dialect == Dialect.TORCHSCRIPT && callable instanceof Global sg
        && SCRIPT_CALLABLES.contains(sg.qualified());
    if (!(callable instanceof Global g) || (!CALLABLES.contains(g.qualified()) && !script)) {
      throw err("the pickle calls " + describe(callable) + ", which is not allowed");
    }
    if (!(args instanceof Tuple t)) {
      throw err(g.qualified() + " called without an argument tuple");
    }
    List<Object> a = t.items;
    switch (g.qualified()) {
      case "torch.jit._pickle.restore_type_tag": // (value, type string) -> value
        if (a.size() != 2 || !(a.get(1) instanceof String) || !(a.get(0) instanceof Map || a.get(0) instanceof ArrayList)) {
          throw err("malformed restore_type_tag call " + describe(args));
        }
        return a.get(0);
      case "torch.jit._pickle.build_intlist":
      case "torch.jit._pickle.build_doublelist":
      case "torch.jit._pickle.build_boollist":
      case "torch.jit._pickle.build_tensorlist": // (list) -> list
        if (a.size() != 1 || !(a.get(0) instanceof ArrayList)) {
          throw err("malformed " + g.name + " call " + describe(args));
        }
        return a.get(0);
      case "torch.device":
        if (a.size() != 1 || !(a.get(0) instanceof String d) || d.length() > 64) {
          throw err("malformed torch.device call " + describe(args));
        }
        return new Device(d);
      case "collections.OrderedDict":
        if (!a.isEmpty()) {
          throw err("OrderedDict called with arguments");
        }
        return new LinkedHashMap<Object, Object>();
      case "torch._utils._rebuild_parameter":
        if (a.size() < 1 || !(a.get(0) instanceof TensorRef)) {
          throw err("_rebuild_parameter without a tensor");
        }
        return a.get(0);
      default: // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])
        if (a.size() < 4 || !(a.get(0) instanceof StorageRef s) || !(a.get(1) instanceof Long off)
            || !(a.get(2) instanceof Tuple size) || !(a.get(3) instanceof Tuple stride)) {
          throw err("malformed _rebuild_tensor_v2 call " + describe(args));
        }
        return new TensorRef(s, off, longs(size), longs(stride));
    }
  }

  private long[] longs(Tuple t) {
    if (t.items.size() > 16) {
      throw err("tensor of more than 16 dimensions");
    }
    long[] out = new long[t.items.size()];
    for (int i = 0; i < out.length; i++) {
      if (!(t.items.get(i) instanceof Long v) || v < 0) {
        throw err("invalid tensor size/stride " + describe(t));
      }
      out[i] = v;
    }
    return out;
  }

  private String string(long len) {
    if (len > MAX_STRING || len > in.remaining()) {
      throw err("string of " + len + " bytes in the pickle is too long or truncated");
    }
    byte[] b = new byte[(int) len];
    in.get(b);
    return new String(b, StandardCharsets.UTF_8);
  }

  private String line() {
    StringBuilder sb = new StringBuilder();
    while (true) {
      byte c = in.get();
      if (c == '\n') {
        return sb.toString();
      }
      if (sb.length() > 256) {
        throw err("GLOBAL name too long");
      }
      sb.append((char) (c & 0xff));
    }
  }

  private void push(Object o) {
    if (stack.size() >= MAX_STACK) {
      throw err("pickle stack deeper than " + MAX_STACK);
    }
    if (++values > MAX_VALUES) {
      throw err("the pickle makes more than " + MAX_VALUES + " values");
    }
    stack.add(o);
  }

  private Object pop() {
    if (stack.isEmpty()) {
      throw err("pickle stack underflow");
    }
    Object o = stack.remove(stack.size() - 1);
    if (o == MARK) {
      throw err("unexpected MARK");
    }
    return o;
  }

  private Object peek() {
    if (stack.isEmpty() || stack.get(stack.size() - 1) == MARK) {
      throw err("pickle stack underflow");
    }
    return stack.get(stack.size() - 1);
  }

  private List<Object> popMark() {
    if (marks.isEmpty()) {
      throw err("no MARK on the stack");
    }
    int m = marks.remove(marks.size() - 1);
    List<Object> items = new ArrayList<>(stack.subList(m + 1, stack.size()));
    stack.subList(m, stack.size()).clear();
    if (items.contains(MARK)) {
      throw err("nested MARK");
    }
    return items;
  }

  private void put(long index) {
    if (memo.size() >= MAX_MEMO) {
      throw err("pickle memo larger than " + MAX_MEMO);
    }
    memo.put(index, peek());
  }

  private Object get(long index) {
    Object o = memo.get(index);
    if (o == null) {
      throw err("pickle memo has no entry " + index);
    }
    return o;
  }

  /**
   * A dict key: a string, int, float or bool (what state dicts and TorchScript dicts use). A
   * container key is refused: hashing a list that contains itself would never end.
   */
  private Object key(Object k) {
    if (!(k instanceof String || k instanceof Long || k instanceof Double || k instanceof Boolean)) {
      throw err("dict key " + describe(k) + " is not a string or number");
    }
    return k;
  }

  @SuppressWarnings("unchecked")
  private Map<Object, Object> dict(Object o) {
    if (!(o instanceof Map)) {
      throw err("SETITEM on something other than a dict");
    }
    return (Map<Object, Object>) o;
  }

  @SuppressWarnings("unchecked")
  private List<Object> list(Object o) {
    if (!(o instanceof List) || o instanceof Tuple) {
      throw err("APPEND on something other than a list");
    }
    return (List<Object>) o;
  }

  static boolean isNone(Object o) {
    return o == NONE;
  }

  /** A short description of a pickle value; never recurses (values may be deep or cyclic). */
  static String describe(Object o) {
    if (o instanceof Global g) {
      return clip(g.qualified());
    }
    if (o instanceof Tuple t) {
      return "tuple of " + t.items.size();
    }
    if (o instanceof List<?> l) {
      return "list of " + l.size();
    }
    if (o instanceof Map<?, ?> m) {
      return "dict of " + m.size();
    }
    if (o instanceof ScriptObject so) {
      return "object of class " + clip(so.type);
    }
    if (o instanceof TensorRef) {
      return "tensor";
    }
    if (o instanceof StorageRef) {
      return "storage";
    }
    if (o instanceof String str) {
      return "'" + clip(str) + "'";
    }
    if (o == NONE) {
      return "None";
    }
    if (o == MARK) {
      return "MARK";
    }
    return clip(String.valueOf(o));
  }

  private static String clip(String s) {
    return s.length() > 80 ? s.substring(0, 80) + "..." : s;
  }

  private InvalidModelException err(String what) {
    return ZipDirectory.bad(file, dialect.kind, what);
  }

  static InvalidModelException bad(Path file, String what) {
    return new InvalidModelException(file + ": invalid torch.save archive: " + what);
  }

  static String shape(long[] s) {
    return Arrays.toString(s);
  }
}
