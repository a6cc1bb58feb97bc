package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.head.Activation;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * open_clip's half-precision modes, checked on the CPU with the tiny fixtures (CUDA runs the same
 * TorchScript graphs; ClipModelGpuTest runs them there): fp16/bf16 (half weights and activations,
 * LayerNorm weights and math float32) and pure_fp16/pure_bf16 (LayerNorm in half too). Every mode
 * stays within cosine 0.999 of open_clip's fp32 embeddings; the modes really differ from fp32 and
 * from each other. On a CPU these run only with the test-only switches (slow emulation).
 */
class PrecisionModesTest {
  private static final Map<String, String> SAVED = new HashMap<>();

  @BeforeAll
  static void allowHalfOnTheCpu() {
    for (String p : new String[] {ClipTowers.ALLOW_CPU_FP16, ClipTowers.ALLOW_EMULATED_BF16}) {
      SAVED.put(p, System.getProperty(p));
      System.setProperty(p, "true");
    }
  }

  @AfterAll
  static void restore() {
    SAVED.forEach((k, v) -> {
      if (v == null) {
        System.clearProperty(k);
      } else {
        System.setProperty(k, v);
      }
    });
  }

  private static Path dir(Path tmp, String model) throws Exception {
    return OpenClipModelTest.dirWith(tmp, model, "open_clip_model.safetensors", "open_clip_model.safetensors");
  }

  @ParameterizedTest
  @CsvSource({
    "tiny-gelu, FP16", "tiny-gelu, BF16", "tiny-gelu, PURE_FP16", "tiny-gelu, PURE_BF16",
    "tiny-quickgelu, FP16", "tiny-quickgelu, PURE_BF16"
  })
  void everyModeStaysWithinCosine0999OfOpenClipFp32(String model, String mode, @TempDir Path tmp) throws Exception {
    Precision precision = Precision.valueOf(mode);
    Path d = dir(tmp, model);
    float[] refImg = ModelFixtures.expected(model, "expected_image_embeddings.npy");
    float[] refTxt = ModelFixtures.expected(model, "expected_text_embeddings.npy");
    try (ClipModel low = ClipModel.load(d, LoadOptions.builder().precision(precision).build())) {
      assertThat(low.info().precision()).isEqualTo(precision);
      assertThat(low.info().toMap().get("precision")).isEqualTo(precision.id());
      assertThat(low.info().toMap().get("precision_detail")).asString().startsWith(precision.id())
          .contains(precision.pure() ? "LayerNorm too" : "LayerNorm weights and LayerNorm math float32");
      float[] img = toFloats(low.embedImages(ModelFixtures.pixels()));
      float[] txt = toFloats(low.embedTexts(ModelFixtures.tokenIds()));
      double minImg = min(ThroughputModesTest.cosines(img, refImg, 64));
      double minTxt = min(ThroughputModesTest.cosines(txt, refTxt, 64));
      System.out.printf("%s %s vs open_clip fp32: min cosine image %.6f text %.6f, max abs %.2e / %.2e%n", model,
          precision.id(), minImg, minTxt, maxAbsDiff(img, refImg), maxAbsDiff(txt, refTxt));
      assertThat(minImg).isGreaterThanOrEqualTo(0.999);
      assertThat(minTxt).isGreaterThanOrEqualTo(0.999);
      assertThat(maxAbsDiff(img, refImg)).as("a half-precision mode changes the numbers").isGreaterThan(1e-5);
    }
  }

  @Test
  void mixedAndPureModesDifferOnlyInLayerNorm(@TempDir Path tmp) throws Exception {
    Path d = dir(tmp, "tiny-gelu");
    try (ClipModel mixed = ClipModel.load(d, LoadOptions.builder().precision(Precision.BF16).build());
        ClipModel pure = ClipModel.load(d, LoadOptions.builder().precision(Precision.PURE_BF16).build())) {
      float[] a = toFloats(mixed.embedImages(ModelFixtures.pixels()));
      float[] b = toFloats(pure.embedImages(ModelFixtures.pixels()));
      assertThat(maxAbsDiff(a, b)).isGreaterThan(0);
      assertThat(min(ThroughputModesTest.cosines(a, b, 64))).isGreaterThanOrEqualTo(0.999);
    }
  }

