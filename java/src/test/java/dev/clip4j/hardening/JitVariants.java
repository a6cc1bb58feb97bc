package dev.clip4j.hardening;

import dev.clip4j.hardening.TorchScriptWriter.Module;
import dev.clip4j.hardening.TorchScriptWriter.Tensor;
import dev.clip4j.hardening.Variants.Member;
import dev.clip4j.model.io.DType;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Hand-made hostile TorchScript archives for the archive reader ({@code JitArchiveReader} plus
 * {@code OpenAiCheckpoints}), each with the outcome it must have: pickles outside what
 * TorchScript writes (foreign globals, classes called, objects built twice, cycles, deep or
 * exponentially shared module trees, value bombs), storages out of bounds or of a wrong dtype,
 * root scalars that are not integers, archives that are not CLIP states, and zip tricks around
 * {@code code/} (deflate bombs and Python that would do harm if anything ran it, {@code ..}
 * names, overlaps, duplicates).
 */
final class JitVariants {
  private JitVariants() {}

  /** A hostile file and the outcome it must have (a Clip4jException class name, or "ok"). */
  record Case(byte[] bytes, String expect) {}

  private static final String INVALID = "InvalidModelException";
  private static final String NOT_CLIP = "NotAClipStateException";

  private static Map<String, Case> cases;

  /** Name to case (built once: the bombs take a moment). */
  static synchronized Map<String, Case> hostile() {
    if (cases == null) {
      cases = java.util.Collections.unmodifiableMap(build());
    }
    return cases;
  }

  /** The seed archive with {@code pickle} as its data.pkl (storages and code as in the seed). */
  static byte[] withPickle(byte[] pickle) {
    Map<String, byte[]> m = new LinkedHashMap<>(JitSeeds.members());
    m.put("archive/data.pkl", pickle);
    return zip(m, codeOf(JitSeeds.code()));
  }

  private static Map<String, byte[]> codeOf(Map<String, String> code) {
    Map<String, byte[]> out = new LinkedHashMap<>();
    code.forEach((k, v) -> out.put("archive/code/" + k, v.getBytes(StandardCharsets.UTF_8)));
    return out;
  }

  /** A zip of stored members and deflated ones, written by hand (names may lie). */
  static byte[] zip(Map<String, byte[]> stored, Map<String, byte[]> deflated) {
    List<Member> members = new ArrayList<>();
    stored.forEach((k, v) -> members.add(new Member(k, v, 0, v.length)));
    deflated.forEach((k, v) -> members.add(new Member(k, v, 8, v.length)));
    return Variants.rawZip(members);
  }

  private static byte[] archive(Module root) {
    return zip(TorchScriptWriter.members(root), codeOf(JitSeeds.code()));
  }

  /** Pickle ops: TorchScript's object header for {@code type} ({@code GLOBAL, EMPTY_TUPLE, NEWOBJ}). */
  private static void object(ByteArrayOutputStream p, String type) {
    int dot = type.lastIndexOf('.');
    TorchScriptWriter.global(p, type.substring(0, dot), type.substring(dot + 1));
    p.write(')');
    p.write(0x81);
  }

