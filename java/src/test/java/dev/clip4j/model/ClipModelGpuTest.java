package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.Engine;
import dev.clip4j.internal.HostTensors;
import dev.clip4j.testing.Gpu;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.bytedeco.pytorch.global.torch_cuda;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * ClipModel on CUDA against the CPU and open_clip's references (the conformance models). Run with
 * {@code mvn -Pgpu verify -Dgroups=gpu} on a CUDA host; FAILS (never skips) without one. Not run yet:
 * this project has had no GPU.
 */
@Tag("gpu")
class ClipModelGpuTest {
  private String cuda;

  @BeforeEach
  void requireCuda() {
    cuda = Gpu.requireCuda();
  }

  private static Path dir(Path tmp, String model) throws Exception {
    return OpenClipModelTest.dirWith(tmp, model, "open_clip_model.safetensors", "open_clip_model.safetensors");
  }

  private LoadOptions on(String device) {
    return LoadOptions.builder().device(device).build();
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gelu", "tiny-quickgelu"})
  void cudaMatchesTheCpuAndOpenClipOverRepeatedCalls(String model, @TempDir Path tmp) throws Exception {
    Path d = dir(tmp, model);
    Tensor pixels = ModelFixtures.pixels();
    Tensor ids = ModelFixtures.tokenIds();
    try (ClipModel cpu = ClipModel.load(d); ClipModel gpu = ClipModel.load(d, on("cuda"))) {
      assertThat(gpu.info().device()).isEqualTo(cuda);
      assertThat(gpu.info().invariance()).contains("each sample runs alone");
      float[] cpuImg = toFloats(cpu.embedImages(pixels));
      float[] cpuTxt = toFloats(cpu.embedTexts(ids));
      float[] first = null;
      float[] firstTxt = null;
      for (int call = 0; call < 3; call++) { // the simple executor: no re-specialisation after call 1-2
        Tensor img = gpu.embedImages(pixels);
        Tensor txt = gpu.embedTexts(ids);
        assertThat(img.is_cuda()).isTrue();
        float[] gi = toFloats(img);
        float[] gt = toFloats(txt);
        assertThat(maxAbsDiff(gi, cpuImg)).as("call %d image vs cpu", call).isLessThanOrEqualTo(1e-4);
        assertThat(maxAbsDiff(gt, cpuTxt)).as("call %d text vs cpu", call).isLessThanOrEqualTo(1e-4);
        assertThat(maxAbsDiff(gi, ModelFixtures.expected(model, "expected_image_embeddings.npy"))).isLessThanOrEqualTo(1e-4);
        assertThat(maxAbsDiff(gt, ModelFixtures.expected(model, "expected_text_embeddings.npy"))).isLessThanOrEqualTo(1e-4);
        if (first == null) {
          first = gi;
          firstTxt = gt;
        } else {
          assertThat(gi).as("call %d image bits", call).containsExactly(first);
          assertThat(gt).as("call %d text bits", call).containsExactly(firstTxt);
        }
      }
      // Strings and files through the synchronous API (rows read through HostTensors).
      float[][] rows = gpu.embedTexts(List.of("a photo of a cat", "a photo of a dog"));
      float[][] cpuRows = cpu.embedTexts(List.of("a photo of a cat", "a photo of a dog"));
      assertThat(maxAbsDiff(rows[1], cpuRows[1])).isLessThanOrEqualTo(1e-4);
    }
  }

  /** SAMPLE_BY_SAMPLE + the per-row head: a row's bits do not depend on its batch on CUDA either. */
  @Test
  void batchOfOneAndBatchOfNGiveTheSameBits(@TempDir Path tmp) throws Exception {
    Path d = dir(tmp, "tiny-gelu");
    Tensor pixels = ModelFixtures.pixels();
    Tensor ids = ModelFixtures.tokenIds();
    try (ClipModel gpu = ClipModel.load(d, on(cuda))) {
      float[] all = toFloats(gpu.embedImages(pixels));
      float[] allTxt = toFloats(gpu.embedTexts(ids));
      for (int i = 0; i < pixels.size(0); i++) {
        assertThat(toFloats(gpu.embedImages(pixels.narrow(0, i, 1)))).as("image %d", i)
            .containsExactly(Arrays.copyOfRange(all, i * 64, (i + 1) * 64));
      }
      for (int i = 0; i < ids.size(0); i++) {
        assertThat(toFloats(gpu.embedTexts(ids.narrow(0, i, 1)))).as("text %d", i)
            .containsExactly(Arrays.copyOfRange(allTxt, i * 64, (i + 1) * 64));
      }
    }
  }

  @Test
  void throughputModeIsCloseButNotClaimedInvariant(@TempDir Path tmp) throws Exception {
    Path d = dir(tmp, "tiny-gelu");
    try (ClipModel fast = ClipModel.load(d, LoadOptions.builder().device(cuda).batchInvariant(false).build())) {
      assertThat(fast.info().invariance()).startsWith("NOT batch-invariant");
      assertThat(maxAbsDiff(toFloats(fast.embedImages(ModelFixtures.pixels())),
          ModelFixtures.expected("tiny-gelu", "expected_image_embeddings.npy"))).isLessThanOrEqualTo(1e-4);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gelu", "tiny-quickgelu"})
  void torchScriptProgramsRunOnCudaThroughCudaHeads(String model) throws Exception {
    Path file = ModelFixtures.model(model).resolve("torchscript_scripted.pt");
    try (ClipModel gpu = ClipModel.load(file, on(cuda))) {
      assertThat(gpu.info().device()).isEqualTo(cuda);
      float[] img = toFloats(gpu.embedImages(ModelFixtures.pixels()));
      float[] txt = toFloats(gpu.embedTexts(ModelFixtures.tokenIds()));
      assertThat(maxAbsDiff(img, ModelFixtures.expected(model, "expected_image_embeddings.npy"))).isLessThanOrEqualTo(1e-4);
      assertThat(maxAbsDiff(txt, ModelFixtures.expected(model, "expected_text_embeddings.npy"))).isLessThanOrEqualTo(1e-4);
      float[][] rows = gpu.embedTexts(List.of("a photo of a cat")); // a short text, padded to 77 for the program
      float[] want = ModelFixtures.expected(model, "expected_text_embeddings.npy");
      assertThat(maxAbsDiff(rows[0], Arrays.copyOfRange(want, 0, 64))).isLessThanOrEqualTo(1e-4);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"FP16", "BF16", "PURE_FP16", "PURE_BF16"})
  void halfPrecisionTowersStayWithinCosine0999(String mode, @TempDir Path tmp) throws Exception {
    Precision p = Precision.valueOf(mode);
    Path d = dir(tmp, "tiny-gelu");
    try (ClipModel low = ClipModel.load(d, LoadOptions.builder().device(cuda).precision(p).build())) {
      assertThat(low.info().precision()).isEqualTo(p);
      float[] img = toFloats(low.embedImages(ModelFixtures.pixels()));
      float[] txt = toFloats(low.embedTexts(ModelFixtures.tokenIds()));
      double minImg = Arrays.stream(ThroughputModesTest.cosines(img,
          ModelFixtures.expected("tiny-gelu", "expected_image_embeddings.npy"), 64)).min().orElseThrow();
      double minTxt = Arrays.stream(ThroughputModesTest.cosines(txt,
          ModelFixtures.expected("tiny-gelu", "expected_text_embeddings.npy"), 64)).min().orElseThrow();
      System.out.printf("cuda %s: min cosine image %.6f text %.6f%n", p.id(), minImg, minTxt);
      assertThat(minImg).isGreaterThanOrEqualTo(0.999);
      assertThat(minTxt).isGreaterThanOrEqualTo(0.999);
      // Outputs are float32 rows (the head accumulates in fp32), and the same bits on every call.
      Tensor again = low.embedImages(ModelFixtures.pixels());
      assertThat(again.scalar_type().intern()).isEqualTo(ScalarType.Float);
      assertThat(toFloats(again)).containsExactly(img);
    }
  }

  /**
   * The batch path's forward waits for nothing: with LibTorch's sync debug mode at "error", any
   * synchronising call in it (an item(), a blocking copy) throws. The embedder's one sync per batch
   * is the synchronize after its device-to-host copy, outside this.
   */
  @Test
  void theBatchForwardNeverSynchronisesWithTheHost(@TempDir Path tmp) throws Exception {
    Path d = dir(tmp, "tiny-gelu");
    try (ClipModel gpu = ClipModel.load(d, on(cuda));
        Tensor hostIds = ModelFixtures.tokenIds();
        Tensor pixels = ModelFixtures.pixels();
        Tensor devPixels = pixels.to(new org.bytedeco.pytorch.Device(cuda), ScalarType.Float);
        Tensor devIds = hostIds.to(new org.bytedeco.pytorch.Device(cuda), ScalarType.Long)) {
      gpu.embedImagesForBatch(devPixels).close(); // warm up: plans built, allocator primed
      gpu.embedTextsForBatch(devIds, null, hostIds).close();
      torch_cuda.warning_state().set_sync_debug_mode(torch_cuda.SyncDebugMode.L_ERROR);
      Tensor img;
      Tensor txt;
      try {
        img = gpu.embedImagesForBatch(devPixels);
        txt = gpu.embedTextsForBatch(devIds, null, hostIds);
      } finally {
        torch_cuda.warning_state().set_sync_debug_mode(torch_cuda.SyncDebugMode.L_DISABLED);
      }
      assertThat(maxAbsDiff(HostTensors.readFloats(img, "img"),
          ModelFixtures.expected("tiny-gelu", "expected_image_embeddings.npy"))).isLessThanOrEqualTo(1e-4);
      assertThat(maxAbsDiff(HostTensors.readFloats(txt, "txt"),
          ModelFixtures.expected("tiny-gelu", "expected_text_embeddings.npy"))).isLessThanOrEqualTo(1e-4);
    }
  }

  /** Strict mode (deterministic algorithms) on CUDA needs CUBLAS_WORKSPACE_CONFIG: set by the engine. */
  @Test
  void strictModeRunsOnCudaInItsOwnJvm(@TempDir Path tmp) throws Exception {
    Path d = dir(tmp, "tiny-gelu");
    List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx2g",
        "-Dclip4j.strict=true", "-Dclip4j.conformance.dir=" + dev.clip4j.testing.Conformance.dir(), "-cp", System.getProperty("java.class.path"), StrictMain.class.getName(), d.toString(),
        cuda);
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as(out).isZero();
    assertThat(out).contains("deterministic_algorithms=true").contains("cublas_workspace_config=:4096:8")
        .contains("max_abs_vs_reference_ok");
  }

  /** The child JVM of {@link #strictModeRunsOnCudaInItsOwnJvm}. */
  public static final class StrictMain {
    public static void main(String[] args) throws Exception {
      var r = Engine.ensureInitialized();
      System.out.println("deterministic_algorithms=" + r.deterministicAlgorithms());
      System.out.println("cublas_workspace_config=" + r.cublasWorkspaceConfig());
      try (ClipModel m = ClipModel.load(Path.of(args[0]), LoadOptions.builder().device(args[1]).build())) {
        float[] img = toFloats(m.embedImages(ModelFixtures.pixels()));
        float[] txt = toFloats(m.embedTexts(ModelFixtures.tokenIds()));
        double a = maxAbsDiff(img, ModelFixtures.expected("tiny-gelu", "expected_image_embeddings.npy"));
        double b = maxAbsDiff(txt, ModelFixtures.expected("tiny-gelu", "expected_text_embeddings.npy"));
        System.out.println(a <= 1e-4 && b <= 1e-4 ? "max_abs_vs_reference_ok" : "max_abs_vs_reference " + a + " " + b);
      }
    }
  }
}