  /** Where each weight lives, per mode: the projection is rounded to half in every reduced mode. */
  @Test
  void projectionsAreRoundedToTheModesPrecision() throws Exception {
    ModelConfig cfg = ModelFixtures.config("tiny-gelu");
    Map<String, Tensor> sd = ModelFixtures.stateDict("tiny-gelu");
    Device cpu = new Device("cpu");
    float[] fp32 = toFloats(sd.get("visual.proj"));
    for (Precision p : Precision.values()) {
      try (ClipTowers t = ClipTowers.build(cfg, Activation.GELU, sd, cpu, p, true);
          Tensor proj = t.projection(ClipTowers.Tower.VISUAL)) {
        assertThat(proj.scalar_type().intern()).as("the CPU head is fp32").isEqualTo(ScalarType.Float);
        float[] got = toFloats(proj);
        if (p == Precision.FP32) {
          assertThat(got).containsExactly(fp32);
        } else {
          float[] rounded = toFloats(sd.get("visual.proj").to(p.scalarType()));
          assertThat(got).as(p.id()).containsExactly(rounded);
        }
      }
    }
  }

  /**
   * SAMPLE_BY_SAMPLE (CUDA's batch-invariant mode) runs each sample alone: on the CPU its rows are
   * bitwise those of a batch of one of the folded towers, wherever the sample sits in the batch.
   */
  @Test
  void sampleBySampleRowsAreBitwiseTheRowsOfABatchOfOne() throws Exception {
    ModelConfig cfg = ModelFixtures.config("tiny-gelu");
    Map<String, Tensor> sd = ModelFixtures.stateDict("tiny-gelu");
    Device cpu = new Device("cpu");
    Tensor pixels = ModelFixtures.pixels();
    Tensor ids = ModelFixtures.tokenIds();
    try (ClipTowers each = ClipTowers.build(cfg, Activation.GELU, sd, cpu, Precision.FP32, ClipTowers.Gemm.SAMPLE_BY_SAMPLE);
        ClipTowers folded = ClipTowers.build(cfg, Activation.GELU, sd, cpu, Precision.FP32, ClipTowers.Gemm.FOLDED)) {
      assertThat(each.batchInvariant()).isTrue();
      assertThat(each.invariance()).contains("each sample runs alone");
      assertThat(folded.batchInvariant()).isFalse();
      float[] all = toFloats(each.encodeImageFeatures(pixels));
      float[] txt = toFloats(each.encodeTextFeatures(ids));
      int w = cfg.vision().width();
      int tw = cfg.text().width();
      for (int i : new int[] {0, 5, (int) pixels.size(0) - 1}) {
        float[] alone = toFloats(folded.encodeImageFeatures(pixels.narrow(0, i, 1)));
        assertThat(Arrays.copyOfRange(all, i * w, (i + 1) * w)).as("image %d", i).containsExactly(alone);
        float[] aloneT = toFloats(folded.encodeTextFeatures(ids.narrow(0, i, 1)));
        assertThat(Arrays.copyOfRange(txt, i * tw, (i + 1) * tw)).as("text %d", i).containsExactly(aloneT);
      }
    }
  }

  @Test
  void theCudaDefaultIsSampleBySampleAndPerSampleIsNotClaimedInvariantThere() {
    Device cuda = new Device("cuda:0"); // a Device value only: nothing runs on it
    assertThat(ClipTowers.invariantGemm(cuda, Precision.FP32)).isEqualTo(ClipTowers.Gemm.SAMPLE_BY_SAMPLE);
    assertThat(ClipTowers.invariantGemm(cuda, Precision.FP16)).isEqualTo(ClipTowers.Gemm.SAMPLE_BY_SAMPLE);
  }

  private static double min(double[] v) {
    return Arrays.stream(v).min().orElseThrow();
  }
}
