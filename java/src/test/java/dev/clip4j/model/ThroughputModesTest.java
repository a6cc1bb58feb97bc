package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.internal.CpuFeatures;
import java.nio.file.Path;
import java.util.Arrays;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The opt-in throughput options of open_clip checkpoints: folded GEMMs and bf16 towers. */
class ThroughputModesTest {

  private static Path dir(Path tmp, String model) throws Exception {
    return OpenClipModelTest.dirWith(tmp, model, "open_clip_model.safetensors", "open_clip_model.safetensors");
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gelu", "tiny-quickgelu"})
  void foldedGemmsMatchTheReferenceAndThePerSamplePath(String model, @TempDir Path tmp) throws Exception {
    Path d = dir(tmp, model);
    Tensor pixels = ModelFixtures.pixels();
    Tensor ids = ModelFixtures.tokenIds();
    float[] expImg = ModelFixtures.expected(model, "expected_image_embeddings.npy");
    float[] expTxt = ModelFixtures.expected(model, "expected_text_embeddings.npy");
    try (ClipModel exact = ClipModel.load(d);
        ClipModel folded = ClipModel.load(d, LoadOptions.builder().batchInvariant(false).build())) {
      float[] img = toFloats(folded.embedImages(pixels));
      float[] txt = toFloats(folded.embedTexts(ids));
      double refImg = maxAbsDiff(img, expImg);
      double refTxt = maxAbsDiff(txt, expTxt);
      double vsImg = maxAbsDiff(img, toFloats(exact.embedImages(pixels)));
      double vsTxt = maxAbsDiff(txt, toFloats(exact.embedTexts(ids)));
      System.out.printf("%s folded: vs open_clip image %.3g text %.3g; vs per-sample image %.3g text %.3g%n",
          model, refImg, refTxt, vsImg, vsTxt);
      assertThat(refImg).isLessThanOrEqualTo(1e-5);
      assertThat(refTxt).isLessThanOrEqualTo(1e-5);
      assertThat(vsImg).isLessThanOrEqualTo(1e-5);
      assertThat(vsTxt).isLessThanOrEqualTo(1e-5);
      // Batch composition moves only the last bits: each image alone is still within 1e-5 of the reference.
      int d0 = (int) folded.embedDim();
      for (int i = 0; i < pixels.size(0); i++) {
        float[] one = toFloats(folded.embedImages(pixels.narrow(0, i, 1)));
        assertThat(maxAbsDiff(one, Arrays.copyOfRange(expImg, i * d0, (i + 1) * d0))).as("image %d", i)
            .isLessThanOrEqualTo(1e-5);
      }
    }
  }

  @Test
  void theModeIsRecordedOnTheTowers() throws Exception {
    ModelConfig cfg = ModelFixtures.config("tiny-gelu");
    try (ClipTowers t = ClipTowers.build(cfg, dev.clip4j.head.Activation.GELU, ModelFixtures.stateDict("tiny-gelu"),
        new org.bytedeco.pytorch.Device("cpu"), Precision.FP32, false)) {
      assertThat(t.batchInvariant()).isFalse();
      assertThat(t.precision()).isEqualTo(Precision.FP32);
    }
    assertThat(LoadOptions.defaults().batchInvariant()).isTrue();
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gelu", "tiny-quickgelu"})
  void bf16TowersStayWithinCosine0999OfFp32(String model, @TempDir Path tmp) throws Exception {
    Path d = dir(tmp, model);
    LoadOptions bf16 = LoadOptions.builder().precision(Precision.BF16).build();
    if (!CpuFeatures.nativeBf16()) {
      assertThatThrownBy(() -> ClipModel.load(d, bf16))
          .isInstanceOfSatisfying(Clip4jException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.UNSUPPORTED))
          .hasMessageContaining("emulated")
          .hasMessageContaining(ClipTowers.ALLOW_EMULATED_BF16);
    }
    // The numbers are checked everywhere: emulated bf16 computes the same roundings, only slower.
    String before = System.getProperty(ClipTowers.ALLOW_EMULATED_BF16);
    System.setProperty(ClipTowers.ALLOW_EMULATED_BF16, "true");
    try (ClipModel low = ClipModel.load(d, bf16); ClipModel ref = ClipModel.load(d)) {
      assertThat(low.info().precision()).isEqualTo(Precision.BF16);
      Tensor pixels = ModelFixtures.pixels();
      Tensor ids = ModelFixtures.tokenIds();
      double[] img = cosines(toFloats(low.embedImages(pixels)), toFloats(ref.embedImages(pixels)), (int) ref.embedDim());
      double[] txt = cosines(toFloats(low.embedTexts(ids)), toFloats(ref.embedTexts(ids)), (int) ref.embedDim());
      double minImg = Arrays.stream(img).min().orElseThrow();
      double minTxt = Arrays.stream(txt).min().orElseThrow();
      System.out.printf("%s bf16 vs fp32: min cosine image %.6f, text %.6f%n", model, minImg, minTxt);
      assertThat(img).hasSize((int) pixels.size(0));
      assertThat(txt).hasSize((int) ids.size(0));
      assertThat(minImg).isGreaterThanOrEqualTo(0.999);
      assertThat(minTxt).isGreaterThanOrEqualTo(0.999);
      // bf16 is not fp32: the rows do differ (the option really changed the computation).
      assertThat(maxAbsDiff(toFloats(low.embedImages(pixels)), toFloats(ref.embedImages(pixels)))).isGreaterThan(1e-6);
    } finally {
      if (before == null) {
        System.clearProperty(ClipTowers.ALLOW_EMULATED_BF16);
      } else {
        System.setProperty(ClipTowers.ALLOW_EMULATED_BF16, before);
      }
    }
  }

  @Test
  void fp16OnTheCpuIsRefusedAsUnsupported(@TempDir Path tmp) throws Exception {
    Path d = dir(tmp, "tiny-gelu");
    for (Precision p : new Precision[] {Precision.FP16, Precision.PURE_FP16}) {
      assertThatThrownBy(() -> ClipModel.load(d, LoadOptions.builder().precision(p).build())).as(p.id())
          .isInstanceOfSatisfying(Clip4jException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.UNSUPPORTED))
          .hasMessageContaining(p.id() + " runs on CUDA devices");
    }
  }

  /** Row-wise cosine similarity of two [N, d] row-major matrices. */
  static double[] cosines(float[] a, float[] b, int d) {
    double[] out = new double[a.length / d];
    for (int r = 0; r < out.length; r++) {
      double dot = 0;
      double na = 0;
      double nb = 0;
      for (int j = r * d; j < (r + 1) * d; j++) {
        dot += (double) a[j] * b[j];
        na += (double) a[j] * a[j];
        nb += (double) b[j] * b[j];
      }
      out[r] = dot / Math.sqrt(na * nb);
    }
    return out;
  }
}
