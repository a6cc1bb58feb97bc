package dev.clip4j.model.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.head.Activation;
import dev.clip4j.model.MlpActivation;
import dev.clip4j.model.ModelConfig;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.TensorData;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.testing.Conformance;
import dev.clip4j.tokenize.ClipTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Round trips between open_clip's layout and transformers', bit for bit. */
class HfClipWriterTest {

  /** open_clip fixture -> HF dir -> read back: every tensor, the config, tokenizer and preprocessing. */
  @Test
  void openClipFixtureToHfDirectoryAndBack(@TempDir Path tmp) throws IOException {
    for (String name : new String[] {"tiny-gelu", "tiny-quickgelu"}) {
      Path oc = HfFixtures.model(name);
      ModelConfig cfg = ModelConfig.parse(oc.resolve("open_clip_config.json"));
      MlpActivation act = MlpActivation.resolve(cfg, null, null, null);
      PreprocessConfig pre = PreprocessConfig.fromOpenClip(cfg.preprocessCfg(), cfg.vision().imageSize());
      Path out = tmp.resolve(name);
      HfClipWriter.Result r;
      try (StateDict sd = CheckpointReader.read(oc.resolve("open_clip_model.safetensors"))) {
        r = HfClipWriter.write(out, cfg, act, pre, sd.tensors(), TokenizerSource.find(oc));
        assertThat(r.files()).extracting(p -> p.getFileName().toString()).containsExactly("config.json",
            "model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
            "preprocessor_config.json");
        assertThat(r.notes()).hasSize(2).anySatisfy(n -> assertThat(n).contains("floors the center crop"))
            .anySatisfy(n -> assertThat(n).contains("before resizing"));
        try (HfClipDirectory hf = HfClipDirectory.open(out)) {
          long bytes = HfFixtures.assertBitIdentical(HfClipWeights.materialize(hf.openClipWeights()), sd.tensors());
          assertThat(bytes).isGreaterThan(7_600_000);
          assertThat(hf.config().toModelConfig().vision()).isEqualTo(cfg.vision());
          assertThat(hf.config().toModelConfig().text()).isEqualTo(cfg.text());
          assertThat(hf.config().activation().activation()).isEqualTo(act.activation());
          // The preprocessing is the fixture HF directory's (CLIPImageProcessor's).
          assertThat(hf.preprocess()).isEqualTo(HfPreprocessorConfig.read(oc.resolve("hf/preprocessor_config.json")));
          // The tokenizer gives open_clip's ids on every conformance text.
          assertSameTokens(hf.tokenizer(), ClipTokenizer.fromBpeVocab(oc.resolve("bpe_simple_vocab_16e6.txt.gz")));
        }
      }
      // The written HF files equal the fixture's HF directory: tensors, vocabulary, merges.
      try (StateDict written = CheckpointReader.read(out.resolve("model.safetensors"));
          StateDict fixture = CheckpointReader.read(oc.resolve("hf/model.safetensors"))) {
        HfFixtures.assertBitIdentical(written.tensors(), fixture.tensors());
        assertThat(written.metadata()).containsEntry("format", "pt");
      }
      // The fixture's vocab.json names the specials as open_clip does (<start_of_text>); transformers'
      // CLIPTokenizer, real Hugging Face repositories and the fixture's own tokenizer_config.json use
      // <|startoftext|> / <|endoftext|>, which is what is written. Everything else is equal.
      com.fasterxml.jackson.databind.node.ObjectNode fixtureVocab =
          (com.fasterxml.jackson.databind.node.ObjectNode) HfFixtures.json(oc.resolve("hf/vocab.json"));
      assertThat(fixtureVocab.remove("<start_of_text>").asInt()).isEqualTo(49406);
      assertThat(fixtureVocab.remove("<end_of_text>").asInt()).isEqualTo(49407);
      fixtureVocab.put("<|startoftext|>", 49406).put("<|endoftext|>", 49407);
      assertThat(HfFixtures.json(out.resolve("vocab.json"))).isEqualTo(fixtureVocab);
      assertThat(mergeLines(out.resolve("merges.txt"))).isEqualTo(mergeLines(oc.resolve("hf/merges.txt")));
      JsonNode tc = HfFixtures.json(out.resolve("tokenizer_config.json"));
      JsonNode ftc = HfFixtures.json(oc.resolve("hf/tokenizer_config.json"));
      for (String k : new String[] {"model_max_length", "bos_token", "eos_token", "unk_token", "pad_token", "tokenizer_class"}) {
        assertThat(tc.get(k)).as(k).isEqualTo(ftc.get(k));
      }
      HfClipConfig written = HfClipConfig.parse(out.resolve("config.json"));
      HfClipConfig fixture = HfClipConfig.parse(oc.resolve("hf/config.json"));
      assertThat(written).usingRecursiveComparison().ignoringFields("source", "vision.activation.source",
          "text.activation.source").isEqualTo(fixture);
    }
  }

