package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Engine;
import dev.clip4j.head.Activation;
import dev.clip4j.internal.GemmPool;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The default batch-invariant CPU towers (clip4j's packed kernels): chosen where they run, the
 * same features as the LibTorch towers up to rounding (LayerScale included), and every sample's
 * features bitwise the same whatever batch, position, sequence-length bucket or concurrent caller.
 * The reference values themselves are checked by ClipTowersTest and OpenClipModelTest.
 */
class PackedTowersTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static Tensor pixels;
  private static Tensor ids;

  @BeforeAll
  static void init() throws Exception {
    Engine.ensureInitialized();
    assumeTrue(GemmPool.supported(), "this CPU has no AVX2/FMA: the packed kernels do not run here");
    pixels = ModelFixtures.pixels();
    ids = ModelFixtures.tokenIds();
  }


  @Test
  void packedIsTheDefaultForCpuFp32AndCanBeSwitchedOff() throws Exception {
    Device cpu = new Device("cpu");
    assertThat(ClipTowers.invariantGemm(cpu, Precision.FP32)).isEqualTo(ClipTowers.Gemm.PACKED);
    // bf16 runs the packed kernels too (or is refused there, naming the missing AVX512_BF16).
    assertThat(ClipTowers.invariantGemm(cpu, Precision.BF16)).isEqualTo(ClipTowers.Gemm.PACKED);
    assertThat(ClipTowers.invariantGemm(cpu, Precision.FP16)).isEqualTo(ClipTowers.Gemm.PER_SAMPLE);
    System.setProperty(ClipTowers.PACKED_GEMM_PROPERTY, "false");
    try {
      assertThat(ClipTowers.invariantGemm(cpu, Precision.FP32)).isEqualTo(ClipTowers.Gemm.PER_SAMPLE);
      try (ClipTowers t = ClipTowers.build(ModelFixtures.config("tiny-gelu"), Activation.GELU, ModelFixtures.stateDict("tiny-gelu"))) {
        assertThat(t.gemm()).isEqualTo(ClipTowers.Gemm.PER_SAMPLE);
      }
    } finally {
      System.clearProperty(ClipTowers.PACKED_GEMM_PROPERTY);
    }
    try (ClipTowers t = ClipTowers.build(ModelFixtures.config("tiny-gelu"), Activation.GELU, ModelFixtures.stateDict("tiny-gelu"))) {
      assertThat(t.gemm()).isEqualTo(ClipTowers.Gemm.PACKED);
      assertThat(t.batchInvariant()).isTrue();
      assertThatThrownBy(() -> t.saveTower(ClipTowers.Tower.VISUAL, Files.createTempFile("tower", ".pt")))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("PER_SAMPLE");
    }
  }

  @ParameterizedTest
  @CsvSource({"tiny-gelu, GELU", "tiny-quickgelu, QUICK_GELU"})
  void everySampleIsBitwiseIndependentOfItsBatch(String model, Activation act) throws Exception {
    try (ClipTowers t = ClipTowers.build(ModelFixtures.config(model), act, ModelFixtures.stateDict(model))) {
      int nImg = (int) pixels.size(0);
      int wImg = (int) t.config().vision().width();
      float[] all = toFloats(t.encodeImageFeatures(pixels));
      // Contiguous sub-batches of several sizes at several offsets, and a repeated-sample batch.
      int[][] cuts = {{0, 1}, {3, 1}, {11, 1}, {0, 5}, {4, 7}, {1, 11}, {2, 3}};
      for (int[] c : cuts) {
        float[] part = toFloats(t.encodeImageFeatures(pixels.narrow(0, c[0], c[1])));
        assertThat(part).as("images [%d, %d)", c[0], c[0] + c[1])
            .isEqualTo(Arrays.copyOfRange(all, c[0] * wImg, (c[0] + c[1]) * wImg));
      }
      try (Tensor three = pixels.narrow(0, 5, 1).repeat(3, 1, 1, 1)) {
        float[] rep = toFloats(t.encodeImageFeatures(three));
        for (int r = 0; r < 3; r++) {
          assertThat(Arrays.copyOfRange(rep, r * wImg, (r + 1) * wImg))
              .isEqualTo(Arrays.copyOfRange(all, 5 * wImg, 6 * wImg));
        }
      }
      assertThat(nImg).isGreaterThan(11);

      int wTxt = (int) t.config().text().width();
      float[] txt = toFloats(t.encodeTextFeatures(ids));
      for (int i = 0; i < ids.size(0); i++) {
        float[] one = toFloats(t.encodeTextFeatures(ids.narrow(0, i, 1)));
        assertThat(one).as("text %d", i).isEqualTo(Arrays.copyOfRange(txt, i * wTxt, (i + 1) * wTxt));
      }
    }
  }

  @Test
  void concurrentCallersGetTheSingleThreadedBits() throws Exception {
    try (ClipTowers t = ClipTowers.build(ModelFixtures.config("tiny-quickgelu"), Activation.QUICK_GELU,
        ModelFixtures.stateDict("tiny-quickgelu"))) {
      float[] img = toFloats(t.encodeImageFeatures(pixels));
      float[] txt = toFloats(t.encodeTextFeatures(ids));
      ExecutorService ex = Executors.newFixedThreadPool(6);
      try {
        List<Future<Boolean>> fs = new ArrayList<>();
        for (int c = 0; c < 24; c++) {
          final boolean image = c % 2 == 0;
          fs.add(ex.submit(() -> {
            try (Engine.InferenceScope s = Engine.inference()) {
              return image ? Arrays.equals(toFloats(t.encodeImageFeatures(pixels)), img)
                  : Arrays.equals(toFloats(t.encodeTextFeatures(ids)), txt);
            }
          }));
        }
        for (Future<Boolean> f : fs) {
          assertThat(f.get()).isTrue();
        }
      } finally {
        ex.shutdownNow();
      }
    }
  }

  @Test
  void matchesTheLibTorchTowersWithLayerScaleAndWithoutLnPre() throws Exception {
    ObjectNode root = (ObjectNode) JSON.readTree(
        Files.readString(ModelFixtures.model("tiny-gelu").resolve("open_clip_config.json")));
    ObjectNode v = (ObjectNode) root.get("model_cfg").get("vision_cfg");
    v.put("ls_init_value", 0.5).put("no_ln_pre", true);
    ((ObjectNode) root.get("model_cfg").get("text_cfg")).put("ls_init_value", 0.5);
    ModelConfig cfg = ModelConfig.parse(root.toString(), "ls.json");
    Map<String, Tensor> sd = new LinkedHashMap<>(ModelFixtures.stateDict("tiny-gelu"));
    sd.remove("visual.ln_pre.weight");
    sd.remove("visual.ln_pre.bias");
    torch.manual_seed(7);
    for (int i = 0; i < 2; i++) {
      for (String g : new String[] {"ls_1", "ls_2"}) {
        sd.put("visual.transformer.resblocks." + i + "." + g + ".gamma", torch.rand(64).add_(new org.bytedeco.pytorch.Scalar(0.5)));
        sd.put("transformer.resblocks." + i + "." + g + ".gamma", torch.rand(32).add_(new org.bytedeco.pytorch.Scalar(0.5)));
      }
    }
    Device cpu = new Device("cpu");
    try (ClipTowers packed = ClipTowers.build(cfg, Activation.GELU, sd, cpu, Precision.FP32, ClipTowers.Gemm.PACKED);
        ClipTowers lib = ClipTowers.build(cfg, Activation.GELU, sd, cpu, Precision.FP32, ClipTowers.Gemm.PER_SAMPLE)) {
      double di = maxAbsDiff(toFloats(packed.encodeImageFeatures(pixels)), toFloats(lib.encodeImageFeatures(pixels)));
      double dt = maxAbsDiff(toFloats(packed.encodeTextFeatures(ids)), toFloats(lib.encodeTextFeatures(ids)));
      System.out.printf("packed vs LibTorch towers with LayerScale 0.5..1.5: image %.3g, text %.3g%n", di, dt);
      assertThat(di).isLessThanOrEqualTo(1e-5);
      assertThat(dt).isLessThanOrEqualTo(1e-5);
      // And LayerScale matters here (the check above is not vacuous).
      try (ClipTowers noLs = ClipTowers.build(ModelFixtures.config("tiny-gelu"), Activation.GELU, ModelFixtures.stateDict("tiny-gelu"))) {
        assertThat(maxAbsDiff(toFloats(noLs.encodeTextFeatures(ids)), toFloats(packed.encodeTextFeatures(ids))))
            .isGreaterThan(1e-3);
      }
    }
  }
}
