package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.Clip4jException;
import dev.clip4j.CpuKernels;
import dev.clip4j.Engine;
import dev.clip4j.EngineReport;
import dev.clip4j.ErrorCode;
import dev.clip4j.head.Activation;
import dev.clip4j.internal.CpuFeatures;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every family of clip4j's packed CPU kernels this CPU has (fp32 on AVX2 and AVX-512, bf16 on
 * AVX512_BF16), through the public API: the family is recorded in {@code info()}, fp32 matches
 * open_clip within 1e-5 (the conformance fixtures), bf16 is measured against them, and every
 * sample is bitwise independent of its batch, position, thread count and concurrent callers.
 * Which families should run is read from /proc/cpuinfo (CpuFeatures), independently of the
 * native cpuid code; a family this CPU lacks must be refused with UNSUPPORTED naming the missing
 * flag (asserted, not skipped).
 */
class CpuKernelFamiliesTest {
  private static Tensor pixels;
  private static Tensor ids;

  /** A family and precision as a test case. */
  enum Case {
    AVX2_FP32(CpuKernels.AVX2, Precision.FP32, "avx2"),
    AVX512_FP32(CpuKernels.AVX512, Precision.FP32, "avx512"),
    AVX512_BF16(CpuKernels.AVX512, Precision.BF16, "avx512_bf16");

    final CpuKernels kernels;
    final Precision precision;
    final String name;

    Case(CpuKernels kernels, Precision precision, String name) {
      this.kernels = kernels;
      this.precision = precision;
      this.name = name;
    }

    /** The /proc/cpuinfo flag this case needs that the CPU lacks, or null when it should run. */
    String missingFlag() {
      for (String f : new String[] {"avx2", "fma"}) {
        if (!CpuFeatures.has(f)) {
          return f;
        }
      }
      if (kernels == CpuKernels.AVX512) {
        for (String f : new String[] {"avx512f", "avx512dq", "avx512bw", "avx512vl"}) {
          if (!CpuFeatures.has(f)) {
            return f;
          }
        }
      }
      if (precision == Precision.BF16 && !CpuFeatures.has("avx512_bf16")) {
        return "avx512_bf16";
      }
      return null;
    }

    LoadOptions options() {
      return LoadOptions.builder().precision(precision).cpuKernels(kernels).build();
    }
  }

  @BeforeAll
  static void init() throws Exception {
    Engine.ensureInitialized();
    pixels = ModelFixtures.pixels();
    ids = ModelFixtures.tokenIds();
  }

  private static Path dir(Path tmp, String model) throws Exception {
    return OpenClipModelTest.dirWith(tmp, model, "open_clip_model.safetensors", "open_clip_model.safetensors");
  }

