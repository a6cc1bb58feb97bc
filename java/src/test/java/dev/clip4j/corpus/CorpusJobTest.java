package dev.clip4j.corpus;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.io.Npy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The corpus job's enumeration, commit protocol and resume, without a model: a fake backend
 * gives each input a deterministic unit row (from its name), completing out of order on a
 * thread pool, fails inputs named "bad" and returns NaN rows for inputs named "nan".
 */
class CorpusJobTest {
  private static final int DIM = 8;
  private final ObjectMapper json = new ObjectMapper();
  private final PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

  @AfterEach
  void noCrash() {
    Faults.crashForTests = null;
  }

  /** The row the fake backend gives {@code name}: unit-norm, from its SHA-256. */
  static float[] rowOf(String name) {
    ByteBuffer b = ByteBuffer.wrap(Hashes.sha256().digest(name.getBytes(StandardCharsets.UTF_8)));
    float[] r = new float[DIM];
    double ss = 0;
    for (int i = 0; i < DIM; i++) {
      r[i] = b.getShort() / 32768f + 0.01f;
      ss += r[i] * r[i];
    }
    for (int i = 0; i < DIM; i++) {
      r[i] = (float) (r[i] / Math.sqrt(ss));
    }
    return r;
  }

  static final class FakeBackend implements Backend {
    final ExecutorService pool = Executors.newFixedThreadPool(3);
    int submitted;

    @Override
    public CompletableFuture<Embedded> submit(CorpusItem item) {
      submitted++;
      if (item.error() != null) {
        return CompletableFuture.failedFuture(item.error());
      }
      String n = item.name();
      return CompletableFuture.supplyAsync(() -> {
        if (n.contains("bad")) {
          throw new InvalidInputException(n + ": cannot decode the image: garbage");
        }
        if (n.contains("oom")) {
          throw new dev.clip4j.DeviceException(ErrorCode.OUT_OF_MEMORY, "out of memory running the batch");
        }
        if (n.contains("nan")) {
          float[] r = rowOf(n);
          r[2] = Float.NaN;
          return new Embedded(r, "x");
        }
        if (n.contains("half")) {
          float[] r = rowOf(n);
          for (int i = 0; i < r.length; i++) {
            r[i] *= 0.5f;
          }
          return new Embedded(r, "x");
        }
        return new Embedded(rowOf(n), Hashes.sha256Hex(n.getBytes(StandardCharsets.UTF_8)));
      }, pool);
    }

    @Override
    public void close() {
      pool.shutdownNow();
    }
  }

  private static void touch(Path p) throws IOException {
    Files.createDirectories(p.getParent());
    Files.write(p, new byte[] {1});
  }

  private ObjectNode identity() {
    return CorpusJob.identity("images", DIM, Map.of("fake", "model"));
  }

  private CorpusJob.Result run(ImageWalk walk, Path out, int shardSize, boolean overwrite) {
    try (FakeBackend b = new FakeBackend()) {
      return CorpusJob.run(walk, b, identity(), DIM, new CorpusJob.Directory(out),
          new CorpusJob.Options(shardSize, 7, overwrite, Progress.Mode.OFF, 10), 7, quiet);
    }
  }