  private static byte[] ops(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  private static Map<String, Case> build() {
    Map<String, Case> m = new LinkedHashMap<>();
    String proto = "\u0080\u0002";
    String obj = "c__torch__.m\nM\n)\u0081";
    String scale = "X\u000b\0\0\0logit_scale";

    // Foreign globals and calls.
    m.put("os-system", new Case(withPickle(ops(proto + "cos\nsystem\nX\u0002\0\0\0idtR.")), INVALID));
    m.put("builtins-eval", new Case(withPickle(ops(proto + "cbuiltins\neval\nX\u0001\0\0\u00001\u0085R.")), INVALID));
    m.put("class-called", new Case(withPickle(ops(proto + "c__torch__.m\nEvil\n)R.")), INVALID));
    m.put("enum-value", new Case(withPickle(ops(proto + "c__torch__.m\nColor\nK\u0001\u0085R.")), INVALID));
    m.put("newobj-with-args", new Case(withPickle(ops(proto + "c__torch__.m\nM\nK\u0001\u0085\u0081}b.")), INVALID));
    m.put("newobj-of-builtin", new Case(withPickle(ops(proto + "cbuiltins\nobject\n)\u0081}b.")), INVALID));
    m.put("class-name-shell", new Case(withPickle(ops(proto + "c__torch__.m;rm -rf\nM\n)\u0081}b.")), INVALID));
    m.put("qtensor", new Case(withPickle(ops(proto + "ctorch._utils\n_rebuild_qtensor\n)R.")), INVALID));
    m.put("tensor-from-id", new Case(withPickle(ops(proto + "ctorch.jit._pickle\nbuild_tensor_from_id\nK\u0000\u0085R.")), INVALID));
    m.put("build-twice", new Case(withPickle(ops(proto + obj + "}b}b.")), INVALID));
    m.put("getstate-tuple", new Case(withPickle(ops(proto + obj + "K\u0001\u0085b.")), INVALID));
    m.put("root-not-object", new Case(withPickle(ops(proto + "}.")), INVALID));
    m.put("root-unbuilt", new Case(withPickle(ops(proto + obj + ".")), INVALID));
    // A module that is its own attribute, via the memo.
    m.put("module-cycle", new Case(withPickle(ops(proto + obj + "q\u0000}(X\u0004\0\0\0selfh\u0000ub.")), INVALID));
    // Containers that would recurse forever when hashed or printed.
    m.put("dict-key-selfref", new Case(withPickle(ops(proto + "}]q\u0000h\u0000aK\u0001s.")), INVALID));
    m.put("deep-list-pid", new Case(withPickle(ops(proto + "]".repeat(200_000) + "a".repeat(199_999) + "Q.")), INVALID));
    m.put("value-bomb", new Case(withPickle(valueBomb()), INVALID));
    m.put("memo-bomb", new Case(withPickle(memoBomb()), INVALID));
    m.put("deep-modules", new Case(withPickle(deepModules(200)), INVALID));
    m.put("dag-blowup", new Case(withPickle(dagBlowup(40)), INVALID));
    m.put("many-attributes", new Case(withPickle(manyAttributes(120_000)), INVALID));
    m.put("long-path", new Case(withPickle(longPath()), INVALID));
    m.put("attribute-with-dot", new Case(archive(new Module("__torch__.m.M").put("a.b", tensor(DType.F32, 2))), INVALID));

    // Storages: missing, out of bounds, broadcast, wrong types.
    m.put("storage-key-dotdot", new Case(withPickle(tensorPickle("FloatStorage", "../data.pkl", 2, "J\u0002\0\0\0", "J\u0001\0\0\0")), INVALID));
    m.put("storage-missing", new Case(withPickle(tensorPickle("FloatStorage", "999", 2, "J\u0002\0\0\0", "J\u0001\0\0\0")), INVALID));
    m.put("storage-numel-huge", new Case(withPickle(tensorPickle("FloatStorage", "0", Long.MAX_VALUE / 2, "J\u0002\0\0\0", "J\u0001\0\0\0")), INVALID));
    m.put("view-past-storage", new Case(withPickle(tensorPickle("FloatStorage", "0", 2, "J\u0000\u0001\0\0", "J\u0001\0\0\0")), INVALID));
    m.put("broadcast-view", new Case(withPickle(tensorPickle("FloatStorage", "0", 1, "J\0\0\0\u0010", "J\0\0\0\0")), INVALID));
    m.put("storage-two-sizes", new Case(withPickle(twoSizes()), INVALID));
    m.put("storage-qint8", new Case(withPickle(tensorPickle("QInt8Storage", "0", 2, "J\u0002\0\0\0", "J\u0001\0\0\0")), INVALID));
    m.put("storage-complex", new Case(withPickle(tensorPickle("ComplexFloatStorage", "0", 2, "J\u0002\0\0\0", "J\u0001\0\0\0")), INVALID));

    // Root scalars that are not OpenAI's integers.
    Module fractional = JitSeeds.tinyClip().put("input_resolution", new Tensor(DType.F32, new float[] {224.5f}));
    m.put("scalar-fraction", new Case(archive(fractional), INVALID));
    Module twoValues = JitSeeds.tinyClip().put("vocab_size", new Tensor(DType.F32, new float[] {6, 6}, 2));
    m.put("scalar-two-values", new Case(archive(twoValues), INVALID));
    Module agreeing = JitSeeds.tinyClip().put("input_resolution", new Tensor(DType.F16, new float[] {8}));
    m.put("scalar-agrees", new Case(archive(agreeing), "ok"));
    Module disagreeing = JitSeeds.tinyClip().put("input_resolution", new Tensor(DType.F32, new float[] {224}));
    m.put("scalar-disagrees", new Case(archive(disagreeing), INVALID));

    // Well-formed archives that are not CLIP states, or CLIPs clip4j does not implement.
    m.put("no-tensors", new Case(archive(new Module("__torch__.m.M").put("training", false).put("n", 3L)), NOT_CLIP));
    m.put("no-visual", new Case(archive(new Module("__torch__.m.M").put("logit_scale", tensor(DType.F32, 1))), NOT_CLIP));
    Module resnet = new Module("__torch__.clip.model.CLIP").put("logit_scale", tensor(DType.F16, 1));
    resnet.child("visual", "__torch__.clip.model.ModifiedResNet").child("layer1", "__torch__.torch.nn.modules.container.Sequential")
        .child("0", "__torch__.clip.model.Bottleneck").child("conv1", "__torch__.torch.nn.modules.conv.Conv2d")
        .put("weight", tensor(DType.F16, 4, 2, 1, 1));
    m.put("openai-resnet", new Case(archive(resnet), INVALID)); // a ResNet CLIP missing almost everything
    Module both = JitSeeds.tinyClip();
    ((Module) ((Module) ((Module) ((Module) both.attrs.get("transformer")).attrs.get("resblocks")).attrs.get("0"))
        .attrs.get("mlp")).put("gelu", new Module("__torch__.torch.nn.modules.activation.GELU"));
    m.put("gelu-and-quickgelu", new Case(archive(both), INVALID));
    m.put("gelu-valid", new Case(archive(JitSeeds.tinyClip(DType.F32, "GELU")), "ok"));

    // Zip tricks around code/: never inflated, never run; names, overlaps and duplicates still checked.
    Map<String, byte[]> seed = JitSeeds.members();
    Map<String, byte[]> noConstants = new LinkedHashMap<>(seed);
    noConstants.remove("archive/constants.pkl");
    m.put("no-constants", new Case(zip(noConstants, Map.of()), INVALID));
    Map<String, byte[]> pklDeflated = new LinkedHashMap<>(seed);
    byte[] pkl = pklDeflated.remove("archive/data.pkl");
    m.put("data-pkl-deflated", new Case(zip(pklDeflated, Map.of("archive/data.pkl", pkl)), INVALID));
    m.put("code-dotdot", new Case(zip(seed, Map.of("archive/code/../../x.py", ops("import os\n"))), INVALID));
    m.put("code-deflate-bomb", new Case(zip(seed, Map.of("archive/code/__torch__/bomb.py", new byte[256 << 20])), "ok"));
    m.put("code-evil-python", new Case(zip(seed, Map.of(
        "archive/code/__torch__/open_clip/model.py", ops("import os\nos.system('touch /tmp/clip4j-evil')\n"),
        "archive/code/__torch__/x.pkl", ops(proto + "cos\nsystem\nX\u0015\0\0\0touch /tmp/clip4j-evilR."))), "ok"));
    Map<String, byte[]> storedCode = new LinkedHashMap<>(seed);
    storedCode.put("archive/code/__torch__/a.py", ops("x = 1\n"));
    m.put("code-member-twice", new Case(zip(storedCode, Map.of("archive/code/__torch__/a.py", ops("x = 2\n"))), INVALID));
    m.put("data-pkl-twice-deflated", new Case(zip(seed, Map.of("archive/code/x", ops("y"), "archive/data.pkl", ops(proto + "}."))), INVALID));
    m.put("code-overlaps-data-pkl", new Case(codeOverlapping(seed), INVALID));
    Map<String, byte[]> twoArchives = new LinkedHashMap<>(seed);
    twoArchives.put("other/data.pkl", seed.get("archive/data.pkl"));
    m.put("two-data-pkl", new Case(zip(twoArchives, Map.of()), INVALID));
    Map<String, byte[]> big = new LinkedHashMap<>(seed);
    big.put("archive/byteorder", ops("big"));
    m.put("byteorder-big", new Case(zip(big, Map.of()), INVALID));
    return m;
  }

  private static Tensor tensor(DType dtype, long... shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    float[] v = new float[(int) n];
    for (int i = 0; i < v.length; i++) {
      v[i] = 0.25f * (i + 1);
    }
    return new Tensor(dtype, v, shape);
  }

  /** A module whose logit_scale is {@code _rebuild_tensor_v2} of the given storage, 1-d size and stride. */
  private static byte[] tensorPickle(String storageType, String key, long numel, String size, String stride) {
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    p.writeBytes(ops("\u0080\u0002"));
    object(p, "__torch__.m.M");
    p.writeBytes(ops("}(X\u000b\0\0\0logit_scale"));
    TorchScriptWriter.global(p, "torch._utils", "_rebuild_tensor_v2");
    p.writeBytes(ops("(("));
    TorchScriptWriter.unicode(p, "storage");
    TorchScriptWriter.global(p, "torch", storageType);
    TorchScriptWriter.unicode(p, key);
    TorchScriptWriter.unicode(p, "cpu");
    p.write(0x8a);
    p.write(8);
    p.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(numel).array());
    p.writeBytes(ops("tQJ\0\0\0\0(" + size + "t(" + stride + "t\u0089"));
    TorchScriptWriter.global(p, "collections", "OrderedDict");
    p.writeBytes(ops(")RtRub."));
    return p.toByteArray();
  }

