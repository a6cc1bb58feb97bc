package dev.clip4j.hardening;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.model.RandomModels;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.LazyTensor;
import dev.clip4j.model.io.SafetensorsWriter;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.TensorData;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The corruption matrix: valid files of every format clip4j reads (generated here), corrupted in
 * many ways ({@link Variants}), each loaded through the public API in a child JVM ({@link
 * CorruptionHarness}, {@code -Xmx256m}) so a JVM crash or a hang is counted instead of killing
 * the test run; the child is restarted after one. Asserts: every variant ends in {@code ok} or a
 * Clip4jException within 2 s, no crash, no hang, no untyped exception, no file handle left open,
 * nothing written anywhere in the work tree (a {@code ../x} member would land there) or in the
 * system temp directory, and the hostile cases end in the expected typed error. Where strace is
 * installed, the children run under it, and no file outside a variant's own directory may be
 * opened under the test directory, nor any file opened for writing, created, renamed or removed
 * anywhere (/dev, /proc and the native-library caches of JavaCPP, JNA and DJL aside).
 */
class CorruptionMatrixTest {
  private static final long PER_FILE_LIMIT_MS = 2_000;
  private long hangMs = 15_000;

  record Case(String kind, Path path, String expect) {}

  private final List<Case> cases = new ArrayList<>();
  private final List<String> warm = new ArrayList<>();
  private Path work;
  private final Random rng = new Random(20261201);

  private Path put(String kind, String variant, String fileName, byte[] data) throws IOException {
    Path dir = work.resolve(kind).resolve(variant);
    Files.createDirectories(dir);
    Path f = dir.resolve(fileName);
    Files.write(f, data);
    return f;
  }

  /** Adds a file case; {@code expect}: "ok", a Clip4jException class name, or "any" (ok or typed). */
  private void file(String kind, String variant, String fileName, byte[] data, String expect) throws IOException {
    cases.add(new Case(kind, put(kind, variant, fileName, data), expect));
  }

  private void fileSet(String kind, String fileName, byte[] valid, int flips, int zeroings) throws IOException {
    file(kind, "valid", fileName, valid, "ok");
    warm.add("warm\t" + kind + "\t" + work.resolve(kind).resolve("valid").resolve(fileName));
    for (Map.Entry<String, byte[]> v : Variants.generic(valid, rng, flips, zeroings).entrySet()) {
      file(kind, v.getKey(), fileName, v.getValue(), "any");
    }
  }

  @Test
  void everyCorruptedFileIsOkOrATypedErrorInAChildJvm(@TempDir Path tmp) throws Exception {
    work = tmp.resolve("work");
    Files.createDirectories(work);
    Path logs = Files.createDirectories(tmp.resolve("logs"));

    // Checkpoints: safetensors and torch.save, generic corruptions + hostile files.
    fileSet("checkpoint", "open_clip_model.safetensors", Seeds.safetensors(), 16, 6);
    for (Map.Entry<String, byte[]> v : Variants.hostileSafetensors().entrySet()) {
      file("checkpoint", "st-" + v.getKey(), "open_clip_model.safetensors", v.getValue(), "InvalidModelException");
    }
    byte[] zip = Seeds.torchZip();
    file("checkpoint", "zip-valid", "open_clip_pytorch_model.bin", zip, "ok");
    for (Map.Entry<String, byte[]> v : Variants.generic(zip, rng, 24, 8).entrySet()) {
      file("checkpoint", "zip-" + v.getKey(), "open_clip_pytorch_model.bin", v.getValue(), "any");
    }
    for (Map.Entry<String, byte[]> v : Variants.zipBoundaries(zip).entrySet()) {
      file("checkpoint", v.getKey(), "open_clip_pytorch_model.bin", v.getValue(), "InvalidModelException");
    }
    for (Map.Entry<String, byte[]> v : Variants.hostileTorchZips().entrySet()) {
      file("checkpoint", "zip-" + v.getKey(), "open_clip_pytorch_model.bin", v.getValue(), "InvalidModelException");
    }

    // Configs, vocabularies, tokenizer.json, npy.
    byte[] cfg = Seeds.config().getBytes(StandardCharsets.UTF_8);
    fileSet("config", "open_clip_config.json", cfg, 12, 4);
    file("config", "deep", "open_clip_config.json", "[".repeat(200_000).getBytes(StandardCharsets.US_ASCII), "InvalidModelException");
    file("config", "huge-number", "open_clip_config.json",
        Seeds.config().replace("\"layers\":1", "\"layers\":1" + "0".repeat(5000)).getBytes(StandardCharsets.UTF_8), "InvalidModelException");
    file("config", "negative-width", "open_clip_config.json",
        Seeds.config().replace("\"width\":64", "\"width\":-64").getBytes(StandardCharsets.UTF_8), "InvalidModelException");
    fileSet("vocab", "bpe_simple_vocab_16e6.txt.gz", Seeds.bpeGz(), 12, 4);
    file("vocab", "gzip-bomb", "bpe_simple_vocab_16e6.txt.gz", Seeds.gzip(new byte[128 << 20]), "InvalidModelException");
    file("vocab", "not-utf8", "bpe_simple_vocab_16e6.txt.gz", Seeds.gzip(new byte[] {'#', '\n', (byte) 0xC3, (byte) 0x28, ' ', 'a'}), "InvalidModelException");
    file("vocab", "three-symbols", "bpe_simple_vocab_16e6.txt.gz", Seeds.gzip("#v\na b c\n".getBytes(StandardCharsets.UTF_8)), "InvalidModelException");
    file("vocab", "long-line", "bpe_simple_vocab_16e6.txt.gz", Seeds.gzip(("#v\na " + "b".repeat(1 << 20) + "\n").getBytes(StandardCharsets.UTF_8)), "any");
    hfVocabCases();
    hfDirCases(tmp);
    tokenizerJsonCases();
    fileSet("npy", "x.npy", Seeds.npy(tmp), 12, 4);
    String npyHeader = "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }";
    file("npy", "shape-huge", "x.npy", npy(npyHeader, 8), "InvalidInputException");
    file("npy", "spaces", "x.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)" + " ".repeat(60_000) + "x}", 8),
        "InvalidInputException");