  /** Every file of a directory (except the lock) with its bytes; the manifest without its timings. */
  private Map<String, String> snapshot(Path dir) throws IOException {
    Map<String, String> out = new TreeMap<>();
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : s.toList()) {
        String n = p.getFileName().toString();
        if (n.equals(CorpusDirectory.LOCK)) {
          continue;
        }
        if (n.equals(CorpusDirectory.MANIFEST)) {
          ObjectNode m = (ObjectNode) json.readTree(p.toFile());
          m.remove("timings");
          out.put(n, m.toString());
        } else {
          out.put(n, java.util.HexFormat.of().formatHex(Files.readAllBytes(p)));
        }
      }
    }
    return out;
  }

  private Path corpus(Path root) throws IOException {
    Path in = root.resolve("in");
    for (int i = 0; i < 23; i++) {
      String name = i == 4 ? "bad4.png" : i == 13 ? "nan13.jpg" : i == 17 ? "half17.png" : "img" + i + ".png";
      touch(in.resolve(i % 2 == 0 ? "a" : "b/c").resolve(name));
    }
    return in;
  }

  @Test
  void walkIsSortedRecursiveFilteredOnceThroughLinksAndSkipsTheOutput(@TempDir Path tmp) throws IOException {
    Path in = tmp.resolve("in");
    touch(in.resolve("b.png"));
    touch(in.resolve("A.JPG"));
    touch(in.resolve("sub/z.webp"));
    touch(in.resolve("sub/notes.txt"));
    touch(in.resolve(".hidden/x.png"));
    touch(in.resolve("sub/deeper/y.gif"));
    touch(in.resolve("out/embeddings-00000.png"));
    Files.createSymbolicLink(in.resolve("sub/deeper/loop"), in); // a loop back to the root
    Files.createSymbolicLink(in.resolve("sub/again"), in.resolve("sub/deeper")); // a second way in
    Path list = tmp.resolve("list.txt");
    Files.writeString(list, tmp.resolve("in/sub/notes.txt") + "\n\n" + tmp.resolve("missing.png") + "\r\n");
    List<String> warnings = new ArrayList<>();
    ImageWalk walk = new ImageWalk(List.of(in.toString(), "@" + list), null, in.resolve("out"), warnings::add);
    List<String> names = new ArrayList<>();
    List<Long> indices = new ArrayList<>();
    try (ItemSource.Items it = walk.open()) {
      while (it.hasNext()) {
        CorpusItem item = it.next();
        names.add(tmp.relativize(Path.of(item.name())).toString());
        indices.add(item.index());
        assertThat(item.error()).isNull();
      }
    }
    // sorted per directory ("A.JPG" < "b.png" < "sub"), depth first, link loop and repeat skipped,
    // hidden and output directories left out, list entries kept whatever their extension
    // ("again" sorts before "deeper", so the link is the way in and the real directory is the repeat)
    assertThat(names).containsExactly("in/A.JPG", "in/b.png", "in/sub/again/y.gif", "in/sub/z.webp",
        "in/sub/notes.txt", "missing.png");
    assertThat(indices).containsExactly(0L, 1L, 2L, 3L, 4L, 5L);
    assertThat(warnings).hasSize(2).allMatch(w -> w.contains("already walked"));
    assertThat(String.join("\n", warnings)).contains("again/loop").contains("sub/deeper:");

    ImageWalk jpgOnly = new ImageWalk(List.of(in.toString()), List.of(".jpg", "GIF"), null, null);
    List<String> only = new ArrayList<>();
    try (ItemSource.Items it = jpgOnly.open()) {
      it.forEachRemaining(i -> only.add(Path.of(i.name()).getFileName().toString()));
    }
    assertThat(only).containsExactly("A.JPG", "y.gif");

    ImageWalk badList = new ImageWalk(List.of("@" + tmp.resolve("nope.txt")), null, null, null);
    try (ItemSource.Items it = badList.open()) {
      CorpusItem item = it.next();
      assertThat(item.error().code()).isEqualTo(ErrorCode.IO);
      assertThat(item.error().getMessage()).contains("nope.txt");
      assertThat(it.hasNext()).isFalse();
    }
  }

  @Test
  void textSourcesGiveIdsAndTurnMalformedLinesIntoItemErrors(@TempDir Path tmp) throws IOException {
    Path jsonl = tmp.resolve("t.jsonl");
    Files.writeString(jsonl, "{\"text\": \"a cat\", \"id\": \"c1\"}\n{\"text\": \"no id\"}\n\nnot json\n{\"id\": 3}\n"
        + "{\"text\": \"num id\", \"id\": 42}\n");
    Path tsv = tmp.resolve("t.tsv");
    Files.write(tsv, "k1\ta dog\r\nno tab here\n\tempty id\n".getBytes(StandardCharsets.UTF_8));
    Path txt = tmp.resolve("t.txt");
    Files.write(txt, concat("first\n  \n".getBytes(StandardCharsets.UTF_8), new byte[] {(byte) 0xC3, '\n'},
        "last".getBytes(StandardCharsets.UTF_8)));
    TextSources src = new TextSources(List.of("lit"), List.of(new TextSources.Source(TextSources.Format.JSONL, jsonl),
        new TextSources.Source(TextSources.Format.TSV, tsv), new TextSources.Source(TextSources.Format.TXT, txt)));
    List<String> got = new ArrayList<>();
    try (ItemSource.Items it = src.open()) {
      it.forEachRemaining(i -> got.add(i.index() + " " + i.name() + " "
          + (i.error() != null ? i.error().code() : "[" + i.text() + "]")));
    }
    assertThat(got).containsExactly(
        "0 --text:1 [lit]",
        "1 c1 [a cat]", "2 t.jsonl:2 [no id]", "3 t.jsonl:4 INVALID_INPUT", "4 t.jsonl:5 INVALID_INPUT", "5 42 [num id]",
        "6 k1 [a dog]", "7 t.tsv:2 INVALID_INPUT", "8 t.tsv:3 [empty id]",
        "9 t.txt:1 [first]", "10 t.txt:3 INVALID_INPUT", "11 t.txt:4 [last]");
    // One source: ids are bare line numbers.
    TextSources one = new TextSources(null, List.of(new TextSources.Source(TextSources.Format.TXT, txt)));
    try (ItemSource.Items it = one.open()) {
      assertThat(it.next().name()).isEqualTo("1");
    }
    assertThatThrownBy(one::readAllStrict).isInstanceOf(InvalidInputException.class).hasMessageContaining("UTF-8");
    assertThatThrownBy(() -> new TextSources(List.of(), List.of())).isInstanceOf(InvalidInputException.class);
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      b.writeBytes(p);
    }
    return b.toByteArray();
  }

  @Test
  void shardsHoldTheGoodRowsAndBadOrNonFiniteRowsAreTypedErrors(@TempDir Path tmp) throws IOException {
    Path in = corpus(tmp);
    Path out = tmp.resolve("out");
    CorpusJob.Result r = run(new ImageWalk(List.of(in.toString()), null, null, null), out, 5, false);
    assertThat(r.inputs()).isEqualTo(23);
    assertThat(r.errors()).isEqualTo(3);
    assertThat(r.rows()).isEqualTo(20);
    assertThat(r.exitCode()).isEqualTo(CorpusJob.EXIT_COMPLETED_WITH_ERRORS);

    JsonNode m = json.readTree(out.resolve("manifest.json").toFile());
    assertThat(m.get("complete").asBoolean()).isTrue();
    assertThat(m.get("shards")).hasSize(5);
    List<String> errors = Files.readAllLines(out.resolve("errors.jsonl"));
    assertThat(errors).hasSize(3);
    Map<String, String> codeByName = new TreeMap<>();
    for (String line : errors) {
      JsonNode e = json.readTree(line);
      codeByName.put(Path.of(e.get("path").asText()).getFileName().toString(), e.get("error").asText());
    }
    assertThat(codeByName).containsExactly(Map.entry("bad4.png", "INVALID_INPUT"), Map.entry("half17.png", "NUMERICAL"),
        Map.entry("nan13.jpg", "NUMERICAL"));
    assertThat(String.join("\n", errors)).contains("not finite", "not unit-norm");

    // Rows: every good input, in index order, each the fake's row for that name.
    long rows = 0;
    long lastIndex = -1;
    for (JsonNode s : m.get("shards")) {
      Npy.Array a = Npy.read(out.resolve(s.get("embeddings").asText()));
      List<String> ids = Files.readAllLines(out.resolve(s.get("ids").asText()));
      assertThat(a.shape()).containsExactly(s.get("rows").asLong(), DIM);
      assertThat(ids).hasSize(s.get("rows").asInt());
      float[] f = a.floats();
      for (int row = 0; row < ids.size(); row++) {
        JsonNode id = json.readTree(ids.get(row));
        assertThat(id.get("row").asInt()).isEqualTo(row);
        long index = id.get("index").asLong();
        assertThat(index).isGreaterThan(lastIndex).isBetween(s.get("index").asLong() * 5, s.get("index").asLong() * 5 + 4);
        lastIndex = index;
        assertThat(java.util.Arrays.copyOfRange(f, row * DIM, (row + 1) * DIM)).containsExactly(rowOf(id.get("path").asText()));
        rows++;
      }
    }
    assertThat(rows).isEqualTo(20);
    assertThat(m.get("rows").asLong()).isEqualTo(20);
    assertThat(m.get("errors").asLong()).isEqualTo(3);
  }

  @Test
  void aCrashAtAnyPointResumesToTheSameFilesAsAnUninterruptedRun(@TempDir Path tmp) throws IOException {
    Path in = corpus(tmp);
    ImageWalk walk = new ImageWalk(List.of(in.toString()), null, null, null);
    Path ref = tmp.resolve("ref");
    run(walk, ref, 5, false);
    Map<String, String> want = snapshot(ref);
    // Shard 0 holds bad4 (an error), shard 2 nan13, shard 3 half17; shard 4 is the short last one.
    List<String> points = new ArrayList<>();
    for (String stage : new String[] {"npy", "ids", "errors", "manifest"}) {
      for (int k : new int[] {0, 2, 4}) { // first, one in the middle with an error, the short last one
        points.add(stage + ":" + k);
      }
    }
    for (long i : new long[] {0, 3, 22}) {
      points.add("item:" + i);
    }
    for (String point : points) {
      Path out = tmp.resolve("crash-" + point.replace(':', '-'));
      Faults.crashForTests = point;
      assertThatThrownBy(() -> run(walk, out, 5, false)).as(point).isInstanceOf(Faults.SimulatedCrash.class);
      Faults.crashForTests = null;
      JsonNode m = json.readTree(out.resolve("manifest.json").toFile());
      assertThat(m.get("complete").asBoolean()).as(point).isFalse();
      // What a kill in the middle of a temp-file write leaves (the manifest's own, a shard's): ignored, removed.
      Files.writeString(out.resolve(".manifest.json.tmp"), "{\"format\": \"clip4j-emb");
      Files.write(out.resolve(".embeddings-00003.npy.tmp"), new byte[] {(byte) 0x93, 'N', 'U'});
      CorpusJob.Result r = run(walk, out, 5, false);
      assertThat(r.rows()).as(point).isEqualTo(20);
      assertThat(r.errors()).as(point).isEqualTo(3);
      assertThat(snapshot(out)).as(point).isEqualTo(want);
    }
  }

  @Test
  void aResumeSkipsCommittedShardsAndRefusesAnotherJob(@TempDir Path tmp) throws IOException {
    Path in = corpus(tmp);
    ImageWalk walk = new ImageWalk(List.of(in.toString()), null, null, null);
    Path out = tmp.resolve("out");
    Faults.crashForTests = "item:12";
    assertThatThrownBy(() -> run(walk, out, 5, false)).isInstanceOf(Faults.SimulatedCrash.class);
    Faults.crashForTests = null;
    try (FakeBackend b = new FakeBackend()) {
      CorpusJob.Result r = CorpusJob.run(walk, b, identity(), DIM, new CorpusJob.Directory(out),
          new CorpusJob.Options(5, 7, false, Progress.Mode.OFF, 10), 7, quiet);
      assertThat(r.resumedFrom()).isEqualTo(10);
      assertThat(b.submitted).isEqualTo(13); // only inputs 10..22 were embedded again
    }
    // Same job again: already complete, nothing submitted.
    try (FakeBackend b = new FakeBackend()) {
      CorpusJob.Result r = CorpusJob.run(walk, b, identity(), DIM, new CorpusJob.Directory(out),
          new CorpusJob.Options(5, 7, false, Progress.Mode.OFF, 10), 7, quiet);
      assertThat(r.alreadyComplete()).isTrue();
      assertThat(r.exitCode()).isEqualTo(3);
      assertThat(b.submitted).isZero();
    }
    assertThatThrownBy(() -> run(walk, out, 6, false)).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("shard size").hasMessageContaining("--overwrite");
    touch(in.resolve("a/img99.png"));
    assertThatThrownBy(() -> run(walk, out, 5, false)).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("number of inputs").hasMessageContaining("--overwrite");
    Files.delete(in.resolve("a/img0.png"));
    assertThatThrownBy(() -> run(walk, out, 5, false)).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("input set");
    try (FakeBackend b = new FakeBackend()) {
      ObjectNode other = CorpusJob.identity("images", DIM, Map.of("fake", "other model"));
      assertThatThrownBy(() -> CorpusJob.run(walk, b, other, DIM, new CorpusJob.Directory(out),
          new CorpusJob.Options(5, 7, false, Progress.Mode.OFF, 10), 7, quiet))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("model/fake was \"model\", now \"other model\"");
    }
    CorpusJob.Result r = run(walk, out, 6, true);
    assertThat(r.inputs()).isEqualTo(23);
    assertThat(r.resumedFrom()).isZero();
    assertThat(json.readTree(out.resolve("manifest.json").toFile()).get("shard_size").asInt()).isEqualTo(6);
    try (Stream<Path> s = Files.list(out)) {
      assertThat(s.filter(p -> p.getFileName().toString().startsWith("embeddings-"))).hasSize(4);
    }
    // A directory with someone else's files is never used.
    Path foreign = tmp.resolve("photos");
    touch(foreign.resolve("holiday.jpg"));
    assertThatThrownBy(() -> run(walk, foreign, 5, true)).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("holiday.jpg");
    Path other = tmp.resolve("other");
    Files.createDirectories(other);
    Files.writeString(other.resolve("manifest.json"), "{\"name\": \"someone else's\"}");
    assertThatThrownBy(() -> run(walk, other, 5, true)).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("not written by clip4j");
    assertThat(other.resolve("manifest.json")).hasContent("{\"name\": \"someone else's\"}");
  }

  /** A source whose enumerations are given lists of names (the second open may differ from the first). */
  private static ItemSource names(List<List<String>> perOpen) {
    return new ItemSource() {
      int opens;

      @Override
      public String kind() {
        return "images";
      }

      @Override
      public String nameField() {
        return "path";
      }

      @Override
      public Map<String, Object> describe() {
        return Map.of();
      }

      @Override
      public Items open() {
        java.util.Iterator<String> it = perOpen.get(Math.min(opens++, perOpen.size() - 1)).iterator();
        return new Items() {
          long index;

          @Override
          public boolean hasNext() {
            return it.hasNext();
          }

          @Override
          public CorpusItem next() {
            String n = it.next();
            return new CorpusItem(index++, n, Path.of(n), null, null);
          }

          @Override
          public void close() {}
        };
      }
    };
  }

  @Test
  void aFatalErrorOrAnInputSetChangingMidRunStopsTheJobAndKeepsCommittedShards(@TempDir Path tmp) throws IOException {
    List<String> a = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      a.add("img" + i + ".png");
    }
    List<String> withOom = new ArrayList<>(a);
    withOom.set(7, "oom7.png");
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    PrintStream ps = new PrintStream(log, true, StandardCharsets.UTF_8);
    Path out = tmp.resolve("out");
    try (FakeBackend b = new FakeBackend()) {
      assertThatThrownBy(() -> CorpusJob.run(names(List.of(withOom)), b, identity(), DIM, new CorpusJob.Directory(out),
          new CorpusJob.Options(5, 3, false, Progress.Mode.OFF, 10), 3, ps))
          .isInstanceOf(dev.clip4j.DeviceException.class).hasMessageContaining("out of memory");
    }
    assertThat(log.toString(StandardCharsets.UTF_8)).contains("5 rows and 0 errors", "run the same command again to resume");
    JsonNode m = json.readTree(out.resolve("manifest.json").toFile());
    assertThat(m.get("shards")).hasSize(1); // shard 0 committed; shard 1 (with the failed batch) not
    assertThat(Files.readAllBytes(out.resolve("errors.jsonl"))).isEmpty(); // a fatal error is not an input's error

    List<String> b2 = new ArrayList<>(a);
    b2.set(8, "renamed8.png");
    Path out2 = tmp.resolve("out2");
    try (FakeBackend b = new FakeBackend()) {
      assertThatThrownBy(() -> CorpusJob.run(names(List.of(a, b2)), b, identity(), DIM, new CorpusJob.Directory(out2),
          new CorpusJob.Options(5, 3, false, Progress.Mode.OFF, 10), 3, quiet))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("changed while the job ran (at shard 1)");
    }
    assertThat(json.readTree(out2.resolve("manifest.json").toFile()).get("shards")).hasSize(1);
  }

  @Test
  void rowCheck() {
    assertThat(CorpusJob.checkRow(rowOf("x"), DIM)).isNull();
    assertThat(CorpusJob.checkRow(new float[DIM], DIM)).contains("not unit-norm");
    assertThat(CorpusJob.checkRow(rowOf("x"), DIM + 1)).contains("expected " + (DIM + 1));
    float[] inf = rowOf("x");
    inf[0] = Float.POSITIVE_INFINITY;
    assertThat(CorpusJob.checkRow(inf, DIM)).contains("not finite");
    assertThat(CorpusJob.isItemError(new Clip4jException(ErrorCode.IO, "x"))).isTrue();
    assertThat(CorpusJob.isItemError(new dev.clip4j.DeviceException(ErrorCode.OUT_OF_MEMORY, "x"))).isFalse();
    assertThat(CorpusJob.isItemError(new IllegalStateException("x"))).isFalse();
  }
}
