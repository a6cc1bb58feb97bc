package dev.clip4j.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.ImageSource;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.SiglipModelTest;
import dev.clip4j.zeroshot.ZeroShotClassifier;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * /v1/classify with a SigLIP model (the tiny open_clip SigLIP fixture): a sigmoid per label with
 * the model's logit_bias, bit for bit the library's {@link ZeroShotClassifier#buildSigmoid}
 * for the same labels and templates, logits equal to exp(logit_scale) * image . class +
 * logit_bias with open_clip's own scale and bias, and {@code "scoring": "sigmoid"} in the answer.
 */
class ServerSiglipClassifyTest {

  @TempDir static Path tmp;

  /**
   * The tiny-siglip fixture of the library's tests as a directory: copied out of the test jar
   * (a reactor build past package puts it in one), or the directory itself.
   */
  static Path fixture() throws Exception {
    String base = "/dev/clip4j/model/siglip/tiny-siglip/";
    java.net.URL url = SiglipModelTest.class.getResource(base + "open_clip_config.json");
    assertThat(url).as("the tiny-siglip fixture on the test classpath").isNotNull();
    if (url.getProtocol().equals("file")) {
      return Path.of(url.toURI()).getParent();
    }
    Path dir = tmp.resolve("tiny-siglip");
    java.nio.file.Files.createDirectories(dir);
    for (String f : List.of("open_clip_config.json", "open_clip_pytorch_model.bin", "tokenizer.json",
        "tokenizer_config.json", "trunk.json", "logit_bias.npy", "logit_scale.npy")) {
      try (java.io.InputStream in = SiglipModelTest.class.getResourceAsStream(base + f)) {
        assertThat(in).as(f).isNotNull();
        java.nio.file.Files.copy(in, dir.resolve(f));
      }
    }
    return dir;
  }

  @Test
  void siglipClassifyIsTheLibrarysSigmoidWithLogitBias() throws Exception {
    Path dir = fixture();
    float scaleRef = Npy.read(dir.resolve("logit_scale.npy")).floats()[0]; // open_clip's, from the generator
    float biasRef = Npy.read(dir.resolve("logit_bias.npy")).floats()[0];
    List<String> labels = List.of("cat", "dog", "red car", "two dogs playing in the snow");
    List<String> templates = List.of("a photo of a {}.", "{}");
    List<Path> files = TestModels.images().subList(0, 3);
    List<String> inputs = new ArrayList<>();
    for (Path p : files) {
      inputs.add(TestModels.dataUri(p));
    }
    EmbeddingServer server = EmbeddingServer.start(ServerConfig.defaults().withPort(0));
    try (ClipModel refModel = SiglipModelTest.load(dir); ClipEmbedder ref = ClipEmbedder.create(refModel)) {
      assertThat(refModel.sigmoidScoring()).isTrue();
      assertThat(refModel.logitBias()).isEqualTo(biasRef);
      assertThat(refModel.logitScale()).isEqualTo(scaleRef);
      server.addModel("siglip", SiglipModelTest.load(dir), 0.1);
      server.ready();
      ZeroShotClassifier zs = ZeroShotClassifier.buildSigmoid(labels, templates,
          texts -> ref.embedTexts(texts).stream().map(CompletableFuture::join).toArray(float[][]::new),
          refModel.logitScale(), refModel.logitBias());
      float[][] promptRows = new float[labels.size() * templates.size()][];
      for (int c = 0; c < labels.size(); c++) {
        for (int t = 0; t < templates.size(); t++) {
          promptRows[c * templates.size() + t] = ref.embedText(templates.get(t).replace("{}", labels.get(c))).join();
        }
      }
      long promptTokens = 0;
      for (String l : labels) {
        for (String t : templates) {
          promptTokens += refModel.tokenizer().ids(t.replace("{}", l)).length;
        }
      }

      Map<String, Object> body = new LinkedHashMap<>();
      body.put("input", inputs);
      body.put("labels", labels);
      body.put("templates", templates);
      body.put("top_k", labels.size());
      Http.Reply r = new Http(server.port(), null).post("/v1/classify", body);
      assertThat(r.status()).as(r.body()).isEqualTo(200);
      assertThat(r.json().get("scoring").asText()).isEqualTo("sigmoid");
      assertThat(r.json().at("/usage/prompt_tokens").asLong()).isEqualTo(promptTokens);
      for (int i = 0; i < files.size(); i++) {
        float[] image = ref.embedImage(ImageSource.of(files.get(i))).join();
        float[] logits = zs.logits(image);
        float[] probs = zs.probabilities(image);
        JsonNode top = r.json().get("data").get(i).get("labels");
        assertThat(top).hasSize(labels.size());
        double prev = Double.POSITIVE_INFINITY;
        double softmaxSum = 0;
        for (float l : logits) {
          softmaxSum += Math.exp(l);
        }
        double farthestFromSoftmax = 0;
        for (JsonNode t : top) {
          int c = labels.indexOf(t.get("label").asText());
          float logit = Float.parseFloat(t.get("logit").asText());
          float prob = Float.parseFloat(t.get("probability").asText());
          // The library's classifier, bit for bit.
          assertThat(Float.floatToRawIntBits(logit)).as("logit %s", labels.get(c))
              .isEqualTo(Float.floatToRawIntBits(logits[c]));
          assertThat(Float.floatToRawIntBits(prob)).as("probability %s", labels.get(c))
              .isEqualTo(Float.floatToRawIntBits(probs[c]));
          // The formula, with open_clip's scale and bias: the mean of the label's prompt rows, normalised.
          double[] mean = new double[image.length];
          for (int tpl = 0; tpl < templates.size(); tpl++) {
            float[] row = promptRows[c * templates.size() + tpl];
            for (int j = 0; j < mean.length; j++) {
              mean[j] += row[j];
            }
          }
          double norm = 0;
          double dot = 0;
          for (int j = 0; j < mean.length; j++) {
            norm += mean[j] * mean[j];
          }
          for (int j = 0; j < mean.length; j++) {
            dot += image[j] * mean[j] / Math.sqrt(norm);
          }
          double want = Math.exp(scaleRef) * dot + biasRef;
          assertThat((double) logit).isCloseTo(want, Offset.offset(1e-4));
          assertThat((double) prob).isCloseTo(1 / (1 + Math.exp(-want)), Offset.offset(1e-6));
          assertThat((double) logit).isLessThanOrEqualTo(prev);
          prev = logit;
          farthestFromSoftmax = Math.max(farthestFromSoftmax, Math.abs(prob - Math.exp(logit) / softmaxSum));
        }
        assertThat(farthestFromSoftmax).as("sigmoid, not a softmax over the labels").isGreaterThan(1e-3);
      }
    } finally {
      server.stop();
    }
  }
}