    // Images: generic corruptions of each format, and dimension bombs in a few bytes.
    for (Map.Entry<String, byte[]> img : Seeds.images().entrySet()) {
      fileSet("image", img.getKey(), img.getValue(), 10, 4);
    }
    file("image", "png-65535x32767", "bomb.png", Variants.pngDeclaring(65535, 32767), "InvalidInputException");
    file("image", "png-12000x12000", "big.png", Variants.pngDeclaring(12000, 12000), "InvalidInputException");
    file("image", "jpeg-65535x32767", "bomb.jpg", Variants.jpegDeclaring(Seeds.images().get("photo.jpg"), 65535, 32767), "InvalidInputException");
    file("image", "jpeg-12000x12000", "big.jpg", Variants.jpegDeclaring(Seeds.images().get("photo.jpg"), 12000, 12000), "any");
    file("image", "gif-65535x32767", "bomb.gif", Variants.gifDeclaring(65535, 32767), "InvalidInputException");
    file("image", "bmp-65535x32767", "bomb.bmp", Variants.bmpDeclaring(65535, 32767), "InvalidInputException");
    file("image", "bmp-negative", "neg.bmp", Variants.bmpDeclaring(-5, Integer.MIN_VALUE), "InvalidInputException");

    modelCases(tmp);
    jitCases();

    Set<String> before = listing(work);
    Map<String, String[]> results = run(logs);
    Set<String> after = listing(work);
    // One line per file (outcome, time, message), for whoever reads the surefire output directory.
    Path out = Path.of("target", "corruption-matrix.tsv");
    if (Files.isDirectory(out.getParent())) {
      Files.write(out, report, StandardCharsets.UTF_8);
    }