  /**
   * Two tensors of one storage key, declared with 2 and then 6 elements (found by fuzzing: the
   * storage mapped for the first served the second, whose view then ran past the mapping).
   */
  private static byte[] twoSizes() {
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    p.writeBytes(ops("\u0080\u0002"));
    object(p, "__torch__.m.M");
    p.writeBytes(ops("}("));
    int[] numel = {2, 6};
    for (int i = 0; i < 2; i++) {
      TorchScriptWriter.unicode(p, i == 0 ? "logit_scale" : "x");
      TorchScriptWriter.global(p, "torch._utils", "_rebuild_tensor_v2");
      p.writeBytes(ops("(("));
      TorchScriptWriter.unicode(p, "storage");
      TorchScriptWriter.global(p, "torch", "FloatStorage");
      TorchScriptWriter.unicode(p, "0");
      TorchScriptWriter.unicode(p, "cpu");
      TorchScriptWriter.binint(p, numel[i]);
      p.writeBytes(ops("tQJ\0\0\0\0("));
      TorchScriptWriter.binint(p, numel[i]);
      p.writeBytes(ops("t(J\u0001\0\0\0t\u0089"));
      TorchScriptWriter.global(p, "collections", "OrderedDict");
      p.writeBytes(ops(")RtR"));
    }
    p.writeBytes(ops("ub."));
    return p.toByteArray();
  }

