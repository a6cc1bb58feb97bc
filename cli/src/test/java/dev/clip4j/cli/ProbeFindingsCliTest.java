package dev.clip4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.hardening.ProbeInputs;
import dev.clip4j.hardening.Seeds;
import dev.clip4j.model.RandomModels;
import dev.clip4j.testing.Conformance;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The findings of the issue-17 hostile-input probe through the command line: the message on
 * stderr names the real cause, the exit code is the documented one, output files say the same.
 * The library's side is dev.clip4j.hardening.ProbeFindingsTest. The @Timeout values only guard
 * against a regression to the old unbounded behaviour; they measure nothing.
 */
class ProbeFindingsCliTest {
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

  private static Path write(String name, byte[] data) throws IOException {
    return Files.write(tmp.resolve(name), data);
  }

  private static Path image(String name) throws IOException {
    return write(name, Seeds.encode(Seeds.picture(20, 16, false), "png"));
  }

  @Test
  @Timeout(60)
  void inspectOfAHugeArchitectureAnswersInAFewLines() throws IOException {
    for (long layers : new long[] {1_000_000, 1_000_000_000}) {
      Path dir = ProbeInputs.withVisionLayers(modelDir, tmp.resolve("layers-" + layers), layers);
      long t0 = System.nanoTime();
      Run r = cli("inspect", "--model", dir.toString());
      assertThat(r.code()).isEqualTo(1);
      assertThat(r.err()).contains("the configuration cannot describe these weights")
          .contains(String.format("vision_cfg.layers %,d", layers));
      assertThat(r.err().length()).as("stderr of inspect").isLessThan(2000);
      assertThat((System.nanoTime() - t0) / 1e9).as("inspect of a config with %d layers", layers).isLessThan(20);
    }
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
    // the same file with the line fixed classifies
    write("labels.txt", "cat\ndog\r\nbird\n".getBytes(StandardCharsets.UTF_8));
    Run ok = cli("classify", "--model", modelDir.toString(), "--labels-file", labels.toString(), "-k", "3",
        image("d.png").toString());
    assertThat(ok.code()).as(ok.err()).isZero();
    assertThat(ok.out()).contains("\"cat\"").contains("\"dog\"").contains("\"bird\"");
  }

  @Test
  void aTorchScriptArchiveWithAHostilePickleGivesAReason() throws IOException {
    Path hostile = ProbeInputs.hostileTorchScript(Conformance.dir().resolve("models/tiny-gelu/torchscript_scripted.pt"),
        tmp.resolve("hostile.pt"));
    Run r = cli("inspect", "--model", hostile.toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("posix.system").doesNotContain("archive: \n");
  }

  @Test
  void aSymbolicLinkLoopIsCalledALoopInTheErrorsFile() throws IOException {
    Path a = tmp.resolve("loop-a.png");
    Files.createSymbolicLink(a, tmp.resolve("loop-b.png"));
    Files.createSymbolicLink(tmp.resolve("loop-b.png"), a);
    Path jsonl = tmp.resolve("loop.jsonl");
    Run r = cli("embed-images", "--model", modelDir.toString(), "--out", jsonl.toString(), a.toString());
    assertThat(r.code()).isEqualTo(3);
    assertThat(Files.readString(jsonl)).contains("symbolic link loop").doesNotContain("dangling");
  }

  @Test
  void aBarePickleAsWeightsIsNamed() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("legacy"));
    Files.copy(modelDir.resolve("open_clip_config.json"), dir.resolve("open_clip_config.json"));
    Files.write(dir.resolve("open_clip_pytorch_model.bin"), ProbeInputs.legacyTorchSave());
    Run r = cli("inspect", "--model", dir.toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("unsupported format: a legacy (non-zip) torch.save pickle").doesNotContain("header length");
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
    assertThat(full.code()).as(full.err()).isZero();
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
  void aCudaDeviceThisHostDoesNotHaveIsADeviceErrorInAFewLines() {
    for (String device : ProbeInputs.absentCudaDevices()) {
      Run r = cli("inspect", "--model", modelDir.toString(), "--device", device);
      assertThat(r.code()).isEqualTo(1);
      assertThat(r.err()).contains("error (DEVICE)").contains("is not available on this host")
          .doesNotContain("frame #").doesNotContain("\tat ");
      assertThat(r.err().lines().count()).as(r.err()).isLessThanOrEqualTo(3);
    }
  }
}
