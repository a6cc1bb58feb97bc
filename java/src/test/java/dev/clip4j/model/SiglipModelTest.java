package dev.clip4j.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.io.Npy;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.StateDictTensors;
import dev.clip4j.tokenize.TextTokenizer;
import dev.clip4j.zeroshot.ZeroShotClassifier;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * SigLIP against open_clip 2.32 + timm 0.9.16 (tools/reference/siglip_reference.py and
 * siglip_tokenizer.py): two tiny seeded models, one as SigLIP (GELU erf text tower, integer MLP
 * ratios) and one as SigLIP2/SO400M (GELU tanh text tower, mlp_ratio 3.7362), from open_clip hub
 * directories, with a SentencePiece-unigram tokenizer.json.
 */
public class SiglipModelTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static Path fixture(String name) {
    try {
      return Path.of(SiglipModelTest.class.getResource("siglip/" + name).toURI());
    } catch (java.net.URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The tiny test trunk registered in timm by the generator (geometry in trunk.json). */
  static Map<String, SiglipConfig.Trunk> trunk(Path dir) throws IOException {
    JsonNode t = JSON.readTree(dir.resolve("trunk.json").toFile());
    String name = t.get("name").asText();
    return Map.of(name, new SiglipConfig.Trunk(name, t.get("patch_size").asInt(), t.get("width").asInt(),
        t.get("depth").asInt(), t.get("heads").asInt(), t.get("mlp_ratio").asDouble(), t.get("image_size").asInt()));
  }

  /** The tiny fixture model in {@code dir} (its test trunk registered), for tests in other packages. */
  public static ClipModel load(Path dir) throws IOException {
    ModelDescription d = new OpenClipHubReader().read(dir, LoadOptions.defaults(), trunk(dir));
    return Architectures.build(d, LoadOptions.defaults());
  }

  private static Tensor tensor(Npy.Array a) {
    if (a.dtype() == Npy.DType.INT64) {
      return ModelFixtures.longs(a.longs(), a.shape());
    }
    try (org.bytedeco.javacpp.FloatPointer p = new org.bytedeco.javacpp.FloatPointer(a.floats());
        Tensor view = torch.from_blob(p, a.shape())) {
      return view.clone();
    }
  }

  private static float maxAbsDiff(float[] a, float[] b) {
    assertThat(a).hasSameSizeAs(b);
    float m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b[i]));
    }
    return m;
  }

  private static float[] floats(Tensor t) {
    try (Tensor c = t.contiguous()) {
      float[] out = new float[(int) c.numel()];
      c.data_ptr_float().get(out);
      return out;
    }
  }

  /** A pair keeps the image model's scale and bias: a SigLIP image tower goes on scoring with sigmoid. */
  @Test
  void pairKeepsTheImageModelsLogitBias() throws IOException {
    Path dir = fixture("tiny-siglip");
    float bias = Npy.read(dir.resolve("logit_bias.npy")).floats()[0];
    try (ClipModel pair = ClipModel.pair(load(dir), load(dir))) {
      assertThat(pair.logitBias()).isEqualTo(bias);
      assertThat(pair.logitScale()).isEqualTo(Npy.read(dir.resolve("logit_scale.npy")).floats()[0]);
      assertThat(pair.sigmoidScoring()).isTrue();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-siglip", "tiny-siglip2"})
  void embeddingsMatchOpenClip(String name) throws IOException {
    String invariance = checkEmbeddings(name);
    if (dev.clip4j.internal.GemmPool.supported()) { // the match above was on the packed kernels, text blocks too
      assertThat(invariance).contains("image blocks and text blocks").contains("packed CPU kernels");
    } else {
      assertThat(invariance).contains("one GEMM per sample").doesNotContain("packed");
    }
  }

  /** The same on LibTorch GEMMs only (one per sample), as where the packed kernels do not run. */
  @ParameterizedTest
  @ValueSource(strings = {"tiny-siglip", "tiny-siglip2"})
  void embeddingsMatchOpenClipWithoutThePackedKernels(String name) throws IOException {
    String before = System.getProperty(ClipTowers.PACKED_GEMM_PROPERTY);
    System.setProperty(ClipTowers.PACKED_GEMM_PROPERTY, "false");
    try {
      String invariance = checkEmbeddings(name);
      assertThat(invariance).contains("one GEMM per sample").doesNotContain("packed");
    } finally {
      if (before == null) {
        System.clearProperty(ClipTowers.PACKED_GEMM_PROPERTY);
      } else {
        System.setProperty(ClipTowers.PACKED_GEMM_PROPERTY, before);
      }
    }
  }

  @Test
  void packedKernelsRunTheBlocksWhereTheyCan() throws IOException {
    try (ClipModel v1 = load(fixture("tiny-siglip")); ClipModel v2 = load(fixture("tiny-siglip2"))) {
      if (!dev.clip4j.internal.GemmPool.supported()) { // no AVX2/FMA: every block on LibTorch, and said so
        assertThat(v1.info().invariance()).contains("one GEMM per sample").doesNotContain("packed");
        return;
      }
      assertThat(v1.info().invariance()).contains("image blocks and text blocks on clip4j's packed CPU kernels");
      // SigLIP2's GELU-tanh text blocks run packed too (the native epilogue has the tanh form).
      assertThat(v2.info().invariance())
          .contains("image blocks and text blocks (GELU-tanh) on clip4j's packed CPU kernels")
          .doesNotContain("CPU BLAS");
    }
  }

  private static String checkEmbeddings(String name) throws IOException {
    Path dir = fixture(name);
    try (ClipModel model = load(dir)) {
      Npy.Array px = Npy.read(dir.resolve("pixels.npy"));
      Npy.Array ids = Npy.read(dir.resolve("ids.npy"));
      try (Tensor p = tensor(px); Tensor img = model.embedImages(p); Tensor i = tensor(ids);
          Tensor txt = model.embedTexts(i)) {
        float image = maxAbsDiff(floats(img), Npy.read(dir.resolve("image.npy")).floats());
        float text = maxAbsDiff(floats(txt), Npy.read(dir.resolve("text.npy")).floats());
        System.out.printf("%s: max |clip4j - open_clip| image %.3g, text %.3g%n", name, image, text);
        assertThat(image).isLessThanOrEqualTo(1e-5f);
        assertThat(text).isLessThanOrEqualTo(1e-5f);
      }
      assertThat(model.logitScale()).isEqualTo(Npy.read(dir.resolve("logit_scale.npy")).floats()[0]);
      assertThat(model.logitBias()).isEqualTo(Npy.read(dir.resolve("logit_bias.npy")).floats()[0]);
      assertThat(model.sigmoidScoring()).isTrue();
      assertThat(model.causalText()).isFalse();
      assertThat(model.info().architecture()).contains("SigLIP").contains("MAP head");
      return model.info().invariance();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-siglip", "tiny-siglip2"})
  void tokenizerAndTextsMatchOpenClip(String name) throws IOException {
    Path dir = fixture(name);
    JsonNode cases = JSON.readTree(dir.resolve("tokens.json").toFile());
    List<String> texts = new ArrayList<>();
    try (ClipModel model = load(dir)) {
      TextTokenizer tok = model.tokenizer();
      assertThat(tok.padId()).isZero();
      int ctx = model.info().contextLength();
      for (JsonNode c : cases) {
        String text = c.get("text").asText();
        texts.add(text);
        long[] want = new long[ctx];
        for (int i = 0; i < ctx; i++) {
          want[i] = c.get("ids").get(i).asLong();
        }
        assertThat(tok.rows(List.of(text), ctx)[0]).as("ids of '%s'", text).containsExactly(want);
        assertThat(((dev.clip4j.tokenize.HfTextTokenizer) tok).cleanText(text)).isEqualTo(c.get("cleaned").asText());
      }
      float[][] emb = model.embedTexts(texts);
      float[] want = Npy.read(dir.resolve("texts.npy")).floats();
      float[] got = new float[want.length];
      for (int i = 0; i < emb.length; i++) {
        System.arraycopy(emb[i], 0, got, i * emb[i].length, emb[i].length);
      }
      float diff = maxAbsDiff(got, want);
      System.out.printf("%s: texts from strings, max diff %.3g%n", name, diff);
      assertThat(diff).isLessThanOrEqualTo(1e-5f);
    }
  }

  /**
   * The tiny SigLIP as a SigLIP v1 hub directory ships it: spiece.model (siglip_tokenizer.py's model,
   * retrained by tools/reference/spiece_tokenizer.py, which checks that its pieces are those of the
   * fixture's tokenizer.json) and no tokenizer.json. Same ids and text embeddings as open_clip's.
   */
  @Test
  void hubDirectoryWithSpieceModelOnlyMatchesOpenClip(@org.junit.jupiter.api.io.TempDir Path tmp) throws IOException {
    Path dir = fixture("tiny-siglip");
    Path copy = tmp.resolve("m");
    Files.createDirectories(copy);
    for (String f : new String[] {"open_clip_config.json", "open_clip_pytorch_model.bin", "tokenizer_config.json",
        "trunk.json"}) {
      Files.copy(dir.resolve(f), copy.resolve(f));
    }
    Path spiece;
    try {
      spiece = Path.of(SiglipModelTest.class.getResource("/dev/clip4j/tokenize/spiece/tiny-siglip/spiece.model").toURI());
    } catch (java.net.URISyntaxException e) {
      throw new IllegalStateException(e);
    }
    Files.copy(spiece, copy.resolve("spiece.model"));
    JsonNode cases = JSON.readTree(dir.resolve("tokens.json").toFile());
    List<String> texts = new ArrayList<>();
    ModelDescription d = new OpenClipHubReader().read(copy, LoadOptions.defaults(), trunk(copy));
    assertThat(d.tokenizer().source()).endsWith("spiece.model");
    try (ClipModel model = load(copy)) {
      TextTokenizer tok = model.tokenizer();
      assertThat(tok.describe()).contains("spiece.model");
      assertThat(tok.padId()).isZero();
      int ctx = model.info().contextLength();
      for (JsonNode c : cases) {
        String text = c.get("text").asText();
        texts.add(text);
        long[] want = new long[ctx];
        for (int i = 0; i < ctx; i++) {
          want[i] = c.get("ids").get(i).asLong();
        }
        assertThat(tok.rows(List.of(text), ctx)[0]).as("ids of '%s'", text).containsExactly(want);
      }
      float[][] emb = model.embedTexts(texts);
      float[] want = Npy.read(dir.resolve("texts.npy")).floats();
      float[] got = new float[want.length];
      for (int i = 0; i < emb.length; i++) {
        System.arraycopy(emb[i], 0, got, i * emb[i].length, emb[i].length);
      }
      assertThat(maxAbsDiff(got, want)).isLessThanOrEqualTo(1e-5f);
    }
    // tokenizer.json wins when both are there: a broken spiece.model beside it is never read.
    Files.copy(dir.resolve("tokenizer.json"), copy.resolve("tokenizer.json"));
    Files.write(copy.resolve("spiece.model"), new byte[] {0x0a, 0x7f});
    try (ClipModel model = load(copy)) {
      assertThat(model.tokenizer().describe()).contains("tokenizer.json");
    }
    Files.delete(copy.resolve("tokenizer.json"));
    assertThatThrownBy(() -> load(copy)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("spiece.model").hasMessageContaining("runs past the end");
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-siglip", "tiny-siglip2"})
  void batchInvariant(String name) throws IOException {
    Path dir = fixture(name);
    try (ClipModel model = load(dir)) {
      try (Tensor px = tensor(Npy.read(dir.resolve("pixels.npy")));
          Tensor a = px.narrow(0, 0, 1); Tensor b = px.narrow(0, 1, 1);
          Tensor aba = torch.cat(new org.bytedeco.pytorch.TensorVector(a, b, a), 0);
          Tensor e3 = model.embedImages(aba); Tensor e1 = model.embedImages(a)) {
        float[] three = floats(e3);
        float[] one = floats(e1);
        float[] first = java.util.Arrays.copyOfRange(three, 0, one.length);
        float[] last = java.util.Arrays.copyOfRange(three, 2 * one.length, 3 * one.length);
        assertThat(first).containsExactly(one);
        assertThat(last).containsExactly(one);
      }
      try (Tensor ids = tensor(Npy.read(dir.resolve("ids.npy")));
          Tensor a = ids.narrow(0, 1, 1); Tensor b = ids.narrow(0, 2, 1);
          Tensor aba = torch.cat(new org.bytedeco.pytorch.TensorVector(a, b, a), 0);
          Tensor e3 = model.embedTexts(aba); Tensor e1 = model.embedTexts(a)) {
        float[] three = floats(e3);
        float[] one = floats(e1);
        assertThat(java.util.Arrays.copyOfRange(three, 0, one.length)).containsExactly(one);
        assertThat(java.util.Arrays.copyOfRange(three, 2 * one.length, 3 * one.length)).containsExactly(one);
      }
    }
  }

  @Test
  void zeroShotUsesSigmoidWithTheModelsBias() throws IOException {
    Path dir = fixture("tiny-siglip");
    try (ClipModel model = load(dir)) {
      List<String> labels = List.of("cat", "dog", "car");
      ZeroShotClassifier zs = ZeroShotClassifier.buildSigmoid(labels, List.of("a photo of a {}"),
          model::embedTexts, model.logitScale(), model.logitBias());
      assertThat(zs.scoring()).isEqualTo(ZeroShotClassifier.Scoring.SIGMOID);
      float[][] classes = model.embedTexts(List.of("a photo of a cat", "a photo of a dog", "a photo of a car"));
      float[] image;
      try (Tensor px = tensor(Npy.read(dir.resolve("pixels.npy"))); Tensor one = px.narrow(0, 0, 1);
          Tensor e = model.embedImages(one)) {
        image = floats(e);
      }
      float[] probs = zs.probabilities(image);
      double scale = Math.exp(model.logitScale());
      for (int c = 0; c < 3; c++) {
        double dot = 0;
        for (int j = 0; j < image.length; j++) {
          dot += (double) image[j] * classes[c][j];
        }
        double expected = 1 / (1 + Math.exp(-(scale * dot + model.logitBias())));
        assertThat((double) probs[c]).isCloseTo(expected, org.assertj.core.data.Offset.offset(1e-6));
      }
    }
  }

  private static Map<String, Tensor> weights(Path dir) {
    try (StateDict sd = CheckpointReader.readModelWeights(dir.resolve("open_clip_pytorch_model.bin"))) {
      return new LinkedHashMap<>(StateDictTensors.toTensors(sd));
    }
  }

  private static SiglipConfig config(Path dir) throws IOException {
    JsonNode root = JSON.readTree(dir.resolve("open_clip_config.json").toFile());
    return SiglipConfig.fromModelCfg(root.get("model_cfg"), (ObjectNode) root.get("preprocess_cfg"), "test",
        trunk(dir));
  }

  @Test
  void everyWeightProblemIsListedAtOnce() throws IOException {
    Path dir = fixture("tiny-siglip");
    SiglipConfig cfg = config(dir);
    Map<String, Tensor> w = weights(dir);
    try {
      w.remove("visual.trunk.attn_pool.latent").close();
      w.remove("logit_bias").close();
      w.put("visual.trunk.head.weight", torch.zeros(2, 2));
      Tensor old = w.put("text.text_projection.bias", torch.zeros(5));
      old.close();
      Tensor old2 = w.put("text.ln_final.weight", torch.zeros(new long[] {24}, new TensorOptions(ScalarType.Long)));
      old2.close();
      assertThatThrownBy(() -> SiglipTowers.build(cfg, w, new Device("cpu"), Precision.FP32))
          .isInstanceOf(InvalidModelException.class)
          .hasMessageContaining("2 missing: ")
          .hasMessageContaining("visual.trunk.attn_pool.latent [1, 1, 32]")
          .hasMessageContaining("logit_bias []")
          .hasMessageContaining("1 unexpected: visual.trunk.head.weight [2, 2]")
          .hasMessageContaining("text.text_projection.bias is [5], expected [32]")
          .hasMessageContaining("1 not floating point: text.ln_final.weight (Long)");
    } finally {
      w.values().forEach(Tensor::close);
    }
  }

  @Test
  void refusesWhatItDoesNotImplementByName() throws IOException {
    Path dir = fixture("tiny-siglip2");
    JsonNode root = JSON.readTree(dir.resolve("open_clip_config.json").toFile());
    ObjectNode m = ((ObjectNode) root.get("model_cfg")).deepCopy();
    ((ObjectNode) m.get("vision_cfg")).put("timm_model_name", "vit_base_patch16_siglip_naflex");
    assertThatThrownBy(() -> SiglipConfig.fromModelCfg(m, null, "cfg"))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("NaFlex");
    ((ObjectNode) m.get("vision_cfg")).put("timm_model_name", "vit_unknown_siglip");
    assertThatThrownBy(() -> SiglipConfig.fromModelCfg(m, null, "cfg"))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("timm trunk 'vit_unknown_siglip'");
    ObjectNode causal = ((ObjectNode) root.get("model_cfg")).deepCopy();
    ((ObjectNode) causal.get("text_cfg")).put("no_causal_mask", false);
    assertThatThrownBy(() -> SiglipConfig.fromModelCfg(causal, null, "cfg", trunk(dir)))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("no_causal_mask");
    ObjectNode act = ((ObjectNode) root.get("model_cfg")).deepCopy();
    ((ObjectNode) act.get("text_cfg").get("act_kwargs")).put("approximate", "sigmoid");
    assertThatThrownBy(() -> SiglipConfig.fromModelCfg(act, null, "cfg", trunk(dir)))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("approximate");
    ObjectNode extra = ((ObjectNode) root.get("model_cfg")).deepCopy();
    ((ObjectNode) extra.get("text_cfg")).put("hf_model_name", "bert-base");
    assertThatThrownBy(() -> SiglipConfig.fromModelCfg(extra, null, "cfg", trunk(dir)))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("hf_model_name");
    // The real ViT-B-16-SigLIP2 config parses with the built-in trunk table, GELU tanh from act_kwargs.
    String b16 = "{\"embed_dim\":768,\"init_logit_bias\":-10,\"custom_text\":true,\"vision_cfg\":{\"image_size\":224,"
        + "\"timm_model_name\":\"vit_base_patch16_siglip_224\",\"timm_model_pretrained\":false,\"timm_pool\":\"map\","
        + "\"timm_proj\":\"none\"},\"text_cfg\":{\"context_length\":64,\"vocab_size\":256000,\"hf_tokenizer_name\":"
        + "\"timm/ViT-B-16-SigLIP2\",\"tokenizer_kwargs\":{\"clean\":\"canonicalize\"},\"width\":768,\"heads\":12,"
        + "\"layers\":12,\"no_causal_mask\":true,\"proj_bias\":true,\"pool_type\":\"last\",\"norm_kwargs\":{\"eps\":1e-6},"
        + "\"act_kwargs\":{\"approximate\":\"tanh\"}}}";
    SiglipConfig c = SiglipConfig.fromModelCfg(JSON.readTree(b16), null, "b16");
    assertThat(c.text().activation()).isEqualTo(SiglipConfig.Gelu.TANH);
    assertThat(c.text().normEps()).isEqualTo(1e-6);
    assertThat(c.vision().tokens()).isEqualTo(196);
    assertThat(StateDictSchema.parameterCount(c.schema())).isBetween(370_000_000L, 380_000_000L);
  }

  @Test
  void hubDirectoryWithoutPreprocessCfgOrTokenizerIsRefused(@org.junit.jupiter.api.io.TempDir Path tmp)
      throws IOException {
    Path dir = fixture("tiny-siglip");
    Path copy = tmp.resolve("m");
    Files.createDirectories(copy);
    for (String f : new String[] {"open_clip_pytorch_model.bin", "tokenizer.json", "tokenizer_config.json"}) {
      Files.copy(dir.resolve(f), copy.resolve(f));
    }
    ObjectNode root = (ObjectNode) JSON.readTree(dir.resolve("open_clip_config.json").toFile());
    root.remove("preprocess_cfg");
    Files.writeString(copy.resolve("open_clip_config.json"), root.toString());
    assertThatThrownBy(() -> new OpenClipHubReader().read(copy, LoadOptions.defaults(), trunk(dir)))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("preprocess_cfg");
    Files.copy(dir.resolve("open_clip_config.json"), copy.resolve("open_clip_config.json"),
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    Files.delete(copy.resolve("tokenizer.json"));
    assertThatThrownBy(() -> new OpenClipHubReader().read(copy, LoadOptions.defaults(), trunk(dir)))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("tokenizer.json")
        .hasMessageContaining("spiece.model");
  }

  /**
   * SigLIP's preprocessing (squash to 224, bicubic, mean/std 0.5) from the model's preprocess_cfg,
   * against open_clip 2.32 + Pillow on the shared conformance images (tools/reference/
   * siglip_preprocess.py stores the uint8 image before ToTensor): every value must round back to
   * open_clip's byte.
   */
  @Test
  void preprocessingIsUint8ExactToOpenClipSquash() throws IOException {
    JsonNode root = JSON.readTree(fixture("tiny-siglip").resolve("open_clip_config.json").toFile());
    ObjectNode cfg = ((ObjectNode) root.get("preprocess_cfg")).deepCopy();
    cfg.put("size", 224);
    dev.clip4j.preprocess.PreprocessConfig pc = dev.clip4j.preprocess.PreprocessConfig.fromOpenClip(cfg, 224);
    dev.clip4j.preprocess.ImagePreprocessor pre = new dev.clip4j.preprocess.ImagePreprocessor(pc);
    Path images = dev.clip4j.testing.Conformance.dir().resolve("images");
    int checked = 0;
    for (String name : new String[] {"tall_37x300.png", "palette_color.png", "logo.png", "camera.png",
        "odd_225x333.jpg"}) {
      byte[] want = readUint8(fixture("preprocess").resolve(name + ".u8.npy"), "(3, 224, 224)");
      float[] got = pre.preprocess(images.resolve(name));
      assertThat(got).hasSize(want.length);
      float maxDiff = 0;
      int mismatched = 0;
      for (int i = 0; i < want.length; i++) {
        float expected = ((want[i] & 0xff) / 255f - 0.5f) / 0.5f; // torchvision ToTensor + Normalize in float32
        maxDiff = Math.max(maxDiff, Math.abs(got[i] - expected));
        if (Math.round((got[i] * 0.5f + 0.5f) * 255f) != (want[i] & 0xff)) {
          mismatched++;
        }
      }
      assertThat(mismatched).as("%s: bytes differing from open_clip's", name).isZero();
      assertThat(maxDiff).as(name).isLessThanOrEqualTo(1e-6f);
      checked++;
    }
    assertThat(checked).isEqualTo(5);
  }

  /** A NumPy 1.0 file of dtype |u1 with the given shape text: its bytes. */
  private static byte[] readUint8(Path file, String shape) throws IOException {
    byte[] all = Files.readAllBytes(file);
    int headerLen = (all[8] & 0xff) | (all[9] & 0xff) << 8;
    String header = new String(all, 10, headerLen, java.nio.charset.StandardCharsets.US_ASCII);
    assertThat(header).contains("'descr': '|u1'").contains("'fortran_order': False").contains("'shape': " + shape);
    return java.util.Arrays.copyOfRange(all, 10 + headerLen, all.length);
  }
}