  /** 800,000 empty dicts appended to one list, in rounds below the stack bound. */
  private static byte[] valueBomb() {
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    p.writeBytes(ops("\u0080\u0002]"));
    for (int r = 0; r < 2; r++) {
      p.write('(');
      p.writeBytes("}".repeat(400_000).getBytes(StandardCharsets.ISO_8859_1));
      p.write('e');
    }
    p.write('.');
    return p.toByteArray();
  }

  /** 300,000 memo entries (LONG_BINPUT of one value). */
  private static byte[] memoBomb() {
    ByteBuffer b = ByteBuffer.allocate(4 + 5 * 300_000).order(ByteOrder.LITTLE_ENDIAN);
    b.put((byte) 0x80).put((byte) 2).put((byte) 'N');
    for (int i = 0; i < 300_000; i++) {
      b.put((byte) 'r').putInt(i);
    }
    b.put((byte) '.');
    return java.util.Arrays.copyOf(b.array(), b.position());
  }

  /** Modules nested {@code depth} deep through attribute {@code c}. */
  private static byte[] deepModules(int depth) {
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    p.writeBytes(ops("\u0080\u0002"));
    for (int i = 0; i < depth; i++) {
      object(p, "__torch__.m.M");
      p.writeBytes(ops("}(X\u0001\0\0\0c"));
    }
    object(p, "__torch__.m.M");
    p.writeBytes(ops("}(ub"));
    for (int i = 0; i < depth; i++) {
      p.writeBytes(ops("ub"));
    }
    p.write('.');
    return p.toByteArray();
  }

