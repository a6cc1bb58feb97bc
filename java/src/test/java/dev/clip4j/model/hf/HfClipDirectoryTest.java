package dev.clip4j.model.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidModelException;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.LazyTensor;
import dev.clip4j.model.io.SafetensorsWriter;
import dev.clip4j.model.io.ShardedCheckpoint;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.TensorData;
import dev.clip4j.tokenize.ClipTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Whole Hugging Face directories: which files are read, and what is refused. */
class HfClipDirectoryTest {

  @Test
  void fixtureDirectories() throws IOException {
    for (String name : new String[] {"tiny-gelu", "tiny-quickgelu"}) {
      Path oc = HfFixtures.model(name);
      Path dir = oc.resolve("hf");
      assertThat(HfClipDirectory.looksLike(dir)).isTrue();
      assertThat(HfClipDirectory.looksLike(oc)).isFalse();
      try (HfClipDirectory hf = HfClipDirectory.open(dir);
          StateDict want = CheckpointReader.read(oc.resolve("open_clip_model.safetensors"))) {
        assertThat(hf.weightsFile()).isEqualTo(dir.resolve("model.safetensors"));
        assertThat(hf.filesRead()).containsExactly(dir.resolve("config.json"), dir.resolve("preprocessor_config.json"),
            dir.resolve("model.safetensors"));
        assertThat(hf.preprocess()).isEqualTo(HfPreprocessorConfig.read(dir.resolve("preprocessor_config.json")));
        HfFixtures.assertBitIdentical(HfClipWeights.materialize(hf.openClipWeights()), want.tensors());
        ClipTokenizer tok = hf.tokenizer();
        ClipTokenizer bpe = ClipTokenizer.fromBpeVocab(oc.resolve("bpe_simple_vocab_16e6.txt.gz"));
        for (String t : new String[] {"a photo of a cat", "A DIAGRAM of the Solar System!", "日本語のテキスト"}) {
          assertThat(tok.encode(t)).isEqualTo(bpe.encode(t));
        }
        assertThat(tok.eotToken()).isEqualTo(49407);
      }
    }
  }

  /** The fixture's weights split into three shards with an index, links to the other files. */
  @Test
  void fixtureSizedShardedDirectory(@TempDir Path tmp) throws IOException {
    Path src = HfFixtures.model("tiny-gelu").resolve("hf");
    Path dir = Files.createDirectories(tmp.resolve("sharded"));
    for (String f : new String[] {"config.json", "preprocessor_config.json", "vocab.json", "merges.txt"}) {
      Files.createSymbolicLink(dir.resolve(f), src.resolve(f));
    }
    try (StateDict sd = CheckpointReader.read(src.resolve("model.safetensors"))) {
      List<TensorData> all = new ArrayList<>(sd.tensors().values());
      StringBuilder map = new StringBuilder();
      for (int s = 0; s < 3; s++) {
        String shard = String.format("model-%05d-of-00003.safetensors", s + 1);
        List<LazyTensor> part = new ArrayList<>();
        for (int i = s; i < all.size(); i += 3) {
          part.add(LazyTensor.of(all.get(i).name(), all.get(i)));
          map.append(map.length() == 0 ? "" : ",").append('"').append(all.get(i).name()).append("\":\"").append(shard).append('"');
        }
        SafetensorsWriter.writeTensors(dir.resolve(shard), part, Map.of("format", "pt"));
      }
      Files.writeString(dir.resolve(ShardedCheckpoint.SAFETENSORS_INDEX), "{\"metadata\":{},\"weight_map\":{" + map + "}}");
    }
    try (HfClipDirectory hf = HfClipDirectory.open(dir);
        StateDict want = CheckpointReader.read(HfFixtures.model("tiny-gelu").resolve("open_clip_model.safetensors"))) {
      assertThat(hf.weightsFile().getFileName().toString()).isEqualTo(ShardedCheckpoint.SAFETENSORS_INDEX);
      assertThat(hf.hfWeights().metadata()).containsEntry("shards", "3");
      long bytes = HfFixtures.assertBitIdentical(HfClipWeights.materialize(hf.openClipWeights()), want.tensors());
      assertThat(bytes).isGreaterThan(7_600_000);
    }
  }

