package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.fromFloats;
import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Engine;
import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import dev.clip4j.head.EmbeddingHead;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ClipTowersTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static Tensor pixels;
  private static Tensor ids;

  @BeforeAll
  static void init() throws Exception {
    Engine.ensureInitialized();
    pixels = ModelFixtures.pixels();
    ids = ModelFixtures.tokenIds();
  }


  private static ClipTowers towers(String model, Activation act) {
    return ClipTowers.build(ModelFixtures.config(model), act, ModelFixtures.stateDict(model));
  }

  private static float[] project(Tensor features, Tensor proj) {
    try (Engine.InferenceScope s = Engine.inference()) {
      return toFloats(features.matmul(proj));
    }
  }

  @ParameterizedTest
  @CsvSource({"tiny-gelu, GELU", "tiny-quickgelu, QUICK_GELU"})
  void matchesOpenClip(String model, Activation act) throws Exception {
    try (ClipTowers t = towers(model, act)) {
      Tensor img = t.encodeImageFeatures(pixels);
      Tensor txt = t.encodeTextFeatures(ids);
      assertThat(img.sizes().vec().get()).containsExactly(12, 64);
      assertThat(txt.sizes().vec().get()).containsExactly(13, 32);
      // "unnormalized" in the fixtures = encode_*(normalize=False): after projection, before L2.
      double di = maxAbsDiff(project(img, t.projection(ClipTowers.Tower.VISUAL)),
          ModelFixtures.expected(model, "expected_image_features_unnormalized.npy"));
      double dt = maxAbsDiff(project(txt, t.projection(ClipTowers.Tower.TEXT)),
          ModelFixtures.expected(model, "expected_text_features_unnormalized.npy"));
      double ei;
      double et;
      try (EmbeddingHead hi = EmbeddingHead.builder(t.projection(ClipTowers.Tower.VISUAL)).build();
          EmbeddingHead ht = EmbeddingHead.builder(t.projection(ClipTowers.Tower.TEXT)).build()) {
        ei = maxAbsDiff(toFloats(hi.apply(img)), ModelFixtures.expected(model, "expected_image_embeddings.npy"));
        et = maxAbsDiff(toFloats(ht.apply(txt)), ModelFixtures.expected(model, "expected_text_embeddings.npy"));
      }
      System.out.printf("%s: max abs diff image features %.3g, text features %.3g, image embeddings %.3g,"
          + " text embeddings %.3g%n", model, di, dt, ei, et);
      assertThat(di).isLessThanOrEqualTo(1e-5);
      assertThat(dt).isLessThanOrEqualTo(1e-5);
      assertThat(ei).isLessThanOrEqualTo(1e-5);
      assertThat(et).isLessThanOrEqualTo(1e-5);
      assertThat(t.logitScale()).isCloseTo((float) Math.log(1 / 0.07), org.assertj.core.data.Offset.offset(1e-6f));
    }
  }

  @Test
  void theWrongActivationIsDetectablyDifferent() throws Exception {
    try (ClipTowers t = towers("tiny-gelu", Activation.QUICK_GELU)) {
      double di = maxAbsDiff(project(t.encodeImageFeatures(pixels), t.projection(ClipTowers.Tower.VISUAL)),
          ModelFixtures.expected("tiny-gelu", "expected_image_features_unnormalized.npy"));
      double dt = maxAbsDiff(project(t.encodeTextFeatures(ids), t.projection(ClipTowers.Tower.TEXT)),
          ModelFixtures.expected("tiny-gelu", "expected_text_features_unnormalized.npy"));
      System.out.printf("tiny-gelu weights with QuickGELU: image %.3g, text %.3g%n", di, dt);
      assertThat(di).isGreaterThan(1e-3);
      assertThat(dt).isGreaterThan(1e-3);
    }
  }

  @Test
  void freezingAndOptimizingKeepTheNumbers() {
    float[][] img = new float[3][];
    float[][] txt = new float[3][];
    ClipTowers.Optimization[] opts = ClipTowers.Optimization.values();
    for (int i = 0; i < opts.length; i++) {
      try (ClipTowers t = ClipTowers.build(ModelFixtures.config("tiny-gelu"), Activation.GELU,
          ModelFixtures.stateDict("tiny-gelu"), new Device("cpu"), opts[i], ClipTowers.DEFAULT_GEMM)) {
        img[i] = toFloats(t.encodeImageFeatures(pixels));
        txt[i] = toFloats(t.encodeTextFeatures(ids));
      }
    }
    for (int i = 1; i < opts.length; i++) {
      System.out.printf("%s vs NONE: image %.3g, text %.3g%n", opts[i], maxAbsDiff(img[0], img[i]),
          maxAbsDiff(txt[0], txt[i]));
      assertThat(maxAbsDiff(img[0], img[i])).isLessThanOrEqualTo(1e-6);
      assertThat(maxAbsDiff(txt[0], txt[i])).isLessThanOrEqualTo(1e-6);
    }
  }

  @Test
  void foldedGemmsAlsoMatchOpenClip() throws Exception {
    try (ClipTowers t = ClipTowers.build(ModelFixtures.config("tiny-gelu"), Activation.GELU, ModelFixtures.stateDict("tiny-gelu"),
        new Device("cpu"), ClipTowers.DEFAULT_OPTIMIZATION, ClipTowers.Gemm.FOLDED)) {
      assertThat(maxAbsDiff(project(t.encodeImageFeatures(pixels), t.projection(ClipTowers.Tower.VISUAL)),
          ModelFixtures.expected("tiny-gelu", "expected_image_features_unnormalized.npy"))).isLessThanOrEqualTo(1e-5);
      assertThat(maxAbsDiff(project(t.encodeTextFeatures(ids), t.projection(ClipTowers.Tower.TEXT)),
          ModelFixtures.expected("tiny-gelu", "expected_text_features_unnormalized.npy"))).isLessThanOrEqualTo(1e-5);
    }
  }

  @Test
  void repeatedForwardsAreBitwiseIdenticalAndBatchingDoesNotMatter() {
    try (ClipTowers t = towers("tiny-quickgelu", Activation.QUICK_GELU)) {
      float[] img = toFloats(t.encodeImageFeatures(pixels));
      float[] txt = toFloats(t.encodeTextFeatures(ids));
      for (int r = 0; r < 3; r++) {
        assertThat(Arrays.equals(toFloats(t.encodeImageFeatures(pixels)), img)).isTrue();
        assertThat(Arrays.equals(toFloats(t.encodeTextFeatures(ids)), txt)).isTrue();
      }
      double worstImg = 0;
      for (int i = 0; i < 12; i++) {
        float[] one = toFloats(t.encodeImageFeatures(pixels.narrow(0, i, 1)));
        worstImg = Math.max(worstImg, maxAbsDiff(one, Arrays.copyOfRange(img, i * 64, (i + 1) * 64)));
      }
      double worstTxt = 0;
      for (int i = 0; i < 13; i++) {
        float[] one = toFloats(t.encodeTextFeatures(ids.narrow(0, i, 1)));
        worstTxt = Math.max(worstTxt, maxAbsDiff(one, Arrays.copyOfRange(txt, i * 32, (i + 1) * 32)));
      }
      System.out.printf("batch of N vs N batches of 1: image %.3g, text %.3g%n", worstImg, worstTxt);
      // Per-sample GEMMs make this exact on the CPU; 1e-6 is the contract.
      assertThat(worstImg).isLessThanOrEqualTo(1e-6);
      assertThat(worstTxt).isLessThanOrEqualTo(1e-6);
    }
  }

  @Test
  void shorterSequencesEqualTheirZeroPaddedForm() {
    // Causal attention: positions before the end-of-text token never see the padding.
    try (ClipTowers t = towers("tiny-gelu", Activation.GELU)) {
      Tensor first = ids.narrow(0, 0, 2); // "a photo of a cat/dog": EOT at position 6
      float[] full = toFloats(t.encodeTextFeatures(first));
      float[] cut = toFloats(t.encodeTextFeatures(first.narrow(1, 0, 10).contiguous()));
      // Other sequence lengths are other GEMM shapes: equal up to rounding, not bit for bit.
      assertThat(maxAbsDiff(full, cut)).isLessThanOrEqualTo(1e-5);
    }
  }

  @Test
  void layerScaleNoLnPreAndGlobalAveragePool() throws Exception {
    ObjectNode root = (ObjectNode) JSON.readTree(
        Files.readString(ModelFixtures.model("tiny-gelu").resolve("open_clip_config.json")));
    ObjectNode v = (ObjectNode) root.get("model_cfg").get("vision_cfg");
    v.put("ls_init_value", 1e-5).put("no_ln_pre", true).put("global_average_pool", true);
    ((ObjectNode) root.get("model_cfg").get("text_cfg")).put("ls_init_value", 1e-5);
    ModelConfig cfg = ModelConfig.parse(root.toString(), "ls.json");
    Map<String, Tensor> sd = new LinkedHashMap<>(ModelFixtures.stateDict("tiny-gelu"));
    sd.remove("visual.ln_pre.weight");
    sd.remove("visual.ln_pre.bias");
    for (int i = 0; i < 2; i++) {
      for (String g : new String[] {"ls_1", "ls_2"}) {
        sd.put("visual.transformer.resblocks." + i + "." + g + ".gamma", torch.zeros(64));
        sd.put("transformer.resblocks." + i + "." + g + ".gamma", torch.zeros(32));
      }
    }
    // With gamma = 0 every block is the identity: what is left is computed here independently.
    try (ClipTowers t = ClipTowers.build(cfg, Activation.GELU, sd)) {
      Tensor black = torch.zeros(2, 3, 224, 224);
      float[] img = toFloats(t.encodeImageFeatures(black));
      // Zero pixels: patch tokens are 0, so the token mean (class token included, as in 2.20)
      // is (class_embedding + sum of positional rows) / 50; then ln_post.
      float[] cls = toFloats(sd.get("visual.class_embedding"));
      float[] pos = toFloats(sd.get("visual.positional_embedding"));
      double[] mean = new double[64];
      for (int j = 0; j < 64; j++) {
        double s = cls[j];
        for (int r = 0; r < 50; r++) {
          s += pos[r * 64 + j];
        }
        mean[j] = s / 50;
      }
      float[] want = layerNorm(mean, toFloats(sd.get("visual.ln_post.weight")), toFloats(sd.get("visual.ln_post.bias")));
      assertThat(maxAbsDiff(Arrays.copyOfRange(img, 0, 64), want)).isLessThanOrEqualTo(1e-5);
      assertThat(maxAbsDiff(Arrays.copyOfRange(img, 64, 128), want)).isLessThanOrEqualTo(1e-5);

      float[] txt = toFloats(t.encodeTextFeatures(ids));
      float[] tok = toFloats(sd.get("token_embedding.weight"));
      float[] tpos = toFloats(sd.get("positional_embedding"));
      long[] rows = new long[13 * 77];
      ids.contiguous().data_ptr_long().get(rows);
      for (int n = 0; n < 13; n++) {
        int eot = 0;
        for (int j = 1; j < 77; j++) {
          if (rows[n * 77 + j] > rows[n * 77 + eot]) {
            eot = j;
          }
        }
        double[] x = new double[32];
        for (int j = 0; j < 32; j++) {
          x[j] = tok[(int) rows[n * 77 + eot] * 32 + j] + tpos[eot * 32 + j];
        }
        float[] w = layerNorm(x, toFloats(sd.get("ln_final.weight")), toFloats(sd.get("ln_final.bias")));
        assertThat(maxAbsDiff(Arrays.copyOfRange(txt, n * 32, (n + 1) * 32), w)).as("text %d", n).isLessThanOrEqualTo(1e-5);
      }
    }
    // With gamma = 1 LayerScale changes nothing: the fixture's expected text features come back.
    ModelConfig textLs = ModelConfig.parse(
        root.toString().replace("\"no_ln_pre\":true", "\"no_ln_pre\":false")
            .replace("\"global_average_pool\":true", "\"global_average_pool\":false"), "ls1.json");
    Map<String, Tensor> ones = new LinkedHashMap<>(ModelFixtures.stateDict("tiny-gelu"));
    for (int i = 0; i < 2; i++) {
      for (String g : new String[] {"ls_1", "ls_2"}) {
        ones.put("visual.transformer.resblocks." + i + "." + g + ".gamma", torch.ones(64));
        ones.put("transformer.resblocks." + i + "." + g + ".gamma", torch.ones(32));
      }
    }
    try (ClipTowers t = ClipTowers.build(textLs, Activation.GELU, ones)) {
      assertThat(maxAbsDiff(project(t.encodeImageFeatures(pixels), t.projection(ClipTowers.Tower.VISUAL)),
          ModelFixtures.expected("tiny-gelu", "expected_image_features_unnormalized.npy"))).isLessThanOrEqualTo(1e-5);
      assertThat(maxAbsDiff(project(t.encodeTextFeatures(ids), t.projection(ClipTowers.Tower.TEXT)),
          ModelFixtures.expected("tiny-gelu", "expected_text_features_unnormalized.npy"))).isLessThanOrEqualTo(1e-5);
    }
  }

  /** LayerNorm in double precision (eps 1e-5, biased variance), independent of LibTorch. */
  private static float[] layerNorm(double[] x, float[] w, float[] b) {
    double mean = 0;
    for (double v : x) {
      mean += v;
    }
    mean /= x.length;
    double var = 0;
    for (double v : x) {
      var += (v - mean) * (v - mean);
    }
    var /= x.length;
    float[] out = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      out[i] = (float) ((x[i] - mean) / Math.sqrt(var + 1e-5) * w[i] + b[i]);
    }
    return out;
  }

  @Test
  void rejectsBadInputsBeforeNativeCode() {
    try (ClipTowers t = towers("tiny-gelu", Activation.GELU)) {
      long[] row = new long[77];
      row[0] = 49406;
      row[1] = 49408; // vocab size: one past the last id
      assertThatThrownBy(() -> t.encodeTextFeatures(ModelFixtures.longs(row, 1, 77)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("[0, 49408)");
      row[1] = -1;
      assertThatThrownBy(() -> t.encodeTextFeatures(ModelFixtures.longs(row, 1, 77)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("[-1, 49406]");
      assertThatThrownBy(() -> t.encodeTextFeatures(ModelFixtures.longs(new long[78], 1, 78)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("[1, 78]");
      assertThatThrownBy(() -> t.encodeTextFeatures(ModelFixtures.longs(new long[77], 77)))
          .isInstanceOf(InvalidInputException.class);
      assertThatThrownBy(() -> t.encodeTextFeatures(ids.to(ScalarType.Int)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("Int");
      assertThatThrownBy(() -> t.encodeTextFeatures(ids.narrow(0, 0, 0)))
          .isInstanceOf(InvalidInputException.class);
      assertThatThrownBy(() -> t.encodeTextFeatures(null)).isInstanceOf(InvalidInputException.class);

      assertThatThrownBy(() -> t.encodeImageFeatures(torch.zeros(1, 3, 223, 224)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("[1, 3, 223, 224]");
      assertThatThrownBy(() -> t.encodeImageFeatures(torch.zeros(3, 224, 224)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("[3, 224, 224]");
      assertThatThrownBy(() -> t.encodeImageFeatures(torch.zeros(1, 1, 224, 224)))
          .isInstanceOf(InvalidInputException.class);
      assertThatThrownBy(() -> t.encodeImageFeatures(torch.zeros(0, 3, 224, 224)))
          .isInstanceOf(InvalidInputException.class);
      assertThatThrownBy(() -> t.encodeImageFeatures(torch.zeros(1, 3, 224, 224).to(ScalarType.Double)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("Double");
      assertThatThrownBy(() -> t.encodeImageFeatures(new Tensor()))
          .isInstanceOf(InvalidInputException.class);
      // Still usable after rejected inputs.
      assertThat(t.encodeTextFeatures(ids.narrow(0, 0, 1)).size(1)).isEqualTo(32);
    }
  }

  @Test
  void ownsCopiesOfTheWeightsAndRefusesUseAfterClose() {
    Map<String, Tensor> sd = ModelFixtures.stateDict("tiny-gelu");
    ClipTowers t = ClipTowers.build(ModelFixtures.config("tiny-gelu"), Activation.GELU, sd);
    float[] before = toFloats(t.encodeTextFeatures(ids));
    float[] proj = toFloats(sd.get("text_projection"));
    try (Engine.InferenceScope s = Engine.inference()) {
      sd.values().forEach(w -> w.detach().zero_());
    }
    assertThat(Arrays.equals(toFloats(t.encodeTextFeatures(ids)), before)).isTrue();
    assertThat(toFloats(t.projection(ClipTowers.Tower.TEXT))).containsExactly(proj);
    Encoder text = t.textEncoder();
    assertThat(text.name()).isEqualTo("text");
    assertThat(Arrays.equals(toFloats(text.features(ids)), before)).isTrue();
    t.close();
    t.close();
    assertThatThrownBy(() -> t.encodeTextFeatures(ids)).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> t.projection(ClipTowers.Tower.VISUAL)).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void validatesTheStateDictFirst() {
    Map<String, Tensor> sd = new LinkedHashMap<>(ModelFixtures.stateDict("tiny-gelu"));
    sd.remove("positional_embedding");
    sd.remove("text_projection");
    sd.put("text_model.embeddings.position_ids", fromFloats(new float[77], 1, 77));
    assertThatThrownBy(() -> ClipTowers.build(ModelFixtures.config("tiny-gelu"), Activation.GELU, sd))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("positional_embedding")
        .hasMessageContaining("text_projection")
        .hasMessageContaining("text_model.embeddings.position_ids");
    assertThatThrownBy(() -> ClipTowers.build(ModelFixtures.config("tiny-gelu"), Activation.IDENTITY, ModelFixtures.stateDict("tiny-gelu")))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