  /** {@code levels} modules, each with attributes a and b both holding the one below: 2^levels paths. */
  private static byte[] dagBlowup(int levels) {
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    p.writeBytes(ops("\u0080\u0002"));
    dag(p, levels);
    p.write('.');
    return p.toByteArray();
  }

  /** Leaves module {@code level} on the stack, memoized as {@code level}. */
  private static void dag(ByteArrayOutputStream p, int level) {
    object(p, "__torch__.m.M");
    p.writeBytes(ops("}("));
    if (level > 0) {
      p.writeBytes(ops("X\u0001\0\0\0a"));
      dag(p, level - 1);
      p.writeBytes(ops("X\u0001\0\0\0bh" + (char) (level - 1)));
    }
    p.writeBytes(ops("ubq" + (char) level));
  }

  /** One module with {@code n} attributes, all the same (memoized) int. */
  private static byte[] manyAttributes(int n) {
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    p.writeBytes(ops("\u0080\u0002"));
    object(p, "__torch__.m.M");
    p.writeBytes(ops("}(X\u0001\0\0\0aK\u0007"));
    for (int i = 1; i < n; i++) {
      TorchScriptWriter.unicode(p, "a" + i);
      p.writeBytes(ops("K\u0007"));
    }
    p.writeBytes(ops("ub."));
    return p.toByteArray();
  }

  /** Modules nested 6 deep under 200-character names: a path past the 1024-character bound. */
  private static byte[] longPath() {
    String name = "n".repeat(200);
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    p.writeBytes(ops("\u0080\u0002"));
    for (int i = 0; i < 6; i++) {
      object(p, "__torch__.m.M");
      p.write('}');
      p.write('(');
      TorchScriptWriter.unicode(p, name);
    }
    object(p, "__torch__.m.M");
    p.writeBytes(ops("}(ub" + "ub".repeat(6) + "."));
    return p.toByteArray();
  }

  /** The seed plus a deflated code member whose central entry points at data.pkl's local header. */
  private static byte[] codeOverlapping(Map<String, byte[]> seed) {
    byte[] z = zip(seed, Map.of("archive/code/__torch__/a.py", ops("x = 1\n")));
    ByteBuffer b = ByteBuffer.wrap(z).order(ByteOrder.LITTLE_ENDIAN);
    List<Integer> central = new ArrayList<>();
    for (int i = 0; i + 4 <= z.length; i++) {
      if (b.getInt(i) == 0x02014b50) {
        central.add(i);
      }
    }
    int dataPklOffset = b.getInt(central.get(0) + 42);
    b.putInt(central.get(central.size() - 1) + 42, dataPklOffset);
    return z;
  }
}