    // Figures for the report.
    Map<String, Integer> byOutcome = new TreeMap<>();
    Map<String, Integer> byKind = new TreeMap<>();
    long slow = 0;
    long maxMs = 0;
    List<String> problems = new ArrayList<>();
    for (Case c : cases) {
      String[] r = results.get(c.path.toString());
      byKind.merge(c.kind, 1, Integer::sum);
      if (r == null) {
        problems.add("no result: " + c.path);
        continue;
      }
      String outcome = r[0];
      byOutcome.merge(outcome + (r[1].equals("-") ? "" : "/" + r[1]), 1, Integer::sum);
      long ms = Long.parseLong(r[2]);
      maxMs = Math.max(maxMs, ms);
      if (ms > PER_FILE_LIMIT_MS) {
        slow++;
        problems.add("slow (" + ms + " ms): " + c.path);
      }
      if (outcome.startsWith("UNTYPED") || outcome.equals("CRASH") || outcome.equals("HANG")) {
        problems.add(outcome + ": " + work.relativize(c.path));
      } else if (c.expect.equals("ok") && !outcome.equals("ok")) {
        problems.add("expected ok, got " + outcome + ": " + work.relativize(c.path));
      } else if (!c.expect.equals("ok") && !c.expect.equals("any") && !outcome.equals(c.expect)) {
        problems.add("expected " + c.expect + ", got " + outcome + ": " + work.relativize(c.path));
      }
      if (r.length > 3 && !r[3].isEmpty()) {
        problems.add("file handles left open after " + work.relativize(c.path) + ": " + r[3]);
      }
    }
    System.out.println("corruption matrix: " + cases.size() + " files " + byKind + "; outcomes " + byOutcome
        + "; child JVMs " + children + "; slowest " + maxMs + " ms; crashes " + crashes + "; hangs " + hangs);
    if (STRACE) {
      List<String> touched = traceViolations(logs, tmp);
      System.out.println("corruption matrix: strace: " + touched.size() + " file system calls outside the variants' own directories or in write mode");
      problems.addAll(touched.stream().limit(50).map(t -> "traced: " + t).toList());
    } else {
      System.out.println("corruption matrix: strace not available: opens are not traced (only the work tree and the fds are checked)");
    }
    assertThat(problems).as("problems").isEmpty();
    assertThat(crashes).as("JVM crashes").isZero();
    assertThat(childPids.stream().filter(pid -> ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).toList())
        .as("child JVMs left running").isEmpty();
    assertThat(hangs).as("hangs").isZero();
    assertThat(slow).isZero();
    assertThat(after).as("files in the work tree after loading (nothing may be written)").isEqualTo(before);
    assertThat(Path.of(System.getProperty("java.io.tmpdir"), "clip4j-evil")).doesNotExist();
    assertThat(work.getParent().resolve("x")).doesNotExist();
  }

  /**
   * The runner itself: a child that dies (halt, as a native crash would) or hangs in the middle of
   * a list is counted, restarted, and the files after it are still loaded.
   */
  @Test
  void aCrashOrAHangInTheChildIsCountedAndTheRestIsStillLoaded(@TempDir Path tmp) throws Exception {
    work = Files.createDirectories(tmp.resolve("work"));
    Path logs = Files.createDirectories(tmp.resolve("logs"));
    hangMs = 3_000;
    byte[] valid = Seeds.npy(tmp);
    file("npy", "a", "x.npy", valid, "ok");
    cases.add(new Case("selftest-halt", work.resolve("halt"), "-"));
    file("npy", "b", "x.npy", valid, "ok");
    cases.add(new Case("selftest-hang", work.resolve("hang"), "-"));
    file("npy", "c", "x.npy", Variants.generic(valid, rng, 0, 0).get("trunc-9"), "InvalidInputException");
    Map<String, String[]> r = run(logs);
    assertThat(crashes).isEqualTo(1);
    assertThat(hangs).isEqualTo(1);
    assertThat(children).isEqualTo(3);
    assertThat(r.get(work.resolve("halt").toString())[0]).isEqualTo("CRASH");
    assertThat(r.get(work.resolve("hang").toString())[0]).isEqualTo("HANG");
    assertThat(r.get(cases.get(0).path.toString())[0]).isEqualTo("ok");
    assertThat(r.get(cases.get(2).path.toString())[0]).isEqualTo("ok");
    assertThat(r.get(cases.get(4).path.toString())[0]).isEqualTo("InvalidInputException");
    assertThat(childPids).hasSize(3);
    assertThat(childPids.stream().filter(pid -> ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).toList())
        .as("child JVMs left running").isEmpty();
  }

  private static byte[] npy(String header, int dataBytes) {
    byte[] h = (header + "\n").getBytes(StandardCharsets.ISO_8859_1);
    ByteBuffer b = ByteBuffer.allocate(10 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) h.length).put(h);
    return b.array();
  }

  private void hfVocabCases() throws IOException {
    byte[] vocab = Seeds.vocabJson().getBytes(StandardCharsets.UTF_8);
    byte[] merges = Seeds.mergesTxt().getBytes(StandardCharsets.UTF_8);
    put("hfvocab", "valid", "merges.txt", merges);
    cases.add(new Case("hfvocab", put("hfvocab", "valid", "vocab.json", vocab).getParent(), "ok"));
    warm.add("warm\thfvocab\t" + work.resolve("hfvocab").resolve("valid"));
    int i = 0;
    for (Map.Entry<String, byte[]> v : Variants.generic(vocab, rng, 10, 3).entrySet()) {
      String name = "vocab-" + v.getKey();
      put("hfvocab", name, "merges.txt", merges);
      cases.add(new Case("hfvocab", put("hfvocab", name, "vocab.json", v.getValue()).getParent(), "any"));
      if (++i > 14) {
        break;
      }
    }
    for (Map.Entry<String, byte[]> v : Variants.generic(merges, rng, 10, 3).entrySet()) {
      String name = "merges-" + v.getKey();
      put("hfvocab", name, "vocab.json", vocab);
      cases.add(new Case("hfvocab", put("hfvocab", name, "merges.txt", v.getValue()).getParent(), "any"));
    }
    put("hfvocab", "id-huge", "merges.txt", merges);
    cases.add(new Case("hfvocab", put("hfvocab", "id-huge", "vocab.json",
        Seeds.vocabJson().replace(":5,", ":99999999999,").getBytes(StandardCharsets.UTF_8)).getParent(), "InvalidModelException"));
  }

  /**
   * Hugging Face CLIP directories read whole (HfClipDirectory: config.json, preprocessor_config.json,
   * model.safetensors or a shard index with its shards, vocab.json + merges.txt), each variant a
   * copy of a valid directory with one file corrupted or replaced.
   */
  private void hfDirCases(Path tmp) throws IOException {
    Path valid = Seeds.hfDir(work.resolve("hfdir").resolve("valid"), tmp);
    cases.add(new Case("hfdir", valid, "ok"));
    warm.add("warm\thfdir\t" + valid);
    Map<String, byte[]> base = new TreeMap<>();
    try (Stream<Path> s = Files.list(valid)) {
      for (Path f : s.toList()) {
        base.put(f.getFileName().toString(), Files.readAllBytes(f));
      }
    }
    for (String f : List.of("config.json", "preprocessor_config.json", "vocab.json")) {
      int i = 0;
      for (Map.Entry<String, byte[]> v : Variants.generic(base.get(f), rng, 8, 3).entrySet()) {
        if (i++ % 2 == 0) { // half of the truncations: each variant is a whole directory
          hfDir(f.replace(".json", "") + "-" + v.getKey(), base, f, v.getValue(), "any");
        }
      }
    }
    String cfg = new String(base.get("config.json"), StandardCharsets.UTF_8);
    for (Map.Entry<String, String> v : Variants.hostileHfConfigs(cfg).entrySet()) {
      hfDir("config-" + v.getKey(), base, "config.json", v.getValue().getBytes(StandardCharsets.UTF_8), "InvalidModelException");
    }
    String pre = new String(base.get("preprocessor_config.json"), StandardCharsets.UTF_8);
    for (Map.Entry<String, String> v : Variants.hostileHfPreprocessorConfigs(pre).entrySet()) {
      hfDir("preprocessor-" + v.getKey(), base, "preprocessor_config.json", v.getValue().getBytes(StandardCharsets.UTF_8),
          "InvalidModelException");
    }
    byte[] st = base.get("model.safetensors");
    for (int cut : new int[] {0, 9, 200, st.length / 2, st.length - 1}) {
      hfDir("weights-trunc-" + cut, base, "model.safetensors", Arrays.copyOf(st, cut), "InvalidModelException");
    }
    // Sharded: the same tensors in two shards with an index, valid and hostile.
    Map<String, byte[]> sharded = new TreeMap<>(base);
    sharded.remove("model.safetensors");
    List<String> names = new ArrayList<>();
    try (StateDict sd = CheckpointReader.read(valid.resolve("model.safetensors"))) {
      List<TensorData> all = new ArrayList<>(sd.tensors().values());
      for (int s = 0; s < 2; s++) {
        List<LazyTensor> part = new ArrayList<>();
        for (int i = s; i < all.size(); i += 2) {
          part.add(LazyTensor.of(all.get(i).name(), all.get(i)));
        }
        Path f = tmp.resolve("shard-" + s);
        SafetensorsWriter.writeTensors(f, part, Map.of());
        sharded.put("model-0000" + (s + 1) + "-of-00002.safetensors", Files.readAllBytes(f));
      }
      for (TensorData t : all) {
        names.add(t.name());
      }
    }
    java.util.function.Function<java.util.function.IntFunction<String>, String> index = shardOf -> {
      StringBuilder m = new StringBuilder();
      for (int i = 0; i < names.size(); i++) {
        m.append(i == 0 ? "" : ",").append('"').append(names.get(i)).append("\":\"").append(shardOf.apply(i)).append('"');
      }
      return "{\"metadata\":{\"total_size\":1},\"weight_map\":{" + m + "}}";
    };
    String good = index.apply(i -> "model-0000" + (i % 2 + 1) + "-of-00002.safetensors");
    String idx = "model.safetensors.index.json";
    hfDir("sharded-valid", sharded, idx, good.getBytes(StandardCharsets.UTF_8), "ok");
    Map<String, String> hostile = new LinkedHashMap<>();
    hostile.put("traversal", good.replaceFirst("model-00001-of-00002", "../valid/model"));
    hostile.put("absolute", good.replaceFirst("model-00001-of-00002.safetensors", "/etc/passwd"));
    hostile.put("missing-shard", good.replace("model-00002-of-00002", "model-00003-of-00003"));
    hostile.put("wrong-shard", good.replaceFirst("model-00001-of-00002", "model-00002-of-00002"));
    hostile.put("dropped-weight", good.replaceFirst("\"[^\"]+\":\"model-00001-of-00002.safetensors\",", ""));
    hostile.put("duplicate-weight", good.replace("{\"" + names.get(0), "{\"" + names.get(0) + "\":\"x\",\"" + names.get(0)));
    hostile.put("deep", "{\"weight_map\":" + "[".repeat(100_000));
    hostile.put("total-size-huge", good.replace("\"total_size\":1", "\"total_size\":1" + "0".repeat(400)));
    for (Map.Entry<String, String> h : hostile.entrySet()) {
      hfDir("sharded-" + h.getKey(), sharded, idx, h.getValue().getBytes(StandardCharsets.UTF_8), "InvalidModelException");
    }
    // A weight in both shards: the second shard gets the first's first tensor too.
    Map<String, byte[]> twice = new TreeMap<>(sharded);
    try (StateDict s1 = CheckpointReader.read(tmp.resolve("shard-0")); StateDict s2 = CheckpointReader.read(tmp.resolve("shard-1"))) {
      List<LazyTensor> part = new ArrayList<>();
      s2.tensors().values().forEach(t -> part.add(LazyTensor.of(t.name(), t)));
      TensorData extra = s1.tensors().values().iterator().next();
      part.add(LazyTensor.of(extra.name(), extra));
      Path f = tmp.resolve("shard-twice");
      SafetensorsWriter.writeTensors(f, part, Map.of());
      twice.put("model-00002-of-00002.safetensors", Files.readAllBytes(f));
    }
    hfDir("sharded-weight-in-two-shards", twice, idx, good.getBytes(StandardCharsets.UTF_8), "InvalidModelException");
    for (Map.Entry<String, byte[]> v : Variants.generic(good.getBytes(StandardCharsets.UTF_8), rng, 6, 2).entrySet()) {
      hfDir("sharded-index-" + v.getKey(), sharded, idx, v.getValue(), "any");
    }
  }

  /** A copy of {@code files} with {@code name} replaced, as variant directory {@code variant}. */
  private void hfDir(String variant, Map<String, byte[]> files, String name, byte[] content, String expect)
      throws IOException {
    Path dir = null;
    for (Map.Entry<String, byte[]> f : files.entrySet()) {
      if (!f.getKey().equals(name)) {
        dir = put("hfdir", variant, f.getKey(), f.getValue()).getParent();
      }
    }
    dir = put("hfdir", variant, name, content).getParent();
    cases.add(new Case("hfdir", dir, expect));
  }

  private void tokenizerJsonCases() throws IOException {
    byte[] valid = Seeds.tokenizerJson().getBytes(StandardCharsets.UTF_8);
    cases.add(new Case("tokenizer-json", put("tokenizer-json", "valid", "tokenizer.json", valid).getParent(), "ok"));
    warm.add("warm\ttokenizer-json\t" + work.resolve("tokenizer-json").resolve("valid"));
    for (Map.Entry<String, byte[]> v : Variants.generic(valid, rng, 14, 4).entrySet()) {
      cases.add(new Case("tokenizer-json", put("tokenizer-json", v.getKey(), "tokenizer.json", v.getValue()).getParent(), "any"));
    }
    String deep = "{\"version\":\"1.0\",\"normalizer\":" + "{\"type\":\"Sequence\",\"normalizers\":[".repeat(5000)
        + "{\"type\":\"Lowercase\"}" + "]}".repeat(5000) + ",\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0},\"unk_token\":\"a\"}}";
    cases.add(new Case("tokenizer-json", put("tokenizer-json", "deep-normalizers", "tokenizer.json",
        deep.getBytes(StandardCharsets.UTF_8)).getParent(), "any"));
    String badModel = Seeds.tokenizerJson().replace("\"WordLevel\"", "\"NoSuchModel\"");
    cases.add(new Case("tokenizer-json", put("tokenizer-json", "unknown-model", "tokenizer.json",
        badModel.getBytes(StandardCharsets.UTF_8)).getParent(), "InvalidModelException"));
    String bigId = Seeds.tokenizerJson().replace("\"cat\":4", "\"cat\":4294967296000");
    cases.add(new Case("tokenizer-json", put("tokenizer-json", "id-huge", "tokenizer.json",
        bigId.getBytes(StandardCharsets.UTF_8)).getParent(), "any"));
  }

  /**
   * TorchScript archives read as CLIP states (JitArchiveReader + OpenAiCheckpoints, no LibTorch):
   * generic corruptions of a seed archive, truncation at every zip record, hostile archives.
   */
  private void jitCases() throws IOException {
    byte[] seed = JitSeeds.archive();
    fileSet("jit", "model.pt", seed, 24, 8);
    int k = 0;
    for (Map.Entry<String, byte[]> v : Variants.zipBoundaries(seed).entrySet()) {
      if (k++ % 7 == 0) { // a sample: the seed has ~70 members
        file("jit", v.getKey(), "model.pt", v.getValue(), "InvalidModelException");
      }
    }
    for (Map.Entry<String, JitVariants.Case> v : JitVariants.hostile().entrySet()) {
      file("jit", "hostile-" + v.getKey(), "model.pt", v.getValue().bytes(), v.getValue().expect());
    }
  }

  /** Full model directories loaded with ClipModel.load (LibTorch included) in the child. */
  private void modelCases(Path tmp) throws IOException {
    Path valid = RandomModels.write(work.resolve("model").resolve("valid"), Seeds.tinySpec(), 7);
    cases.add(new Case("model", valid, "ok"));
    warm.add("warm\tmodel\t" + valid);
    byte[] st = Files.readAllBytes(valid.resolve("open_clip_model.safetensors"));
    byte[] cfg = Files.readAllBytes(valid.resolve("open_clip_config.json"));
    // The same weights as torch.save.
    Map<String, TorchSaveWriter.F32> tensors = new LinkedHashMap<>();
    try (StateDict sd = CheckpointReader.read(valid.resolve("open_clip_model.safetensors"))) {
      for (TensorData t : sd.tensors().values()) {
        tensors.put(t.name(), new TorchSaveWriter.F32(t.toFloatArray(), t.shape()));
      }
    }
    byte[] bin = TorchSaveWriter.bytes(tensors);
    model("bin-valid", cfg, "open_clip_pytorch_model.bin", bin, "ok");
    model("nan-weight", cfg, "open_clip_model.safetensors", poke(st, "visual.conv1.weight", Float.NaN), "InvalidModelException");
    model("inf-weight", cfg, "open_clip_model.safetensors", poke(st, "text_projection", Float.POSITIVE_INFINITY), "InvalidModelException");
    model("zero-projection", cfg, "open_clip_model.safetensors", zero(st, "visual.proj"), "InvalidModelException");
    for (int cut : new int[] {0, 7, 100, st.length / 2, st.length - 4}) {
      model("st-trunc-" + cut, cfg, "open_clip_model.safetensors", java.util.Arrays.copyOf(st, cut), "InvalidModelException");
    }
    int k = 0;
    for (byte[] v : Variants.zipBoundaries(bin).values()) {
      if (k++ % 97 == 0) { // a sample of the boundaries: each child-side load builds LibTorch modules
        model("bin-zipcut-" + k, cfg, "open_clip_pytorch_model.bin", v, "InvalidModelException");
      }
    }
    String wrongWidth = new String(cfg, StandardCharsets.UTF_8).replace("\"embed_dim\" : 32", "\"embed_dim\" : 48");
    model("config-mismatch", wrongWidth.getBytes(StandardCharsets.UTF_8), "open_clip_model.safetensors", st, "InvalidModelException");
  }

  private void model(String variant, byte[] cfg, String weightsName, byte[] weights, String expect) throws IOException {
    put("model", variant, "open_clip_config.json", cfg);
    cases.add(new Case("model", put("model", variant, weightsName, weights).getParent(), expect));
  }

  /** {@code st} with the first element of tensor {@code name} set to {@code value}. */
  private static byte[] poke(byte[] st, String name, float value) throws IOException {
    byte[] b = st.clone();
    long[] range = range(st, name);
    ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putFloat((int) range[0], value);
    return b;
  }

  private static byte[] zero(byte[] st, String name) throws IOException {
    byte[] b = st.clone();
    long[] range = range(st, name);
    java.util.Arrays.fill(b, (int) range[0], (int) range[1], (byte) 0);
    return b;
  }

  private static long[] range(byte[] st, String name) throws IOException {
    ByteBuffer bb = ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN);
    int len = (int) bb.getLong(0);
    JsonNode h = new ObjectMapper().readTree(new String(st, 8, len, StandardCharsets.UTF_8));
    JsonNode off = h.get(name).get("data_offsets");
    return new long[] {8 + len + off.get(0).asLong(), 8 + len + off.get(1).asLong()};
  }

  private static Set<String> listing(Path root) throws IOException {
    try (Stream<Path> s = Files.walk(root)) {
      return s.map(p -> root.relativize(p).toString()).collect(Collectors.toCollection(TreeSet::new));
    }
  }

  // ---- child JVMs ---------------------------------------------------------------------------

  /** Trace the children's file system calls when strace is installed (CLIP4J_MATRIX_STRACE=0: don't). */
  private static final boolean STRACE = !"0".equals(System.getenv("CLIP4J_MATRIX_STRACE")) && straceWorks();

  private static boolean straceWorks() {
    try {
      Process p = new ProcessBuilder("strace", "-qq", "--seccomp-bpf", "-f", "-e", "trace=openat", "-o", "/dev/null", "true")
          .redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      return p.waitFor() == 0;
    } catch (IOException | InterruptedException e) {
      return false;
    }
  }

  private static final java.util.regex.Pattern SYSCALL = java.util.regex.Pattern.compile(
      "^\\d+\\s+(\\w+)\\((?:AT_FDCWD|\\d+)?,?\\s*\"((?:[^\"\\\\]|\\\\.)*)\"(.*)$");

  /**
   * From the strace logs: every path under {@code root} (the test's directory) the children
   * touched outside a variant's own directory, and every write-mode open, create, rename or
   * removal anywhere except /dev, /proc and the native-library caches (JavaCPP, JNA, DJL).
   */
  private List<String> traceViolations(Path logs, Path root) throws IOException {
    Set<String> caseDirs = new TreeSet<>();
    for (Case c : cases) {
      caseDirs.add((Files.isDirectory(c.path) ? c.path : c.path.getParent()).toString() + "/");
    }
    List<String> bad = new ArrayList<>();
    for (Path log : Files.list(logs).filter(f -> f.getFileName().toString().startsWith("strace-")).toList()) {
      for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
        java.util.regex.Matcher m = SYSCALL.matcher(line);
        if (!m.matches()) {
          continue;
        }
        String call = m.group(1);
        String path = m.group(2);
        String rest = m.group(3);
        boolean write = !call.startsWith("open") || rest.contains("O_WRONLY") || rest.contains("O_RDWR") || rest.contains("O_CREAT");
        if (rest.contains("= -1")) {
          write = false; // refused by the kernel: nothing happened (still checked below for reads under root)
        }
        String abs = path.startsWith("/") ? path : "(relative) " + path;
        if (abs.startsWith(root.toString())) {
          String p = abs.endsWith("/") ? abs : abs + "/";
          boolean inCase = caseDirs.stream().anyMatch(p::startsWith) || p.equals(work.toString() + "/");
          if (!inCase || write) {
            bad.add(call + " " + abs + rest);
          }
        } else if (write && !(abs.startsWith("/dev/") || abs.startsWith("/proc/") || abs.startsWith("/tmp/hsperfdata_")
            || abs.contains("/.javacpp/cache/") || abs.contains("/.cache/JNA/") || abs.contains("/.djl.ai/"))) {
          // (native-library caches of JavaCPP, and of JNA and DJL for the tokenizer.json library)
          bad.add(call + " " + abs + rest);
        }
      }
    }
    return bad;
  }

  private final List<String> report = new ArrayList<>();
  private final List<Long> childPids = new ArrayList<>();
  private int crashes;
  private int hangs;
  private int children;

  private Map<String, String[]> run(Path logs) throws Exception {
    Map<String, String[]> results = new LinkedHashMap<>();
    Map<String, Integer> index = new LinkedHashMap<>();
    for (int i = 0; i < cases.size(); i++) {
      index.put(cases.get(i).path.toString(), i);
    }
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    int next = 0;
    while (next < cases.size()) {
      children++;
      List<String> cmd = new ArrayList<>();
      if (STRACE) { // every path the child (all its threads) opens, creates, renames or removes
        cmd.addAll(List.of("strace", "-f", "-qq", "--seccomp-bpf", "-e",
            "trace=open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,link,linkat,symlink,symlinkat",
            "-o", logs.resolve("strace-" + children + ".log").toString()));
      }
      cmd.addAll(List.of(java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
          "-Xss1m", "-Djava.awt.headless=true", "-Dclip4j.threads=1",
          "-XX:ErrorFile=" + logs.resolve("hs_err_pid%p.log"), "-cp", cp, CorruptionHarness.class.getName(), work.toString()));
      ProcessBuilder pb = new ProcessBuilder(cmd);
      pb.redirectError(logs.resolve("child-" + children + ".err").toFile());
      Process p = pb.start();
      List<Case> todo = cases.subList(next, cases.size());
      Thread feeder = new Thread(() -> {
        try (Writer w = new OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8)) {
          for (String line : warm) {
            w.write(line + "\n");
          }
          for (Case c : todo) {
            w.write(c.kind + "\t" + c.path + "\n");
          }
        } catch (IOException e) {
          // the child died: handled below
        }
      });
      feeder.start();
      BlockingQueue<String> lines = new LinkedBlockingQueue<>();
      Thread reader = new Thread(() -> {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
          String l;
          while ((l = r.readLine()) != null) {
            lines.add(l);
          }
        } catch (IOException e) {
          // ends below
        }
        lines.add("\u0000EOF");
      });
      reader.start();
      String current = null;
      boolean first = true;
      while (true) {
        String l = lines.poll(first ? 4 * hangMs : hangMs, TimeUnit.MILLISECONDS);
        if (l == null) { // hang
          kill(p);
          String path = current != null ? current : cases.get(next).path.toString();
          results.put(path, new String[] {"HANG", "-", "0", ""});
          hangs++;
          next = index.get(path) + 1;
          break;
        }
        if (l.startsWith("PID\t")) {
          childPids.add(Long.parseLong(l.substring(4)));
        } else if (l.startsWith("BEGIN\t")) {
          current = l.substring(6);
          first = false;
        } else if (l.startsWith("RESULT\t")) {
          String[] f = l.split("\t", -1);
          results.put(f[1], new String[] {f[2], f[3], f[4], f.length > 5 ? f[5] : ""});
          report.add(work.relativize(Path.of(f[1])) + "\t" + f[2] + "\t" + f[4] + " ms\t" + (f.length > 6 ? f[6] : ""));
          next = index.get(f[1]) + 1;
          current = null;
        } else if (l.startsWith("WARMFAIL")) {
          throw new AssertionError("a valid seed failed to load in the child: " + l);
        } else if (l.equals("\u0000EOF")) {
          int rc = p.waitFor();
          if (current != null) { // died in the middle of a file
            results.put(current, new String[] {"CRASH", "exit " + rc, "0", ""});
            crashes++;
            next = index.get(current) + 1;
          } else if (next < cases.size()) {
            throw new AssertionError("child exited (" + rc + ") before reading the list; see " + logs);
          }
          break;
        }
      }
      feeder.join(5_000);
      kill(p); // normally gone already; under strace the JVM is strace's child
    }
    return results;
  }

  /** Kills the child and its descendants (killing strace alone would leave the traced JVM running). */
  private static void kill(Process p) throws InterruptedException {
    List<ProcessHandle> tree = p.descendants().toList();
    tree.forEach(ProcessHandle::destroyForcibly);
    p.destroyForcibly().waitFor();
    for (ProcessHandle h : tree) {
      h.onExit().completeOnTimeout(h, 10, TimeUnit.SECONDS).join();
    }
  }
}
