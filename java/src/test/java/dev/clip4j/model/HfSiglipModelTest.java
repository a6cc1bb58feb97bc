package dev.clip4j.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.io.Npy;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.DType;
import dev.clip4j.model.io.LazyTensor;
import dev.clip4j.model.io.SafetensorsWriter;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.TensorData;
import dev.clip4j.preprocess.ImagePreprocessor;
import dev.clip4j.tokenize.TextTokenizer;
import dev.clip4j.zeroshot.ZeroShotClassifier;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Hugging Face transformers SiglipModel directories against transformers 4.57.6's own SiglipModel,
 * SiglipImageProcessor and fast tokenizer (tools/reference/hf_siglip_reference.py, on Debian's
 * torch 1.13): hf-siglip as the hub's SigLIP v1 configs are written (hidden_act and layer_norm_eps
 * left at transformers' defaults: GELU tanh, 1e-6), hf-siglip2 with "gelu" (erf), eps 2e-2 / 1e-2 and
 * projection_size stated.
 */
public class HfSiglipModelTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  static Path fixture(String name) {
    try {
      return Path.of(HfSiglipModelTest.class.getResource("hf-siglip/" + name).toURI());
    } catch (java.net.URISyntaxException e) {
      throw new IllegalStateException(e);
    }
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