  /** HF fixture -> open_clip hub dir: the fixture's open_clip weights, bit for bit, and its config. */
  @Test
  void hfFixtureToOpenClipHubDirectory(@TempDir Path tmp) throws IOException {
    for (String name : new String[] {"tiny-gelu", "tiny-quickgelu"}) {
      Path oc = HfFixtures.model(name);
      Path out = tmp.resolve(name);
      try (HfClipDirectory hf = HfClipDirectory.open(oc.resolve("hf"))) {
        Map<String, TensorData> weights = HfClipWeights.materialize(hf.openClipWeights());
        HfClipWriter.Result r = OpenClipHubWriter.write(out, hf.config().toModelConfig(), hf.config().activation(),
            hf.preprocess(), weights, TokenizerSource.find(oc.resolve("hf")));
        assertThat(r.notes()).hasSize(2);
        assertThat(r.files()).extracting(p -> p.getFileName().toString())
            .containsExactly("open_clip_config.json", "open_clip_model.safetensors", "vocab.json", "merges.txt");
      }
      try (StateDict written = CheckpointReader.read(out.resolve("open_clip_model.safetensors"));
          StateDict fixture = CheckpointReader.read(oc.resolve("open_clip_model.safetensors"))) {
        long bytes = HfFixtures.assertBitIdentical(written.tensors(), fixture.tensors());
        assertThat(bytes).isGreaterThan(7_600_000);
      }
      ModelConfig back = ModelConfig.parse(out.resolve("open_clip_config.json"));
      ModelConfig want = ModelConfig.parse(oc.resolve("open_clip_config.json"));
      assertThat(back.vision()).isEqualTo(want.vision());
      assertThat(back.text()).isEqualTo(want.text());
      assertThat(back.quickGelu()).isEqualTo(want.quickGelu());
      assertThat(PreprocessConfig.fromOpenClip(back.preprocessCfg(), 224))
          .isEqualTo(PreprocessConfig.fromOpenClip(want.preprocessCfg(), 224));
      assertSameTokens(ClipTokenizer.fromDirectory(out), ClipTokenizer.fromBpeVocab(oc.resolve("bpe_simple_vocab_16e6.txt.gz")));
    }
  }

  @Test
  void refusals(@TempDir Path tmp) throws IOException {
    Path oc = HfFixtures.model("tiny-gelu");
    ModelConfig cfg = ModelConfig.parse(oc.resolve("open_clip_config.json"));
    MlpActivation act = new MlpActivation(Activation.GELU, "t");
    PreprocessConfig pre = PreprocessConfig.defaults();
    TokenizerSource tok = TokenizerSource.find(oc);
    try (StateDict sd = CheckpointReader.read(oc.resolve("open_clip_model.safetensors"))) {
      Path notEmpty = Files.createDirectories(tmp.resolve("full"));
      Files.writeString(notEmpty.resolve("x"), "x");
      assertThatThrownBy(() -> HfClipWriter.write(notEmpty, cfg, act, pre, sd.tensors(), tok))
          .isInstanceOf(Clip4jException.class).matches(e -> ((Clip4jException) e).code() == ErrorCode.IO)
          .hasMessageContaining("not empty");
      Map<String, TensorData> broken = new LinkedHashMap<>(sd.tensors());
      broken.remove("ln_final.bias");
      broken.put("visual.proj.bias", HfClipWeightsTest.tensor(dev.clip4j.model.io.DType.F32, 64));
      Path out = tmp.resolve("broken");
      assertThatThrownBy(() -> HfClipWriter.write(out, cfg, act, pre, broken, tok))
          .isInstanceOf(InvalidModelException.class).hasMessageContainingAll("1 missing: ln_final.bias [32]",
              "1 unexpected: visual.proj.bias [64]");
      assertThat(out).doesNotExist(); // nothing written before the checks
      assertThatThrownBy(() -> OpenClipHubWriter.write(out, cfg, act, pre, broken, tok))
          .isInstanceOf(InvalidModelException.class).hasMessageContaining("ln_final.bias");
      assertThat(out).doesNotExist();
      // A vocabulary larger than the model's.
      ModelConfig small = new ModelConfig(64, false, cfg.vision(), new dev.clip4j.model.TextConfig(77, 1000, 32, 2, 2, 4.0, false),
          null, null, "small");
      assertThatThrownBy(() -> HfClipWriter.write(tmp.resolve("small"), small, act, pre, sd.tensors(), tok))
          .isInstanceOf(InvalidModelException.class).hasMessageContaining("vocab_size is 1000");
    }
  }

  private static List<String> mergeLines(Path p) throws IOException {
    List<String> lines = new ArrayList<>(Arrays.asList(Files.readString(p).strip().split("\n")));
    lines.remove(0); // "#version: ..." header, which transformers skips
    return lines;
  }

  /** Texts beyond the conformance cases: specials, HTML, ftfy's business, long and empty. */
  private static final List<String> MORE = List.of("<start_of_text>a cat<end_of_text>", "<|endoftext|>",
      "&amp;&lt;b&gt; bold &#x1F431;", "ﬁnancial ＦＵＬＬ width “quotes”", "Ünïcödé ÇÀFÉ", "\t\n  ", "don't won't y'all",
      "x".repeat(500), "1234567890 3.14 -2e5", "中文 日本語 한국어 العربية");

  private static void assertSameTokens(ClipTokenizer a, ClipTokenizer b) throws IOException {
    List<String> texts = new ArrayList<>();
    for (String line : Files.readAllLines(Conformance.dir().resolve("tokenizer_cases.jsonl"))) {
      if (!line.isBlank()) {
        texts.add(HfFixtures.JSON.readTree(line).get("text").asText());
      }
    }
    assertThat(texts).hasSize(13);
    texts.addAll(MORE);
    for (String text : texts) {
      assertThat(a.encode(text)).as(text).isEqualTo(b.encode(text));
    }
    assertThat(a.sotToken()).isEqualTo(b.sotToken()).isEqualTo(49406);
    assertThat(a.eotToken()).isEqualTo(b.eotToken()).isEqualTo(49407);
  }
}