  /** pytorch_model.bin with position_ids; model.safetensors wins when both are present. */
  @Test
  void weightFilesAreChosenAsTransformersChoosesThem(@TempDir Path tmp) throws IOException {
    Path legacy = HfFixtures.resource("models/legacy-bin");
    Path dir = Files.createDirectories(tmp.resolve("legacy"));
    Files.copy(legacy.resolve("config.json"), dir.resolve("config.json"));
    Files.copy(legacy.resolve("pytorch_model.bin"), dir.resolve("pytorch_model.bin"));
    Files.writeString(dir.resolve("preprocessor_config.json"), "{\"size\":{\"shortest_edge\":8},\"crop_size\":8}");
    try (HfClipDirectory hf = HfClipDirectory.open(dir);
        StateDict want = CheckpointReader.read(legacy.resolve("expected_open_clip.safetensors"))) {
      assertThat(hf.weightsFile()).isEqualTo(dir.resolve("pytorch_model.bin"));
      assertThat(hf.hfWeights().keys()).contains("text_model.embeddings.position_ids");
      HfFixtures.assertBitIdentical(HfClipWeights.materialize(hf.openClipWeights()), want.tensors());
    }
    // A model.safetensors beside it is preferred (here a broken one, to prove it is the one read).
    Files.write(dir.resolve("model.safetensors"), new byte[] {1, 2, 3});
    assertThatThrownBy(() -> HfClipDirectory.open(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("model.safetensors");
  }

  @Test
  void singleTowerDirectories(@TempDir Path tmp) throws IOException {
    Path text = HfFixtures.resource("models/text-with-projection");
    try (HfClipDirectory hf = HfClipDirectory.open(text)) {
      assertThat(hf.preprocess()).isNull(); // no image tower: no preprocessor needed
      assertThat(hf.openClipWeights()).extracting(LazyTensor::name).contains("text_projection", "token_embedding.weight");
      assertThatThrownBy(hf::tokenizer).isInstanceOf(InvalidModelException.class).hasMessageContaining("vocab.json");
    }
    // A vocabulary the tiny text tower (vocab_size 50) cannot embed.
    Path t2 = Files.createDirectories(tmp.resolve("text"));
    for (String f : new String[] {"config.json", "model.safetensors"}) {
      Files.copy(text.resolve(f), t2.resolve(f));
    }
    Path fx = HfFixtures.model("tiny-gelu").resolve("hf");
    Files.copy(fx.resolve("vocab.json"), t2.resolve("vocab.json"));
    Files.copy(fx.resolve("merges.txt"), t2.resolve("merges.txt"));
    try (HfClipDirectory hf = HfClipDirectory.open(t2)) {
      assertThatThrownBy(hf::tokenizer).isInstanceOf(InvalidModelException.class)
          .hasMessageContainingAll("49408 symbols", "vocab_size 50");
    }
    Path vision = HfFixtures.resource("models/vision-with-projection");
    Path v2 = Files.createDirectories(tmp.resolve("vision"));
    Files.copy(vision.resolve("config.json"), v2.resolve("config.json"));
    Files.copy(vision.resolve("model.safetensors"), v2.resolve("model.safetensors"));
    assertThatThrownBy(() -> HfClipDirectory.open(v2)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("no preprocessor_config.json");
    Files.writeString(v2.resolve("preprocessor_config.json"), "{}"); // 224 px, the tower takes 8
    assertThatThrownBy(() -> HfClipDirectory.open(v2)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("224 px inputs but").hasMessageContaining("vision_config.image_size = 8");
    Files.writeString(v2.resolve("preprocessor_config.json"), "{\"size\":8,\"crop_size\":8}");
    try (HfClipDirectory hf = HfClipDirectory.open(v2)) {
      assertThat(hf.preprocess().imageSize()).isEqualTo(8);
      assertThatThrownBy(hf::tokenizer).isInstanceOf(IllegalStateException.class);
    }
  }

  @Test
  void directoriesWithoutUsableWeights(@TempDir Path tmp) throws IOException {
    Path src = HfFixtures.model("tiny-gelu").resolve("hf");
    Path dir = Files.createDirectories(tmp.resolve("tf"));
    Files.copy(src.resolve("config.json"), dir.resolve("config.json"));
    Files.copy(src.resolve("preprocessor_config.json"), dir.resolve("preprocessor_config.json"));
    Files.writeString(dir.resolve("tf_model.h5"), "x");
    assertThatThrownBy(() -> HfClipDirectory.open(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContainingAll("no PyTorch weights", "tf_model.h5", "TensorFlow");
    assertThatThrownBy(() -> HfClipDirectory.open(tmp.resolve("nothing"))).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("not a directory");
    Files.writeString(dir.resolve("config.json"), "{\"model_type\":");
    assertThat(HfClipDirectory.looksLike(dir)).isFalse();
    assertThatThrownBy(() -> HfClipDirectory.open(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("not valid JSON");
  }

  /** Weights that do not fit the config are all listed, naming the weights file. */
  @Test
  void mismatchedWeightsAreListed(@TempDir Path tmp) throws IOException {
    Path src = HfFixtures.model("tiny-gelu").resolve("hf");
    Path dir = Files.createDirectories(tmp.resolve("m"));
    Files.writeString(dir.resolve("config.json"), Files.readString(src.resolve("config.json"))
        .replace("\"num_hidden_layers\": 2,\n    \"image_size\"", "\"num_hidden_layers\": 3,\n    \"image_size\""));
    Files.copy(src.resolve("preprocessor_config.json"), dir.resolve("preprocessor_config.json"));
    try (StateDict sd = CheckpointReader.read(src.resolve("model.safetensors"))) {
      Map<String, TensorData> t = new LinkedHashMap<>(sd.tensors());
      t.remove("logit_scale");
      List<LazyTensor> l = new ArrayList<>();
      t.forEach((k, v) -> l.add(LazyTensor.of(k, v)));
      SafetensorsWriter.writeTensors(dir.resolve("model.safetensors"), l, Map.of());
    }
    assertThatThrownBy(() -> HfClipDirectory.open(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContainingAll(dir.resolve("model.safetensors").toString(), "17 missing:",
            "vision_model.encoder.layers.2.self_attn.q_proj.weight [64, 64]", "logit_scale []", "ViT 224px/32 width 64 x3");
  }
}