  @ParameterizedTest
  @CsvSource({
    "AVX2_FP32, tiny-gelu", "AVX2_FP32, tiny-quickgelu", "AVX512_FP32, tiny-gelu", "AVX512_FP32, tiny-quickgelu",
    "AVX512_BF16, tiny-gelu", "AVX512_BF16, tiny-quickgelu"
  })
  void eachFamilyMatchesOpenClipOrIsRefusedByName(Case c, String model, @TempDir Path tmp) throws Exception {
    Path d = dir(tmp, model);
    String missing = c.missingFlag();
    if (missing != null) {
      assertThatThrownBy(() -> ClipModel.load(d, c.options()))
          .isInstanceOfSatisfying(Clip4jException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.UNSUPPORTED))
          .hasMessageContaining(missing);
      System.out.printf("%s: refused on this CPU (no %s), as it must be%n", c.name, missing);
      return;
    }
    float[] expImg = ModelFixtures.expected(model, "expected_image_embeddings.npy");
    float[] expTxt = ModelFixtures.expected(model, "expected_text_embeddings.npy");
    try (ClipModel m = ClipModel.load(d, c.options())) {
      assertThat(m.info().cpuKernels()).isEqualTo(c.name);
      assertThat(m.info().toMap()).containsEntry("cpu_kernels", c.name);
      assertThat(m.info().precision()).isEqualTo(c.precision);
      float[] img = toFloats(m.embedImages(pixels));
      float[] txt = toFloats(m.embedTexts(ids));
      double di = maxAbsDiff(img, expImg);
      double dt = maxAbsDiff(txt, expTxt);
      int dim = (int) m.embedDim();
      double minCos = Math.min(Arrays.stream(ThroughputModesTest.cosines(img, expImg, dim)).min().orElseThrow(),
          Arrays.stream(ThroughputModesTest.cosines(txt, expTxt, dim)).min().orElseThrow());
      System.out.printf("%s %s vs open_clip: max abs error of unit embeddings image %.3g text %.3g, min cosine %.6f%n",
          c.name, model, di, dt, minCos);
      if (c.precision == Precision.FP32) {
        assertThat(di).isLessThanOrEqualTo(1e-5);
        assertThat(dt).isLessThanOrEqualTo(1e-5);
      } else {
        // bf16 inputs to every GEMM: far from 1e-5, well within what bf16 promises.
        assertThat(minCos).isGreaterThanOrEqualTo(0.999);
        assertThat(Math.max(di, dt)).isLessThanOrEqualTo(2e-2).isGreaterThan(1e-5);
      }
    }
  }

  @ParameterizedTest
  @CsvSource({"AVX2_FP32", "AVX512_FP32", "AVX512_BF16"})
  void everySampleIsBitwiseIndependentOfBatchPositionThreadsAndCallers(Case c) throws Exception {
    if (c.missingFlag() != null) {
      assertThatThrownBy(() -> towers(c)).isInstanceOfSatisfying(Clip4jException.class,
          e -> assertThat(e.code()).isEqualTo(ErrorCode.UNSUPPORTED)).hasMessageContaining(c.missingFlag());
      return;
    }
    float[] img;
    float[] txt;
    int wImg;
    int wTxt;
    try (ClipTowers t = towers(c)) {
      assertThat(t.cpuKernels()).isEqualTo(c.name);
      wImg = (int) t.config().vision().width();
      wTxt = (int) t.config().text().width();
      img = toFloats(t.encodeImageFeatures(pixels));
      txt = toFloats(t.encodeTextFeatures(ids));
      int[][] cuts = {{0, 1}, {3, 1}, {11, 1}, {0, 5}, {4, 7}, {1, 11}, {2, 3}};
      for (int[] cut : cuts) {
        assertThat(toFloats(t.encodeImageFeatures(pixels.narrow(0, cut[0], cut[1]))))
            .as("%s images [%d, %d)", c.name, cut[0], cut[0] + cut[1])
            .isEqualTo(Arrays.copyOfRange(img, cut[0] * wImg, (cut[0] + cut[1]) * wImg));
      }
      try (Tensor three = pixels.narrow(0, 5, 1).repeat(3, 1, 1, 1)) {
        float[] rep = toFloats(t.encodeImageFeatures(three));
        for (int r = 0; r < 3; r++) {
          assertThat(Arrays.copyOfRange(rep, r * wImg, (r + 1) * wImg))
              .isEqualTo(Arrays.copyOfRange(img, 5 * wImg, 6 * wImg));
        }
      }
      for (int i = 0; i < ids.size(0); i++) {
        assertThat(toFloats(t.encodeTextFeatures(ids.narrow(0, i, 1)))).as("%s text %d", c.name, i)
            .isEqualTo(Arrays.copyOfRange(txt, i * wTxt, (i + 1) * wTxt));
      }
      // Concurrent callers on the same towers.
      ExecutorService ex = Executors.newFixedThreadPool(6);
      try {
        List<Future<Boolean>> fs = new ArrayList<>();
        for (int k = 0; k < 18; k++) {
          final boolean image = k % 2 == 0;
          fs.add(ex.submit(() -> {
            try (Engine.InferenceScope s = Engine.inference()) {
              return image ? Arrays.equals(toFloats(t.encodeImageFeatures(pixels)), img)
                  : Arrays.equals(toFloats(t.encodeTextFeatures(ids)), txt);
            }
          }));
        }
        for (Future<Boolean> f : fs) {
          assertThat(f.get()).as("%s concurrent caller", c.name).isTrue();
        }
      } finally {
        ex.shutdownNow();
      }
    }
    // Other thread counts of the kernels' pool (it takes the engine's BLAS threads when built).
    EngineReport before = Engine.report();
    try {
      for (int threads : new int[] {1, 3}) {
        Engine.setThreadLayout(before.intraOpThreads(), threads);
        try (ClipTowers t = towers(c)) {
          assertThat(toFloats(t.encodeImageFeatures(pixels))).as("%s with %d threads", c.name, threads).isEqualTo(img);
          assertThat(toFloats(t.encodeTextFeatures(ids))).as("%s text with %d threads", c.name, threads).isEqualTo(txt);
        }
      }
    } finally {
      Engine.setThreadLayout(before.intraOpThreads(), before.blasThreads());
    }
  }

  @Test
  void forcingAvx2GivesTheAvx2FamilyAndItsBits(@TempDir Path tmp) throws Exception {
    Path d = dir(tmp, "tiny-quickgelu");
    float[] avx2Img;
    float[] avx2Txt;
    try (ClipModel m = ClipModel.load(d, LoadOptions.builder().cpuKernels(CpuKernels.AVX2).build())) {
      assertThat(m.info().cpuKernels()).isEqualTo("avx2");
      avx2Img = toFloats(m.embedImages(pixels));
      avx2Txt = toFloats(m.embedTexts(ids));
    }
    // The system property does the same for loads that do not choose.
    String before = System.setProperty(CpuKernels.PROPERTY, "avx2");
    try (ClipModel m = ClipModel.load(d)) {
      assertThat(m.info().cpuKernels()).isEqualTo("avx2");
      assertThat(toFloats(m.embedImages(pixels))).isEqualTo(avx2Img);
      assertThat(Engine.report().cpuKernels()).isEqualTo("avx2 (clip4j.cpuKernels=avx2)");
    } finally {
      restore(CpuKernels.PROPERTY, before);
    }
    // The default picks AVX-512 where the CPU has it; in this version its fp32 bits are AVX2's.
    try (ClipModel m = ClipModel.load(d)) {
      boolean avx512 = Case.AVX512_FP32.missingFlag() == null;
      assertThat(m.info().cpuKernels()).isEqualTo(avx512 ? "avx512" : "avx2");
      assertThat(Engine.report().cpuKernels()).isEqualTo(avx512 ? "avx512" : "avx2");
      assertThat(toFloats(m.embedImages(pixels))).isEqualTo(avx2Img);
      assertThat(toFloats(m.embedTexts(ids))).isEqualTo(avx2Txt);
    }
    // An explicit option wins over the property.
    before = System.setProperty(CpuKernels.PROPERTY, "avx512");
    try (ClipModel m = ClipModel.load(d, LoadOptions.builder().cpuKernels(CpuKernels.AVX2).build())) {
      assertThat(m.info().cpuKernels()).isEqualTo("avx2");
    } finally {
      restore(CpuKernels.PROPERTY, before);
    }
  }

  @Test
  void bf16OnTheAvx2FamilyAndUnknownFamiliesAreRefused(@TempDir Path tmp) throws Exception {
    Path d = dir(tmp, "tiny-gelu");
    assertThatThrownBy(() -> ClipModel.load(d, LoadOptions.builder().precision(Precision.BF16)
        .cpuKernels(CpuKernels.AVX2).build()))
        .isInstanceOfSatisfying(Clip4jException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.UNSUPPORTED))
        .hasMessageContaining("AVX2 family runs fp32 only").hasMessageContaining("clip4j.cpuKernels=avx2");
    assertThatThrownBy(() -> CpuKernels.parse("sse4")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("auto, avx2 or avx512");
    // The engine report names what bf16 would run on, or why it cannot.
    String bf16 = Engine.report().cpuKernelsBf16();
    if (Case.AVX512_BF16.missingFlag() == null) {
      assertThat(bf16).isEqualTo("avx512_bf16");
    } else {
      assertThat(bf16).startsWith("unsupported: ").contains(Case.AVX512_BF16.missingFlag());
    }
  }

  private static ClipTowers towers(Case c) {
    return ClipTowers.build(ModelFixtures.config("tiny-quickgelu"), Activation.QUICK_GELU,
        ModelFixtures.stateDict("tiny-quickgelu"), new Device("cpu"), c.precision, ClipTowers.Gemm.PACKED, c.kernels);
  }

  private static void restore(String key, String value) {
    if (value == null) {
      System.clearProperty(key);
    } else {
      System.setProperty(key, value);
    }
  }
}
