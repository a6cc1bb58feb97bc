package dev.clip4j.firststart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.clip4j.io.Npy;
import dev.clip4j.testing.Conformance;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * First starts on a fresh machine: child JVMs with an empty JavaCPP cache directory
 * ({@code org.bytedeco.javacpp.cachedir}), as every new container, CI runner and Spark executor
 * has. The machine running the tests has a warm {@code ~/.javacpp/cache}, so without these
 * children nothing would see a first start.
 *
 * <p>The children run with a directory of decoy libraries on {@code LD_LIBRARY_PATH} ({@code
 * libtorch_cpu.so}, {@code libc10.so}, {@code libgomp.so.1}, {@code libopenblas.so.0}, ...: each
 * one's constructor prints a marker and exits with 86). They stand for another LibTorch on the
 * library search path, like Debian's {@code python3-torch} or a conda environment: clip4j's
 * libraries must all come from the cache, so no decoy may ever be loaded (before the fix in
 * {@code LibTorchLoader}, {@code libtorch.so} pulled a foreign {@code libtorch_cpu.so} on the
 * first start and the JVM died with SIGSEGV). Each child also lists the mapped files of
 * LibTorch's family, and every one must lie under its cache directory.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class FirstStartTest {
  private static final String[] DECOYS = {
    "libtorch_cpu.so", "libtorch.so", "libc10.so", "libgomp.so.1", "libopenblas.so.0", "libgfortran.so.5", "libquadmath.so.0"
  };
  private static final String MARKER = "CLIP4J-DECOY-LOADED";

  @TempDir static Path tmp;
  private static Path decoys;

  @BeforeAll
  static void buildDecoys() throws Exception {
    decoys = Files.createDirectories(tmp.resolve("decoys"));
    Path src = tmp.resolve("decoy.c");
    Files.writeString(src, "#include <unistd.h>\n"
        + "__attribute__((constructor)) static void decoy(void) {\n"
        + "  static const char m[] = \"" + MARKER + "\\n\";\n"
        + "  (void) !write(2, m, sizeof m - 1);\n"
        + "  _exit(86);\n"
        + "}\n");
    for (String name : DECOYS) {
      Process cc = new ProcessBuilder("g++", "-x", "c", "-shared", "-fPIC", "-Wl,-soname," + name, "-o",
          decoys.resolve(name).toString(), src.toString()).redirectErrorStream(true).start();
      String out = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(cc.waitFor()).as("g++ building decoy %s: %s", name, out).isZero();
    }
  }

  /** A library JVM on an empty cache: engine, model load, one embedding equal to open_clip's. */
  @Test
  void libraryJvmOnAnEmptyCacheLoadsOnlyCachedLibrariesAndEmbedsExactly() throws Exception {
    Path conf = Conformance.dir();
    Path cache = tmp.resolve("cache-library");
    Child c = start(cache, modelArgs(conf)).finish();
    c.assertClean(cache);
    assertImageRow0(conf, c);

    // The second start on the now warm cache behaves the same.
    Child again = start(cache, modelArgs(conf)).finish();
    again.assertClean(cache);
    assertThat(again.imageLine()).isEqualTo(c.imageLine());
  }

  /**
   * Two JVMs starting together on one empty cache (two Spark executors on a host, or a driver and
   * an executor): both extract into the same directory under JavaCPP's cache lock and both work.
   */
  @Test
  void twoJvmsStartingTogetherOnOneEmptyCacheBothWork() throws Exception {
    Path conf = Conformance.dir();
    Path cache = tmp.resolve("cache-shared");
    Child a = start(cache, modelArgs(conf));
    Child b = start(cache, modelArgs(conf));
    a.finish().assertClean(cache);
    b.finish().assertClean(cache);
    assertImageRow0(conf, a);
    assertThat(b.imageLine()).isEqualTo(a.imageLine());
  }

  /** The engine alone (what `clip4j engine` does) on an empty cache. */
  @Test
  void engineOnlyJvmOnAnEmptyCache() throws Exception {
    Path cache = tmp.resolve("cache-engine");
    Child c = start(cache, List.of()).finish();
    c.assertClean(cache);
    assertThat(c.mapped()).anyMatch(p -> p.endsWith("/libtorch_cpu.so")).anyMatch(p -> p.endsWith("/libc10.so"))
        .anyMatch(p -> p.endsWith("/libopenblas.so.0"));
  }

  private static List<String> modelArgs(Path conf) throws IOException {
    String first = firstImage(conf);
    return List.of(conf.resolve("models/tiny-quickgelu").toString(),
        conf.resolve("preprocess").resolve(first + ".npy").toString());
  }

  private static String firstImage(Path conf) throws IOException {
    String manifest = Files.readString(conf.resolve("manifest.json"));
    int i = manifest.indexOf("\"images\"");
    int q1 = manifest.indexOf('"', manifest.indexOf('[', i) + 1);
    return manifest.substring(q1 + 1, manifest.indexOf('"', q1 + 1));
  }

  private static void assertImageRow0(Path conf, Child c) {
    float[] expected = Npy.read(conf.resolve("models/tiny-quickgelu/expected_image_embeddings.npy")).floats();
    String[] v = c.imageLine().split(" ");
    for (int k = 0; k < 3; k++) {
      assertThat(Float.parseFloat(v[k + 1])).as("image embedding [0][%d]", k).isCloseTo(expected[k], within(1e-5f));
    }
  }

  private static Child start(Path cache, List<String> args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx512m", "-Dorg.bytedeco.javacpp.cachedir=" + cache, "-cp", System.getProperty("java.class.path"),
        FirstStartMain.class.getName()));
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().put("LD_LIBRARY_PATH", decoys.toString());
    Path log = Files.createTempFile(tmp, "child", ".log");
    pb.redirectOutput(log.toFile());
    return new Child(pb.start(), log);
  }

  private static final class Child {
    final Process process;
    final Path log;
    int exit;
    List<String> lines;

    Child(Process process, Path log) {
      this.process = process;
      this.log = log;
    }

    Child finish() throws Exception {
      assertThat(process.waitFor(300, TimeUnit.SECONDS)).as("child JVM finished").isTrue();
      exit = process.exitValue();
      lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return this;
    }

    void assertClean(Path cache) throws IOException {
      String all = String.join("\n", lines);
      assertThat(all).as("no decoy library was loaded").doesNotContain(MARKER);
      assertThat(exit).as("child exit code; output:\n%s", all).isZero();
      assertThat(lines).as("output:\n%s", all).contains("OK");
      String real = cache.toRealPath().toString() + "/";
      assertThat(mapped()).isNotEmpty();
      for (String m : mapped()) {
        assertThat(Path.of(m).toRealPath().toString()).as("mapped library %s comes from the cache", m).startsWith(real);
      }
    }

    List<String> mapped() {
      return lines.stream().filter(l -> l.startsWith("MAPPED ")).map(l -> l.substring(7)).toList();
    }

    String imageLine() {
      return lines.stream().filter(l -> l.startsWith("IMAGE ")).findFirst().orElseThrow();
    }
  }
}
