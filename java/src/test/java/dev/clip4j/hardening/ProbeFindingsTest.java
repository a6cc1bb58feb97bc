package dev.clip4j.hardening;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.DeviceException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.cli.Main;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.LoadOptions;
import dev.clip4j.model.RandomModels;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.testing.Conformance;
import dev.clip4j.text.st.SentenceTransformerPipeline;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The findings of a hostile-input probe (issue 17): each input gets the behaviour stated in the
 * test name, through the library and the CLI. The @Timeout values only guard against a
 * regression to the old unbounded behaviour; they measure nothing.
 */
class ProbeFindingsTest {
  @TempDir static Path tmp;
  static Path modelDir;
  private static final ObjectMapper JSON = new ObjectMapper();

  @BeforeAll
  static void setUp() throws IOException {
    modelDir = RandomModels.write(tmp.resolve("tiny"), Seeds.tinySpec(), 3);
    Files.write(modelDir.resolve("bpe_simple_vocab_16e6.txt.gz"), Seeds.bpeGz());
  }

  /** Exit code, stdout and stderr of one CLI run in this JVM. */
  record Run(int code, String out, String err) {}

  static Run cli(String... args) {
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    int code;
    try {
      code = Main.run(args);
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
    return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  /** A copy of the tiny model whose config says {@code layers} vision layers. */
  private static Path withVisionLayers(long layers) throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("layers-" + layers));
    try (Stream<Path> files = Files.list(modelDir)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        Files.copy(f, dir.resolve(f.getFileName()));
      }
    }
    Path cfg = dir.resolve("open_clip_config.json");
    ObjectNode root = (ObjectNode) JSON.readTree(cfg.toFile());
    ((ObjectNode) root.get("model_cfg").get("vision_cfg")).put("layers", layers);
    JSON.writeValue(cfg.toFile(), root);
    return dir;
  }

  @Test
  @Timeout(60)
  void architectureSizesAreBoundedByTheWeightsBeforeNamesAreExpanded() throws IOException {
    for (long layers : new long[] {1_000_000, 1_000_000_000}) {
      Path dir = withVisionLayers(layers);
      long t0 = System.nanoTime();
      assertThatThrownBy(() -> ClipModel.load(dir).close())
          .isInstanceOf(InvalidModelException.class)
          .hasMessageContaining(String.format("vision_cfg.layers %,d", layers))
          .hasMessageContaining("1 vision and 1 text transformer blocks");
      Run r = cli("inspect", "--model", dir.toString());
      double seconds = (System.nanoTime() - t0) / 1e9;
      assertThat(r.code()).isEqualTo(1);
      assertThat(r.err()).contains("the configuration cannot describe these weights");
      assertThat(r.err().length()).as("stderr of inspect").isLessThan(2000);
      assertThat(seconds).as("load + inspect of a config with %d layers", layers).isLessThan(30);
    }
  }

  @Test
  @Timeout(60)
  void sentenceTransformerLayerCountIsBoundedToo() throws IOException {
    Path src = Conformance.dir().resolve("multilingual");
    Path dir = Files.createDirectories(tmp.resolve("st-layers"));
    try (Stream<Path> walk = Files.walk(src)) {
      for (Path f : (Iterable<Path>) walk::iterator) {
        Path to = dir.resolve(src.relativize(f).toString());
        if (Files.isDirectory(f)) {
          Files.createDirectories(to);
        } else if (!f.getFileName().toString().equals("pytorch_model.bin")) {
          Files.copy(f, to);
        }
      }
    }
    ObjectNode cfg = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
    String key = cfg.has("n_layers") ? "n_layers" : "num_hidden_layers";
    cfg.put(key, 1_000_000_000);
    JSON.writeValue(dir.resolve("config.json").toFile(), cfg);
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir).close())
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("1000000000 layers")
        .satisfies(e -> assertThat(e.getMessage().length()).isLessThan(1000));
  }

  private static Path write(String name, byte[] data) throws IOException {
    return Files.write(tmp.resolve(name), data);
  }

  private static Path image(String name) throws IOException {
    return write(name, Seeds.encode(Seeds.picture(20, 16, false), "png"));
  }

  @Test
  void anExistingFileAsTheOutputDirectoryIsNamedAsSuch() throws IOException {
    Path file = write("results.txt", "not a directory".getBytes(StandardCharsets.UTF_8));
    Run r = cli("embed-images", "--model", modelDir.toString(), "--out", file.toString(), image("a.png").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("cannot write the output directory " + file + ": it exists and is not a directory")
        .contains("--out X.jsonl");
    assertThat(Files.readString(file)).isEqualTo("not a directory");
  }

  @Test
  void aLockFileThatCannotBeOpenedIsNotReportedAsAnotherJob() throws IOException {
    Path out = Files.createDirectories(tmp.resolve("lock-is-dir"));
    Files.createDirectories(out.resolve(".clip4j.lock"));
    Run r = cli("embed-images", "--model", modelDir.toString(), "--out", out.toString(), image("b.png").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("cannot open .clip4j.lock").doesNotContain("another clip4j job");
  }

  /**
   * A read-only output directory: a read-only bind mount in a child JVM (tests run as root, for
   * whom permission bits do not stop a write), or, for another user, a directory without write
   * permission in this JVM.
   */
  @Test
  @Timeout(180)
  void aReadOnlyOutputDirectoryIsReportedAsReadOnly() throws Exception {
    Path out = Files.createDirectories(tmp.resolve("read-only"));
    Path img = image("c.png");
    String[] args = {"embed-images", "--model", modelDir.toString(), "--out", out.toString(), img.toString()};
    boolean root = "root".equals(System.getProperty("user.name"));
    if (!root) {
      assertThat(out.toFile().setWritable(false, false)).isTrue();
      try {
        Run r = cli(args);
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("cannot write the output directory " + out)
            .contains("read-only for this user").doesNotContain("another clip4j job");
      } finally {
        out.toFile().setWritable(true, false);
      }
      return;
    }
    List<String> java = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
    java.addAll(List.of(args));
    String script = "mount --bind -o ro \"$1\" \"$1\" || exit 99; shift; exec \"$@\"";
    List<String> cmd = new ArrayList<>(List.of("unshare", "-m", "sh", "-c", script, "sh", out.toString()));
    cmd.addAll(java);
    Process p;
    try {
      p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    } catch (IOException e) {
      p = null;
    }
    Assumptions.assumeTrue(p != null, "unshare(1) is needed to make a read-only mount as root");
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(150, TimeUnit.SECONDS)).isTrue();
    Assumptions.assumeFalse(p.exitValue() == 99 || output.contains("unshare failed"),
        "no permission for a private read-only mount here: " + output);
    assertThat(p.exitValue()).as(output).isEqualTo(1);
    assertThat(output).contains("cannot write the output directory " + out + ": it is on a read-only file system")
        .doesNotContain("another clip4j job");
  }

  @Test
  void invalidUtf8InALabelsFileNamesTheLineAndTheEncoding() throws IOException {
    Path labels = write("labels.txt", new byte[] {'c', 'a', 't', '\n', 'd', 'o', 'g', '\n', (byte) 0xff, (byte) 0xfe, 'x', '\n'});
    Run r = cli("classify", "--model", modelDir.toString(), "--labels-file", labels.toString(), image("d.png").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains(labels + ":3: not valid UTF-8").doesNotContain("Input length");
  }

  /** A pickle of os.system('true') as CPython 3.11 writes it (protocol 2): posix.system. */
  private static final byte[] HOSTILE_PICKLE = {(byte) 0x80, 2, 'c', 'p', 'o', 's', 'i', 'x', '\n', 's', 'y', 's', 't',
      'e', 'm', '\n', 'q', 0, 'X', 4, 0, 0, 0, 't', 'r', 'u', 'e', 'q', 1, (byte) 0x85, 'q', 2, 'R', 'q', 3, '.'};

  @Test
  void aTorchScriptArchiveWithAHostilePickleIsRefusedWithAReason() throws IOException {
    Path src = Conformance.dir().resolve("models/tiny-gelu/torchscript_scripted.pt");
    Path hostile = tmp.resolve("hostile.pt");
    try (ZipFile in = new ZipFile(src.toFile());
        ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(hostile))) {
      for (ZipEntry e : java.util.Collections.list(in.entries())) {
        out.putNextEntry(new ZipEntry(e.getName()));
        out.write(e.getName().endsWith("/data.pkl") ? HOSTILE_PICKLE : in.getInputStream(e).readAllBytes());
        out.closeEntry();
      }
    }
    assertThatThrownBy(() -> ClipModel.load(hostile).close())
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("could not load the TorchScript archive: Unknown type name 'posix.system'")
        .hasMessageContaining("not a TorchScript type");
    Run r = cli("inspect", "--model", hostile.toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("Unknown type name 'posix.system'").doesNotContain("archive: \n");
  }

  @Test
  void aSymbolicLinkLoopIsCalledALoop() throws IOException {
    Path a = tmp.resolve("loop-a.png");
    Path b = tmp.resolve("loop-b.png");
    Files.createSymbolicLink(a, b);
    Files.createSymbolicLink(b, a);
    assertThatThrownBy(() -> ImageDecoder.decode(a))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("symbolic link loop")
        .hasMessageNotContaining("dangling");
    Path jsonl = tmp.resolve("loop.jsonl");
    Run r = cli("embed-images", "--model", modelDir.toString(), "--out", jsonl.toString(), a.toString());
    assertThat(r.code()).isEqualTo(3);
    assertThat(Files.readString(jsonl)).contains("symbolic link loop").doesNotContain("dangling");
    // a loop through a directory on the way is a loop too
    Path d = tmp.resolve("loop-dir");
    Files.createSymbolicLink(d, d);
    assertThatThrownBy(() -> ImageDecoder.decode(d.resolve("x.png")))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("symbolic link loop");
  }

  @Test
  void aLegacyPickleCheckpointIsNamedAndRefusedAsUnsupported() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("legacy"));
    Files.copy(modelDir.resolve("open_clip_config.json"), dir.resolve("open_clip_config.json"));
    // The start of torch.save(sd, f, _use_new_zipfile_serialization=False): the pickled magic number.
    byte[] legacy = {(byte) 0x80, 2, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46, (byte) 0xf9, 0x20,
        0x6a, (byte) 0xa8, 0x50, 0x19, '.', (byte) 0x80, 2, 'M', (byte) 0xe9, 3, '.'};
    Files.write(dir.resolve("open_clip_pytorch_model.bin"), legacy);
    assertThatThrownBy(() -> ClipModel.load(dir).close())
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("unsupported format: a legacy (non-zip) torch.save pickle")
        .hasMessageNotContaining("safetensors file");
    // Any other bare pickle is named too.
    Files.write(dir.resolve("open_clip_pytorch_model.bin"), HOSTILE_PICKLE);
    Run r = cli("inspect", "--model", dir.toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("unsupported format: a Python pickle (protocol 2)").doesNotContain("header length");
  }

  @Test
  void npyPixelsWithAJsonLinesOutputAreExplainedForThatOutput() throws IOException {
    Path npy = tmp.resolve("px.npy");
    int s = Seeds.tinySpec().imageSize();
    dev.clip4j.io.Npy.writeFloat32(npy, new float[3 * s * s], 1, 3, s, s);
    Path jsonl = tmp.resolve("px.jsonl");
    Run r = cli("embed-images", "--model", modelDir.toString(), "--out", jsonl.toString(), npy.toString());
    assertThat(r.code()).isEqualTo(3);
    assertThat(Files.readString(jsonl)).contains("only into an .npy output (--out FILE.npy)")
        .contains("a JSON-lines file").doesNotContain("corpus directory");
  }

  @Test
  void searchOverAnIncompleteIndexWarnsAndSaysHowManyRowsItSearches() throws IOException {
    Path index = tmp.resolve("partial-index");
    Run made = cli("embed-texts", "--model", modelDir.toString(), "--out", index.toString(), "--text", "a cat",
        "--text", "a dog", "--text", "a bird");
    assertThat(made.code()).as(made.err()).isZero();
    Path manifest = index.resolve("manifest.json");
    ObjectNode m = (ObjectNode) JSON.readTree(manifest.toFile());
    assertThat(m.get("complete").asBoolean()).isTrue();
    Run full = cli("search", "--model", modelDir.toString(), "--index", index.toString(), "--query", "a cat", "-k", "2");
    assertThat(full.code()).isZero();
    assertThat(full.err()).doesNotContain("incomplete");
    m.put("complete", false);
    JSON.writeValue(manifest.toFile(), m);
    Run r = cli("search", "--model", modelDir.toString(), "--index", index.toString(), "--query", "a cat", "-k", "2");
    assertThat(r.code()).isZero();
    assertThat(r.err()).contains("warning: " + index + " is incomplete")
        .contains("searching the 3 rows committed so far (the job has 3 inputs)");
    assertThat(r.out()).isEqualTo(full.out()); // it still searches what is there
  }

  @Test
  void aCudaDeviceThisHostDoesNotHaveIsATypedDeviceErrorInAFewLines() throws IOException {
    int count = torch.cuda_is_available() ? torch.cuda_device_count() : 0;
    List<String> absent = new ArrayList<>(List.of("cuda:" + count, "cuda:" + (count + 7)));
    if (count == 0) {
      absent.add("cuda");
    }
    for (String device : absent) {
      LoadOptions opts = LoadOptions.builder().device(device).build();
      assertThatThrownBy(() -> ClipModel.load(modelDir, opts).close())
          .as(device)
          .isInstanceOfSatisfying(DeviceException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.DEVICE))
          .hasMessageContaining("device '" + device + "' is not available on this host")
          .satisfies(e -> assertThat(e.getMessage().lines().count()).isEqualTo(1));
      assertThatThrownBy(() -> ClipModel.load(Conformance.dir().resolve("models/tiny-gelu/torchscript_scripted.pt"),
          opts).close()).as(device + " torchscript").isInstanceOf(DeviceException.class);
      assertThatThrownBy(() -> SentenceTransformerPipeline.load(Conformance.dir().resolve("multilingual"), device)
          .close()).as(device + " sentence-transformers").isInstanceOfSatisfying(DeviceException.class,
              e -> assertThat(e.code()).isEqualTo(ErrorCode.DEVICE));
      Run r = cli("inspect", "--model", modelDir.toString(), "--device", device);
      assertThat(r.code()).isEqualTo(1);
      assertThat(r.err()).contains("error (DEVICE)").doesNotContain("frame #").doesNotContain("\tat ");
      assertThat(r.err().lines().count()).as(r.err()).isLessThanOrEqualTo(3);
    }
    assertThat(Clip4jException.fromStatus(ErrorCode.DEVICE.value(), "x")).isInstanceOf(DeviceException.class);
  }
}