  private static float[] floats(Tensor t) {
    try (Tensor c = t.contiguous()) {
      float[] out = new float[(int) c.numel()];
      c.data_ptr_float().get(out);
      return out;
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

  private static float[] flat(float[][] rows) {
    float[] out = new float[rows.length * rows[0].length];
    for (int i = 0; i < rows.length; i++) {
      System.arraycopy(rows[i], 0, out, i * rows[i].length, rows[i].length);
    }
    return out;
  }

  @ParameterizedTest
  @ValueSource(strings = {"hf-siglip", "hf-siglip2"})
  void embeddingsMatchTransformers(String name) {
    checkEmbeddings(name, fixture(name));
  }

  /** The same on LibTorch GEMMs only, as where the packed kernels do not run. */
  @ParameterizedTest
  @ValueSource(strings = {"hf-siglip", "hf-siglip2"})
  void embeddingsMatchTransformersWithoutThePackedKernels(String name) {
    String before = System.getProperty(ClipTowers.PACKED_GEMM_PROPERTY);
    System.setProperty(ClipTowers.PACKED_GEMM_PROPERTY, "false");
    try {
      assertThat(checkEmbeddings(name, fixture(name))).contains("one GEMM per sample").doesNotContain("packed");
    } finally {
      if (before == null) {
        System.clearProperty(ClipTowers.PACKED_GEMM_PROPERTY);
      } else {
        System.setProperty(ClipTowers.PACKED_GEMM_PROPERTY, before);
      }
    }
  }

  private static String checkEmbeddings(String name, Path dir) {
    try (ClipModel model = ClipModel.load(dir)) {
      assertThat(model.info().format()).isEqualTo(ModelFormat.HF_SIGLIP);
      try (Tensor p = tensor(Npy.read(dir.resolve("pixels.npy"))); Tensor img = model.embedImages(p);
          Tensor i = tensor(Npy.read(dir.resolve("ids.npy"))); Tensor txt = model.embedTexts(i)) {
        float image = maxAbsDiff(floats(img), Npy.read(dir.resolve("image.npy")).floats());
        float text = maxAbsDiff(floats(txt), Npy.read(dir.resolve("text.npy")).floats());
        System.out.printf("%s: max |clip4j - transformers| image %.3g, text %.3g (%s)%n", name, image, text,
            model.info().invariance());
        assertThat(image).isLessThanOrEqualTo(1e-5f);
        assertThat(text).isLessThanOrEqualTo(1e-5f);
      }
      assertThat(model.logitScale()).isEqualTo(Npy.read(dir.resolve("logit_scale.npy")).floats()[0]);
      assertThat(model.logitBias()).isEqualTo(Npy.read(dir.resolve("logit_bias.npy")).floats()[0]);
      assertThat(model.sigmoidScoring()).isTrue();
      assertThat(model.causalText()).isFalse();
      return model.info().invariance();
    }
  }

  /** LoadOptions.cpuKernels picks the family; AVX2 and AVX-512 give the same bits (or AVX-512 is refused). */
  @Test
  void theKernelFamilyIsTheCallersChoice() {
    Path dir = fixture("hf-siglip");
    float[][] byFamily = new float[2][];
    dev.clip4j.CpuKernels[] families = {dev.clip4j.CpuKernels.AVX2, dev.clip4j.CpuKernels.AVX512};
    for (int f = 0; f < 2; f++) {
      LoadOptions o = LoadOptions.builder().cpuKernels(families[f]).build();
      if (f == 1 && !dev.clip4j.internal.CpuFeatures.avx512()) {
        assertThatThrownBy(() -> ClipModel.load(dir, o)).isInstanceOfSatisfying(Clip4jException.class,
            e -> assertThat(e.code()).isEqualTo(ErrorCode.UNSUPPORTED));
        continue;
      }
      try (ClipModel model = ClipModel.load(dir, o); Tensor p = tensor(Npy.read(dir.resolve("pixels.npy")));
          Tensor img = model.embedImages(p); Tensor i = tensor(Npy.read(dir.resolve("ids.npy")));
          Tensor txt = model.embedTexts(i)) {
        assertThat(model.info().cpuKernels()).isEqualTo(f == 0 ? "avx2" : "avx512");
        float[] both = concat(floats(img), floats(txt));
        assertThat(maxAbsDiff(java.util.Arrays.copyOfRange(both, 0, floats(img).length),
            Npy.read(dir.resolve("image.npy")).floats())).isLessThanOrEqualTo(1e-5f);
        byFamily[f] = both;
      }
    }
    if (byFamily[1] != null) {
      assertThat(byFamily[1]).containsExactly(byFamily[0]);
    }
  }

  /**
   * bf16 on a CPU with AVX512_BF16: the blocks' GEMMs on bf16-rounded weights (far from 1e-5, within
   * what bf16 promises), a sample's bits independent of its batch; elsewhere refused by name.
   */
  /**
   * A sample's bits do not depend on its batch, on the packed kernels and on LibTorch (the patch
   * embedding is a per-sample GEMM: a conv2d's blocking follows the batch size and moved the last bit).
   */
  @Test
  void everySampleIsBitwiseIndependentOfItsBatch() {
    for (String name : new String[] {"hf-siglip", "hf-siglip2"}) {
      for (boolean packed : new boolean[] {true, false}) {
        String before = System.getProperty(ClipTowers.PACKED_GEMM_PROPERTY);
        System.setProperty(ClipTowers.PACKED_GEMM_PROPERTY, Boolean.toString(packed));
        Path dir = fixture(name);
        try (ClipModel model = ClipModel.load(dir); Tensor p = tensor(Npy.read(dir.resolve("pixels.npy")));
            Tensor img = model.embedImages(p); Tensor ids = tensor(Npy.read(dir.resolve("ids.npy")));
            Tensor txt = model.embedTexts(ids)) {
          int d = (int) model.embedDim();
          float[] gi = floats(img);
          float[] gt = floats(txt);
          for (int i = 0; i < p.size(0); i++) {
            try (Tensor one = p.narrow(0, i, 1); Tensor own = one.clone(); Tensor e = model.embedImages(own)) {
              assertThat(floats(e)).as("%s image %d, packed %s", name, i, packed)
                  .containsExactly(java.util.Arrays.copyOfRange(gi, i * d, (i + 1) * d));
            }
          }
          for (int i = 0; i < ids.size(0); i++) {
            try (Tensor one = ids.narrow(0, i, 1); Tensor own = one.clone(); Tensor e = model.embedTexts(own)) {
              assertThat(floats(e)).as("%s text %d, packed %s", name, i, packed)
                  .containsExactly(java.util.Arrays.copyOfRange(gt, i * d, (i + 1) * d));
            }
          }
        } finally {
          if (before == null) {
            System.clearProperty(ClipTowers.PACKED_GEMM_PROPERTY);
          } else {
            System.setProperty(ClipTowers.PACKED_GEMM_PROPERTY, before);
          }
        }
      }
    }
  }

  @Test
  void bf16RunsThePackedBlocksOnBf16WeightsOrIsRefused() {
    Path dir = fixture("hf-siglip");
    LoadOptions o = LoadOptions.builder().precision(Precision.BF16).build();
    if (!dev.clip4j.internal.CpuFeatures.nativeBf16()) {
      assertThatThrownBy(() -> ClipModel.load(dir, o)).isInstanceOfSatisfying(Clip4jException.class,
          e -> assertThat(e.code()).isEqualTo(ErrorCode.UNSUPPORTED));
      return;
    }
    try (ClipModel model = ClipModel.load(dir, o); Tensor p = tensor(Npy.read(dir.resolve("pixels.npy")));
        Tensor img = model.embedImages(p); Tensor i = tensor(Npy.read(dir.resolve("ids.npy")));
        Tensor txt = model.embedTexts(i)) {
      assertThat(model.info().precision()).isEqualTo(Precision.BF16);
      assertThat(model.info().cpuKernels()).isEqualTo("avx512_bf16");
      assertThat(model.info().invariance()).contains("bf16 weights, fp32 accumulation");
      float[] gi = floats(img);
      float[] gt = floats(txt);
      float[] wi = Npy.read(dir.resolve("image.npy")).floats();
      float[] wt = Npy.read(dir.resolve("text.npy")).floats();
      float di = maxAbsDiff(gi, wi);
      float dt = maxAbsDiff(gt, wt);
      double minCos = Math.min(minCosine(gi, wi, (int) model.embedDim()), minCosine(gt, wt, (int) model.embedDim()));
      System.out.printf("hf-siglip bf16 vs transformers fp32: max abs image %.3g text %.3g, min cosine %.6f%n", di, dt,
          minCos);
      assertThat(minCos).isGreaterThanOrEqualTo(0.999);
      assertThat(Math.max(di, dt)).isGreaterThan(1e-5f).isLessThanOrEqualTo(2e-2f);
      try (Tensor one = p.narrow(0, 1, 1); Tensor own = one.clone(); Tensor e = model.embedImages(own)) {
        int d = (int) model.embedDim();
        assertThat(floats(e)).containsExactly(java.util.Arrays.copyOfRange(gi, d, 2 * d));
      }
    }
  }

  private static double minCosine(float[] a, float[] b, int d) {
    double min = 1;
    for (int r = 0; r < a.length / d; r++) {
      double dot = 0;
      double na = 0;
      double nb = 0;
      for (int j = 0; j < d; j++) {
        dot += (double) a[r * d + j] * b[r * d + j];
        na += (double) a[r * d + j] * a[r * d + j];
        nb += (double) b[r * d + j] * b[r * d + j];
      }
      min = Math.min(min, dot / Math.sqrt(na * nb));
    }
    return min;
  }

  private static float[] concat(float[] a, float[] b) {
    float[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  @Test
  void packedKernelsRunBothGeluForms() {
    try (ClipModel v1 = ClipModel.load(fixture("hf-siglip")); ClipModel v2 = ClipModel.load(fixture("hf-siglip2"))) {
      if (dev.clip4j.internal.GemmPool.supported()) {
        // transformers' SigLIP v1 default is GELU tanh in both towers: the GELU-tanh epilogue
        assertThat(v1.info().invariance())
            .contains("image blocks (GELU-tanh) and text blocks (GELU-tanh) on clip4j's packed CPU kernels");
        assertThat(v2.info().invariance()).contains("image blocks and text blocks on clip4j's packed CPU kernels");
      } else {
        assertThat(v2.info().invariance()).contains("one GEMM per sample").doesNotContain("packed");
      }
    }
  }

  /**
   * A GELU-tanh image tower with a GELU (erf) text tower: each tower's blocks run packed with their
   * own epilogue, and give what LibTorch gives (no reference for this mix: the same model with the
   * packed kernels off is it).
   */
  @Test
  void aTanhImageTowerAndAnErfTextTowerEachRunPackedWithTheirOwnGelu(@TempDir Path tmp) throws IOException {
    Path dir = copy(fixture("hf-siglip2"), tmp.resolve("mixed"));
    editConfig(dir, r -> ((ObjectNode) r.get("vision_config")).put("hidden_act", "gelu_pytorch_tanh"));
    float[] img;
    float[] txt;
    String before = System.getProperty(ClipTowers.PACKED_GEMM_PROPERTY);
    System.setProperty(ClipTowers.PACKED_GEMM_PROPERTY, "false");
    try (ClipModel model = ClipModel.load(dir); Tensor p = tensor(Npy.read(dir.resolve("pixels.npy")));
        Tensor i = model.embedImages(p); Tensor ids = tensor(Npy.read(dir.resolve("ids.npy")));
        Tensor t = model.embedTexts(ids)) {
      img = floats(i);
      txt = floats(t);
      assertThat(maxAbsDiff(img, Npy.read(dir.resolve("image.npy")).floats())).as("tanh vs erf changes the image")
          .isGreaterThan(1e-5f);
    } finally {
      if (before == null) {
        System.clearProperty(ClipTowers.PACKED_GEMM_PROPERTY);
      } else {
        System.setProperty(ClipTowers.PACKED_GEMM_PROPERTY, before);
      }
    }
    try (ClipModel model = ClipModel.load(dir); Tensor p = tensor(Npy.read(dir.resolve("pixels.npy")));
        Tensor i = model.embedImages(p); Tensor ids = tensor(Npy.read(dir.resolve("ids.npy")));
        Tensor t = model.embedTexts(ids)) {
      if (dev.clip4j.internal.GemmPool.supported()) {
        assertThat(model.info().invariance())
            .contains("image blocks (GELU-tanh) and text blocks on clip4j's packed CPU kernels");
      }
      assertThat(maxAbsDiff(floats(i), img)).isLessThanOrEqualTo(1e-5f);
      assertThat(maxAbsDiff(floats(t), txt)).isLessThanOrEqualTo(1e-5f);
      assertThat(maxAbsDiff(floats(t), Npy.read(dir.resolve("text.npy")).floats())).isLessThanOrEqualTo(1e-5f);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"hf-siglip", "hf-siglip2"})
  void textsTokenizeAndEmbedAsTheProcessorDoes(String name) throws IOException {
    Path dir = fixture(name);
    JsonNode cases = JSON.readTree(dir.resolve("texts.json").toFile());
    List<String> texts = new ArrayList<>();
    try (ClipModel model = ClipModel.load(dir)) {
      TextTokenizer tok = model.tokenizer();
      int ctx = model.info().contextLength();
      assertThat(ctx).isEqualTo(8);
      assertThat(tok.padId()).isZero();
      for (JsonNode c : cases) {
        String text = c.get("text").asText();
        texts.add(text);
        long[] want = new long[ctx];
        for (int i = 0; i < ctx; i++) {
          want[i] = c.get("ids").get(i).asLong();
        }
        assertThat(tok.rows(List.of(text), ctx)[0]).as("ids of '%s'", text).containsExactly(want);
      }
      float diff = maxAbsDiff(flat(model.embedTexts(texts)), Npy.read(dir.resolve("texts.npy")).floats());
      System.out.printf("%s: texts from strings, max diff %.3g%n", name, diff);
      assertThat(diff).isLessThanOrEqualTo(1e-5f);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"hf-siglip", "hf-siglip2"})
  void imagesPreprocessAndEmbedAsTheProcessorDoes(String name) throws IOException {
    Path dir = fixture(name);
    List<Path> images = new ArrayList<>();
    for (JsonNode n : JSON.readTree(dir.resolve("images.json").toFile())) {
      images.add(dir.resolve(n.asText()));
    }
    ModelDescription d = ModelDescription.read(dir);
    float[] want = Npy.read(dir.resolve("processor.npy")).floats();
    ImagePreprocessor pre = new ImagePreprocessor(d.preprocess());
    float[] got = new float[want.length];
    int per = want.length / images.size();
    for (int i = 0; i < images.size(); i++) {
      System.arraycopy(pre.preprocess(images.get(i)), 0, got, i * per, per);
    }
    float pixels = maxAbsDiff(got, want);
    try (ClipModel model = ClipModel.load(dir)) {
      float emb = maxAbsDiff(flat(model.embedImages(images)), Npy.read(dir.resolve("image_png.npy")).floats());
      System.out.printf("%s: SiglipImageProcessor pixels max diff %.3g, embeddings of the files %.3g%n", name, pixels,
          emb);
      assertThat(pixels).isLessThanOrEqualTo(1e-6f);
      assertThat(emb).isLessThanOrEqualTo(1e-5f);
    }
  }

  @Test
  void sigmoidClassifyUsesLogitScaleAndBias() {
    Path dir = fixture("hf-siglip");
    try (ClipModel model = ClipModel.load(dir)) {
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
      assertThat((double) model.logitScale()).isCloseTo(2.302585, org.assertj.core.data.Offset.offset(1e-6));
      assertThat(model.logitBias()).isEqualTo(-3.25f);
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

  @Test
  void describedWithoutBuildingAndDetected() {
    Path dir = fixture("hf-siglip");
    assertThat(ModelFormat.detect(dir)).isEqualTo(ModelFormat.HF_SIGLIP);
    ModelDescription d = ModelDescription.read(dir);
    assertThat(d.format()).isEqualTo(ModelFormat.HF_SIGLIP);
    Architecture.Siglip s = (Architecture.Siglip) d.architecture();
    SiglipConfig c = s.config();
    assertThat(c.vision().activation()).isEqualTo(SiglipConfig.Gelu.TANH);
    assertThat(c.text().activation()).isEqualTo(SiglipConfig.Gelu.TANH);
    assertThat(c.vision().normEps()).isEqualTo(1e-6);
    assertThat(c.vision().mlpWidth()).isEqualTo(52);
    assertThat(c.text().mlpWidth()).isEqualTo(40);
    assertThat(c.embedDim()).isEqualTo(32);
    assertThat(c.activationSource()).contains("vision_config.hidden_act is absent")
        .contains("SiglipVisionConfig default is gelu_pytorch_tanh").contains("SiglipTextConfig");
    assertThat(d.preprocess().imageSize()).isEqualTo(32);
    assertThat(d.preprocess().resizeMode()).isEqualTo(dev.clip4j.preprocess.ResizeMode.SQUASH);
    assertThat(d.preprocess().mean()).containsExactly(0.5f, 0.5f, 0.5f);
    assertThat(d.tokenizer()).isInstanceOf(TokenizerSpec.TransformersHf.class);
    assertThat(d.tokenizer().maxLength()).isEqualTo(8);
    assertThat(c.describe()).contains("transformers SiglipVisionTransformer (gelu_tanh, eps 1.0E-6")
        .contains("MAP head");
    assertThat(d.preprocess().rgbConversion()).isEqualTo(dev.clip4j.preprocess.RgbConversion.AFTER_RESIZE);
    ModelDescription asTransformers = ModelDescription.read(dir,
        LoadOptions.builder().preprocessRules(PreprocessRules.TRANSFORMERS).build());
    assertThat(asTransformers.preprocess().rgbConversion())
        .isEqualTo(dev.clip4j.preprocess.RgbConversion.BEFORE_RESIZE);
    SiglipConfig c2 = ((Architecture.Siglip) ModelDescription.read(fixture("hf-siglip2")).architecture()).config();
    assertThat(c2.vision().activation()).isEqualTo(SiglipConfig.Gelu.ERF);
    assertThat(c2.text().normEps()).isEqualTo(1e-2);
    assertThat(c2.vision().normEps()).isEqualTo(2e-2);
    assertThat(c2.activationSource()).contains("vision_config.hidden_act = \"gelu\"");
    assertThat(c2.embedDim()).isEqualTo(40);
  }

  /** The weights split into two shards with model.safetensors.index.json, as save_pretrained shards them. */
  @Test
  void shardedWeightsLoadTheSame(@TempDir Path tmp) throws IOException {
    Path src = fixture("hf-siglip2");
    Path dir = copy(src, tmp.resolve("sharded"));
    Files.delete(dir.resolve("model.safetensors"));
    try (StateDict sd = CheckpointReader.read(src.resolve("model.safetensors"))) {
      List<TensorData> all = new ArrayList<>(sd.tensors().values());
      StringBuilder map = new StringBuilder();
      for (int s = 0; s < 2; s++) {
        String shard = String.format("model-%05d-of-00002.safetensors", s + 1);
        List<LazyTensor> part = new ArrayList<>();
        for (int i = s; i < all.size(); i += 2) {
          part.add(LazyTensor.of(all.get(i).name(), all.get(i)));
          map.append(map.length() == 0 ? "" : ",").append('"').append(all.get(i).name()).append("\":\"")
              .append(shard).append('"');
        }
        SafetensorsWriter.writeTensors(dir.resolve(shard), part, Map.of("format", "pt"));
      }
      Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"metadata\":{},\"weight_map\":{" + map + "}}");
    }
    assertThat(ModelDescription.read(dir).fileHashes()).containsKeys("model.safetensors.index.json",
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors");
    checkEmbeddings("hf-siglip2 (sharded)", dir);
  }

  /**
   * An image size that is not a multiple of the patch (SO400M/14 at 384 px): the patch convolution
   * leaves the last rows and columns out, so 35 px images whose top-left 32 x 32 are the fixture's
   * pixels give transformers' embeddings of those 32 px pixels, whatever the border holds.
   */
  @Test
  void anImageSizeThatIsNotAMultipleOfThePatchDropsTheRemainderAsTheConvolutionDoes(@TempDir Path tmp)
      throws IOException {
    Path dir = copy(fixture("hf-siglip"), tmp.resolve("m35"));
    editConfig(dir, r -> ((ObjectNode) r.get("vision_config")).put("image_size", 35));
    ObjectNode pre = (ObjectNode) JSON.readTree(dir.resolve("preprocessor_config.json").toFile());
    ((ObjectNode) pre.get("size")).put("height", 35).put("width", 35);
    Files.writeString(dir.resolve("preprocessor_config.json"), JSON.writeValueAsString(pre));
    Npy.Array px = Npy.read(dir.resolve("pixels.npy"));
    int n = (int) px.shape()[0];
    float[] small = px.floats();
    float[] big = new float[n * 3 * 35 * 35];
    java.util.Random r = new java.util.Random(7);
    for (int i = 0; i < big.length; i++) {
      big[i] = r.nextFloat() * 2 - 1;
    }
    for (int b = 0; b < n * 3; b++) {
      for (int y = 0; y < 32; y++) {
        System.arraycopy(small, (b * 32 + y) * 32, big, (b * 35 + y) * 35, 32);
      }
    }
    try (ClipModel model = ClipModel.load(dir);
        org.bytedeco.javacpp.FloatPointer fp = new org.bytedeco.javacpp.FloatPointer(big);
        Tensor view = torch.from_blob(fp, new long[] {n, 3, 35, 35}); Tensor p = view.clone();
        Tensor img = model.embedImages(p)) {
      assertThat(model.info().imageSize()).isEqualTo(35);
      assertThat(maxAbsDiff(floats(img), Npy.read(dir.resolve("image.npy")).floats())).isLessThanOrEqualTo(1e-5f);
    }
  }

  // ------------------------------------------------------------------------------ refusals

  private static Path copy(Path src, Path dst) throws IOException {
    Files.createDirectories(dst);
    try (var files = Files.list(src)) {
      for (Path f : files.toList()) {
        Files.copy(f, dst.resolve(f.getFileName()));
      }
    }
    return dst;
  }

  private static void editConfig(Path dir, java.util.function.Consumer<ObjectNode> edit) throws IOException {
    ObjectNode root = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
    edit.accept(root);
    Files.writeString(dir.resolve("config.json"), JSON.writeValueAsString(root));
  }

  @Test
  void unknownHiddenActIsRefusedByName(@TempDir Path tmp) throws IOException {
    Path dir = copy(fixture("hf-siglip"), tmp.resolve("m"));
    editConfig(dir, r -> ((ObjectNode) r.get("vision_config")).put("hidden_act", "gelu_new"));
    assertThatThrownBy(() -> ModelDescription.read(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("vision_config.hidden_act").hasMessageContaining("gelu_new");
    editConfig(dir, r -> {
      ((ObjectNode) r.get("vision_config")).remove("hidden_act");
      ((ObjectNode) r.get("text_config")).put("hidden_act", "relu");
    });
    assertThatThrownBy(() -> ClipModel.load(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("text_config.hidden_act").hasMessageContaining("relu");
  }

  @Test
  void configsClip4jCannotComputeAreRefused(@TempDir Path tmp) throws IOException {
    Path dir = copy(fixture("hf-siglip"), tmp.resolve("m"));
    editConfig(dir, r -> ((ObjectNode) r.get("vision_config")).put("vision_use_head", false));
    assertThatThrownBy(() -> ModelDescription.read(dir)).hasMessageContaining("vision_use_head");
    editConfig(dir, r -> {
      ((ObjectNode) r.get("vision_config")).remove("vision_use_head");
      ((ObjectNode) r.get("text_config")).put("projection_size", 16);
    });
    assertThatThrownBy(() -> ModelDescription.read(dir)).hasMessageContaining("projection_size")
        .hasMessageContaining("vision_config.hidden_size 32");
    editConfig(dir, r -> {
      ((ObjectNode) r.get("text_config")).remove("projection_size");
      ((ObjectNode) r.get("text_config")).put("rope_theta", 10000);
    });
    assertThatThrownBy(() -> ModelDescription.read(dir)).hasMessageContaining("text_config.rope_theta");
    editConfig(dir, r -> {
      ((ObjectNode) r.get("text_config")).remove("rope_theta");
      r.putArray("architectures").add("SiglipForImageClassification");
    });
    assertThatThrownBy(() -> ModelDescription.read(dir)).hasMessageContaining("SiglipForImageClassification");
  }

  /** GemmaTokenizerFast (SigLIP2's) rebuilds the post-processor from add_bos_token / add_eos_token. */
  @Test
  void aTokenizerTransformersWouldRebuildMustAgreeWithItsConfig(@TempDir Path tmp) throws IOException {
    Path dir = copy(fixture("hf-siglip"), tmp.resolve("m"));
    ObjectNode tc = (ObjectNode) JSON.readTree(dir.resolve("tokenizer_config.json").toFile());
    tc.put("tokenizer_class", "GemmaTokenizer"); // defaults: <bos> $A; the file makes $A </s>
    Files.writeString(dir.resolve("tokenizer_config.json"), JSON.writeValueAsString(tc));
    assertThatThrownBy(() -> ModelDescription.read(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("makes $A </s>").hasMessageContaining("as <bos> $A");
    tc.put("add_bos_token", false).put("add_eos_token", true); // eos_token "</s>": what the file does
    Files.writeString(dir.resolve("tokenizer_config.json"), JSON.writeValueAsString(tc));
    assertThat(ModelDescription.read(dir).tokenizer()).isInstanceOf(TokenizerSpec.TransformersHf.class);
  }

  @Test
  void siglipImageProcessorDefaults() {
    dev.clip4j.preprocess.PreprocessConfig p = dev.clip4j.model.hf.HfPreprocessorConfig.parseSiglip(
        "{\"image_processor_type\": \"SiglipImageProcessor\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8), "t");
    assertThat(p.imageSize()).isEqualTo(224);
    assertThat(p.resizeMode()).isEqualTo(dev.clip4j.preprocess.ResizeMode.SQUASH);
    assertThat(p.interpolation()).isEqualTo(dev.clip4j.preprocess.Interpolation.BICUBIC);
    assertThat(p.mean()).containsExactly(0.5f, 0.5f, 0.5f);
    assertThat(p.std()).containsExactly(0.5f, 0.5f, 0.5f);
    assertThatThrownBy(() -> dev.clip4j.model.hf.HfPreprocessorConfig.parseSiglip(
        "{\"size\": {\"shortest_edge\": 224}}".getBytes(java.nio.charset.StandardCharsets.UTF_8), "t"))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("size must hold exactly height and width");
    assertThatThrownBy(() -> dev.clip4j.model.hf.HfPreprocessorConfig.parseSiglip(
        "{\"resample\": 1}".getBytes(java.nio.charset.StandardCharsets.UTF_8), "t"))
        .hasMessageContaining("LANCZOS");
  }

  @Test
  void preprocessingTransformersWouldNotDoIsRefusedByName(@TempDir Path tmp) throws IOException {
    Path dir = copy(fixture("hf-siglip"), tmp.resolve("m"));
    ObjectNode pre = (ObjectNode) JSON.readTree(dir.resolve("preprocessor_config.json").toFile());
    pre.put("do_center_crop", true);
    Files.writeString(dir.resolve("preprocessor_config.json"), JSON.writeValueAsString(pre));
    assertThatThrownBy(() -> ModelDescription.read(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("do_center_crop");
    pre.remove("do_center_crop");
    pre.put("image_processor_type", "SiglipImageProcessorFast");
    Files.writeString(dir.resolve("preprocessor_config.json"), JSON.writeValueAsString(pre));
    assertThatThrownBy(() -> ModelDescription.read(dir)).hasMessageContaining("SiglipImageProcessorFast");
    pre.put("image_processor_type", "SiglipImageProcessor");
    pre.putObject("size").put("height", 64).put("width", 64);
    Files.writeString(dir.resolve("preprocessor_config.json"), JSON.writeValueAsString(pre));
    assertThatThrownBy(() -> ModelDescription.read(dir)).hasMessageContaining("64 px")
        .hasMessageContaining("image_size = 32");
  }

  @Test
  void corruptedWeightsAreRefusedWithEveryProblemListed(@TempDir Path tmp) throws IOException {
    Path dir = copy(fixture("hf-siglip"), tmp.resolve("m"));
    try (StateDict sd = CheckpointReader.read(fixture("hf-siglip").resolve("model.safetensors"))) {
      Map<String, TensorData> t = new LinkedHashMap<>(sd.tensors());
      t.remove("vision_model.head.probe");
      TensorData fc1 = t.get("text_model.encoder.layers.1.mlp.fc1.bias");
      t.put("text_model.encoder.layers.1.mlp.fc1.bias", TensorData.of(fc1.name(), DType.F32, new long[] {39},
          ByteBuffer.allocate(39 * 4).order(ByteOrder.LITTLE_ENDIAN)));
      t.put("vision_model.head.extra", TensorData.of("vision_model.head.extra", DType.F32, new long[] {2},
          ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)));
      TensorData q = t.get("vision_model.encoder.layers.0.self_attn.q_proj.bias");
      t.put(q.name(), TensorData.of(q.name(), DType.I64, new long[] {16},
          ByteBuffer.allocate(16 * 8).order(ByteOrder.LITTLE_ENDIAN)));
      List<LazyTensor> l = new ArrayList<>();
      t.forEach((k, v) -> l.add(LazyTensor.of(k, v)));
      Files.delete(dir.resolve("model.safetensors"));
      SafetensorsWriter.writeTensors(dir.resolve("model.safetensors"), l, Map.of("format", "pt"));
    }
    assertThatThrownBy(() -> ModelDescription.read(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("1 missing: vision_model.head.probe [1, 1, 32]")
        .hasMessageContaining("1 unexpected: vision_model.head.extra [2]")
        .hasMessageContaining("text_model.encoder.layers.1.mlp.fc1.bias is [39], expected [40]")
        .hasMessageContaining("vision_model.encoder.layers.0.self_attn.q_proj.bias is [16], expected [32]")
        .hasMessageContaining("not floating point: vision_model.encoder.layers.0.self_attn.q_proj.bias (I64)")
        .hasMessageContaining("q, k and v differ in dtype");
  }

  @Test
  void openClipNamesInAnHfDirectoryGetAHint(@TempDir Path tmp) throws IOException {
    Path dir = copy(fixture("hf-siglip"), tmp.resolve("m"));
    Files.delete(dir.resolve("model.safetensors"));
    List<LazyTensor> l = List.of(LazyTensor.of("visual.trunk.pos_embed", TensorData.of("visual.trunk.pos_embed",
        DType.F32, new long[] {1}, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN))));
    SafetensorsWriter.writeTensors(dir.resolve("model.safetensors"), l, Map.of());
    assertThatThrownBy(() -> ModelDescription.read(dir)).hasMessageContaining("look like open_clip names");
  }

  /** The SigLIP v1 layout: spiece.model (the SentencePiece tests' nfkc model) + a SiglipTokenizer config. */
  private static Path spieceDir(Path tmp) throws IOException {
    Path dir = copy(fixture("hf-siglip-spiece"), tmp.resolve("m"));
    Path nfkc;
    try {
      nfkc = Path.of(HfSiglipModelTest.class.getResource("/dev/clip4j/tokenize/spiece/nfkc/spiece.model").toURI());
    } catch (java.net.URISyntaxException e) {
      throw new IllegalStateException(e);
    }
    Files.copy(nfkc, dir.resolve("spiece.model"));
    return dir;
  }

  private static void editTokenizerConfig(Path dir, java.util.function.Consumer<ObjectNode> edit) throws IOException {
    Path f = dir.resolve("tokenizer_config.json");
    ObjectNode cfg = (ObjectNode) new ObjectMapper().readTree(Files.readAllBytes(f));
    edit.accept(cfg);
    Files.write(f, new ObjectMapper().writeValueAsBytes(cfg));
  }

  /** Rows of ids the tokenizer gives every text of texts.json, compared with transformers' field {@code key}. */
  private static int assertIds(TextTokenizer tok, JsonNode texts, String key, int length) {
    int n = 0;
    for (JsonNode c : texts) {
      String text = c.get("text").asText();
      long[] expected = new long[length];
      for (int i = 0; i < length; i++) {
        expected[i] = c.get(key).get(i).asLong();
      }
      assertThat(tok.rows(List.of(text), length)[0]).as("%s of %s", key, text).containsExactly(expected);
      n++;
    }
    return n;
  }

  @Test
  void aSentencePieceOnlyDirectoryTokenizesAsTransformersSlowSiglipTokenizer(@TempDir Path tmp) throws IOException {
    Path dir = spieceDir(tmp);
    ModelDescription d = ModelDescription.read(dir);
    assertThat(d.tokenizer()).isInstanceOf(TokenizerSpec.TransformersSiglipSpiece.class);
    assertThat(d.tokenizer().source()).endsWith("spiece.model");
    assertThat(d.fileHashes()).containsKeys("spiece.model", "tokenizer_config.json");
    JsonNode texts = new ObjectMapper().readTree(Files.readAllBytes(dir.resolve("texts.json")));
    assertThat(texts.size()).isEqualTo(50);
    List<String> strings = new ArrayList<>();
    texts.forEach(c -> strings.add(c.get("text").asText()));
    try (ClipModel model = ClipModel.load(dir)) {
      assertThat(model.tokenizer().padId()).isEqualTo(1); // pad_token "</s>"
      assertThat(model.tokenizer().maxLength()).isEqualTo(64);
      assertThat(assertIds(model.tokenizer(), texts, "ids", 64)).isEqualTo(50);
      float[][] txt = model.embedTexts(strings);
      float[] flat = new float[txt.length * txt[0].length];
      for (int i = 0; i < txt.length; i++) {
        System.arraycopy(txt[i], 0, flat, i * txt[i].length, txt[i].length);
      }
      float diff = maxAbsDiff(flat, Npy.read(dir.resolve("texts.npy")).floats());
      System.out.printf("hf-siglip-spiece: 50 texts' ids as SiglipTokenizer's, text embeddings %.2e%n", diff);
      assertThat(diff).isLessThanOrEqualTo(1e-5f);
    }
    try (dev.clip4j.tokenize.SiglipSlowTokenizer t8 = new dev.clip4j.tokenize.SiglipSlowTokenizer(dir, 8)) {
      assertThat(assertIds(t8, texts, "ids_8", 8)).isEqualTo(50); // truncation, '</s>' kept last
    }
    editTokenizerConfig(dir, c -> c.put("pad_token", "<pad>")); // a pad id apart from '</s>': where eos ends shows
    try (dev.clip4j.tokenize.SiglipSlowTokenizer pad = new dev.clip4j.tokenize.SiglipSlowTokenizer(dir, 64)) {
      assertThat(pad.padId()).isZero();
      assertThat(assertIds(pad, texts, "ids_pad", 64)).isEqualTo(50);
    }
    editTokenizerConfig(dir, c -> c.put("pad_token", "</s>"));
    editTokenizerConfig(dir, c -> c.put("do_lower_case", false));
    try (dev.clip4j.tokenize.SiglipSlowTokenizer cased = new dev.clip4j.tokenize.SiglipSlowTokenizer(dir, 64)) {
      assertThat(assertIds(cased, texts, "ids_cased", 64)).isEqualTo(50);
    }
    editTokenizerConfig(dir, c -> {
      c.remove("do_lower_case"); // SiglipTokenizer's default: true
      c.remove("added_tokens_decoder"); // the tokens' defaults: lstrip and rstrip
      c.remove("tokenizer_class"); // AutoTokenizer picks SiglipTokenizer for a siglip config
    });
    try (dev.clip4j.tokenize.SiglipSlowTokenizer dflt = new dev.clip4j.tokenize.SiglipSlowTokenizer(dir, 64)) {
      assertThat(assertIds(dflt, texts, "ids", 64)).isEqualTo(50);
    }
  }

  /**
   * The SentencePiece tests' identity model (remove_extra_whitespaces off, eos 2, unk 0): a trailing
   * '▁' piece survives there, so SiglipTokenizer's dropping of a leading '▁' before a special token shows.
   */
  @Test
  void anIdentityNormalisedSentencePieceModelTokenizesAsSiglipTokenizer(@TempDir Path tmp) throws Exception {
    Path dir = copy(fixture("hf-siglip-spiece"), tmp.resolve("m"));
    Files.copy(Path.of(HfSiglipModelTest.class.getResource("/dev/clip4j/tokenize/spiece/ident/spiece.model").toURI()),
        dir.resolve("spiece.model"));
    editTokenizerConfig(dir, c -> c.remove("added_tokens_decoder"));
    JsonNode texts = new ObjectMapper().readTree(Files.readAllBytes(dir.resolve("ident_texts.json")));
    try (dev.clip4j.tokenize.SiglipSlowTokenizer tok = new dev.clip4j.tokenize.SiglipSlowTokenizer(dir, 64)) {
      assertThat(tok.padId()).isEqualTo(2);
      assertThat(assertIds(tok, texts, "ids", 64)).isEqualTo(50);
    }
  }

  @Test
  void aSentencePieceConfigThatClip4jCannotReproduceIsRefusedByName(@TempDir Path tmp) throws IOException {
    Path dir = spieceDir(tmp);
    editTokenizerConfig(dir, c -> {
      c.put("tokenizer_class", "T5Tokenizer");
      c.put("do_lower_case", "yes");
      c.putArray("additional_special_tokens").add("<extra>");
      c.putObject("sp_model_kwargs").put("enable_sampling", true);
      c.put("split_special_tokens", true);
    });
    assertThatThrownBy(() -> ModelDescription.read(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("tokenizer_class \"T5Tokenizer\"")
        .hasMessageContaining("do_lower_case must be true or false")
        .hasMessageContaining("additional_special_tokens")
        .hasMessageContaining("sp_model_kwargs")
        .hasMessageContaining("split_special_tokens");
    Path dir2 = spieceDir(tmp.resolve("b"));
    editTokenizerConfig(dir2, c -> c.put("pad_token", "<nope>"));
    assertThatThrownBy(() -> new dev.clip4j.tokenize.SiglipSlowTokenizer(dir2, 64))
        .isInstanceOf(InvalidModelException.class).hasMessageContaining("'<nope>' is not a piece");
  }

  /**
   * No tokenizer_config.json: transformers' AutoTokenizer picks SiglipTokenizer for the siglip
   * config.json and builds it with its defaults (lower case, '</s>' / '<unk>' / '</s>', both strips),
   * which are this fixture's settings: the same ids as transformers', and the description says so.
   */
  @Test
  void aSentencePieceOnlyDirectoryWithoutTokenizerConfigUsesSiglipTokenizersDefaults(@TempDir Path tmp)
      throws IOException {
    Path dir = spieceDir(tmp);
    Files.delete(dir.resolve("tokenizer_config.json"));
    JsonNode texts = new ObjectMapper().readTree(Files.readAllBytes(dir.resolve("texts.json")));
    ModelDescription d = ModelDescription.read(dir);
    assertThat(d.fileHashes()).containsKey("spiece.model").doesNotContainKey("tokenizer_config.json");
    try (dev.clip4j.tokenize.SiglipSlowTokenizer t = new dev.clip4j.tokenize.SiglipSlowTokenizer(dir, 64)) {
      assertThat(t.describe()).contains("no tokenizer_config.json: SiglipTokenizer's defaults");
      assertThat(t.padId()).isEqualTo(1);
      assertThat(assertIds(t, texts, "ids", 64)).isEqualTo(50);
    }
  }

  @Test
  void aTokenizerJsonWinsOverSpieceModel(@TempDir Path tmp) throws IOException {
    Path dir = copy(fixture("hf-siglip"), tmp.resolve("m"));
    Files.copy(spieceDir(tmp.resolve("s")).resolve("spiece.model"), dir.resolve("spiece.model"));
    ModelDescription d = ModelDescription.read(dir);
    assertThat(d.tokenizer()).isInstanceOf(TokenizerSpec.TransformersHf.class);
    assertThat(d.fileHashes()).containsKey("tokenizer.json").doesNotContainKey("spiece.model");
    Files.delete(dir.resolve("tokenizer.json"));
    Files.delete(dir.resolve("spiece.model"));
    assertThatThrownBy(() -> ModelDescription.read(dir)).hasMessageContaining("no tokenizer");
  }
}
