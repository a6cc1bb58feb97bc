package dev.clip4j.model.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidModelException;
import dev.clip4j.model.ModelConfig;
import dev.clip4j.model.StateDictSchema;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.DType;
import dev.clip4j.model.io.LazyTensor;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.TensorData;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** transformers names to open_clip names and back, bit for bit, and every key checked. */
class HfClipWeightsTest {

  /** The fixtures' hf/model.safetensors maps to exactly the fixtures' open_clip weights. */
  @Test
  void fixtureHfWeightsAreTheOpenClipFixtureWeightsBitForBit() {
    long total = 0;
    for (String name : new String[] {"tiny-gelu", "tiny-quickgelu"}) {
      Path dir = HfFixtures.model(name);
      HfClipWeights w = HfClipWeights.of(HfClipConfig.parse(dir.resolve("hf/config.json")));
      try (StateDict hf = CheckpointReader.read(dir.resolve("hf/model.safetensors"));
          StateDict oc = CheckpointReader.read(dir.resolve("open_clip_model.safetensors"))) {
        List<LazyTensor> lazy = w.toOpenClip(hf.tensors(), name);
        Map<String, TensorData> mapped = HfClipWeights.materialize(lazy);
        total += HfFixtures.assertBitIdentical(mapped, oc.tensors());
        // open_clip's own order, too.
        assertThat(new ArrayList<>(mapped.keySet())).isEqualTo(new ArrayList<>(w.openClipShapes().keySet()));
        // And back: open_clip -> transformers gives the HF file's tensors.
        Map<String, TensorData> back = HfClipWeights.materialize(w.toHf(oc.tensors(), name));
        total += HfFixtures.assertBitIdentical(back, hf.tensors());
      }
    }
    System.out.println("HF <-> open_clip fixture weights: " + total + " bytes compared bit for bit");
    assertThat(total).isGreaterThan(4L * 7_600_000);
  }

  /** The table's open_clip side is StateDictSchema's, name for name, shape for shape, in order. */
  @Test
  void openClipSideIsTheSchemaOfTheModelConfig() {
    HfClipConfig cfg = HfClipConfig.parse(HfFixtures.model("tiny-gelu").resolve("hf/config.json"));
    ModelConfig mc = cfg.toModelConfig();
    Map<String, long[]> schema = StateDictSchema.of(mc).shapes();
    Map<String, long[]> table = HfClipWeights.of(cfg).openClipShapes();
    assertThat(new ArrayList<>(table.keySet())).isEqualTo(new ArrayList<>(schema.keySet()));
    schema.forEach((k, v) -> assertThat(table.get(k)).as(k).isEqualTo(v));
  }

  /** Single towers, an old pytorch_model.bin with position_ids, sharded fp16 and torch checkpoints. */
  @Test
  void generatorModelsMapToThePythonMappedWeights() {
    Map<String, String> weights = new LinkedHashMap<>();
    weights.put("vision-with-projection", "model.safetensors");
    weights.put("text-with-projection", "model.safetensors");
    weights.put("legacy-bin", "pytorch_model.bin");
    weights.put("sharded-fp16", "model.safetensors.index.json");
    weights.put("sharded-bin", "pytorch_model.bin.index.json");
    long total = 0;
    for (Map.Entry<String, String> e : weights.entrySet()) {
      Path dir = HfFixtures.resource("models/" + e.getKey());
      HfClipConfig cfg = HfClipConfig.parse(dir.resolve("config.json"));
      Path file = dir.resolve(e.getValue());
      try (StateDict hf = e.getValue().endsWith(".index.json") ? CheckpointReader.readSharded(file)
              : CheckpointReader.read(file);
          StateDict expected = CheckpointReader.read(dir.resolve("expected_open_clip.safetensors"))) {
        Map<String, TensorData> mapped = HfClipWeights.materialize(HfClipWeights.of(cfg).toOpenClip(hf.tensors(), e.getKey()));
        total += HfFixtures.assertBitIdentical(mapped, expected.tensors());
        if (e.getKey().equals("legacy-bin")) {
          assertThat(hf.keys()).contains("text_model.embeddings.position_ids", "vision_model.embeddings.position_ids");
          assertThat(hf.get("text_model.embeddings.position_ids").dtype()).isEqualTo(DType.I64);
          assertThat(mapped).doesNotContainKey("text_model.embeddings.position_ids");
        }
        if (e.getKey().equals("sharded-fp16")) {
          assertThat(mapped.values()).allSatisfy(t -> assertThat(t.dtype()).isEqualTo(DType.F16));
        }
        if (e.getKey().startsWith("vision")) {
          assertThat(mapped.keySet()).allSatisfy(k -> assertThat(k).startsWith("visual."));
        }
        if (e.getKey().startsWith("text")) {
          assertThat(mapped).containsKeys("token_embedding.weight", "text_projection").doesNotContainKey("logit_scale");
        }
      }
    }
    assertThat(total).isGreaterThan(100_000);
  }

  /** Missing, unexpected, mis-shaped and non-float tensors are listed together, with shapes. */
  @Test
  void everyProblemIsListedInOneError() {
    Path dir = HfFixtures.model("tiny-gelu");
    HfClipWeights w = HfClipWeights.of(HfClipConfig.parse(dir.resolve("hf/config.json")));
    try (StateDict hf = CheckpointReader.read(dir.resolve("hf/model.safetensors"))) {
      Map<String, TensorData> broken = new LinkedHashMap<>(hf.tensors());
      broken.remove("vision_model.encoder.layers.1.self_attn.k_proj.bias");
      broken.remove("text_projection.weight");
      broken.put("text_model.pooler.dense.weight", tensor(DType.F32, 4, 4));
      broken.put("vision_model.post_layernorm.weight", tensor(DType.F32, 63));
      broken.put("logit_scale", tensor(DType.I64));
      broken.put("text_model.embeddings.position_ids", tensor(DType.I64, 1, 77)); // accepted, ignored
      assertThatThrownBy(() -> w.toOpenClip(broken, "broken.safetensors"))
          .isInstanceOf(InvalidModelException.class)
          .hasMessageContainingAll("broken.safetensors", "2 missing:",
              "vision_model.encoder.layers.1.self_attn.k_proj.bias [64]", "text_projection.weight [64, 32]",
              "1 unexpected: text_model.pooler.dense.weight [4, 4]",
              "1 with the wrong shape: vision_model.post_layernorm.weight is [63], expected [64]",
              "1 not floating point: logit_scale (I64)")
          .satisfies(ex -> assertThat(ex.getMessage()).doesNotContain("position_ids"));
      // q, k, v of one block in different dtypes cannot be fused.
      Map<String, TensorData> mixed = new LinkedHashMap<>(hf.tensors());
      mixed.put("text_model.encoder.layers.0.self_attn.v_proj.bias", tensor(DType.F16, 32));
      assertThatThrownBy(() -> w.toOpenClip(mixed, "mixed"))
          .isInstanceOf(InvalidModelException.class).hasMessageContaining("q, k and v differ in dtype");
      // open_clip names given where transformers' are expected: said so.
      try (StateDict oc = CheckpointReader.read(dir.resolve("open_clip_model.safetensors"))) {
        assertThatThrownBy(() -> w.toOpenClip(oc.tensors(), "oc"))
            .isInstanceOf(InvalidModelException.class).hasMessageContaining("hint: the keys look like open_clip names");
        Map<String, TensorData> ocBroken = new LinkedHashMap<>(oc.tensors());
        ocBroken.remove("visual.proj");
        assertThatThrownBy(() -> w.toHf(ocBroken, "oc"))
            .isInstanceOf(InvalidModelException.class).hasMessageContaining("1 missing: visual.proj [64, 64]");
      }
    }
  }

  @Test
  void transposeAndConcatByHand() {
    ByteBuffer b = ByteBuffer.allocate(6 * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < 6; i++) {
      b.putFloat(i);
    }
    b.flip();
    TensorData m = TensorData.of("m", DType.F32, new long[] {2, 3}, b); // [[0,1,2],[3,4,5]]
    TensorData t = HfClipWeights.transpose(m, "t");
    assertThat(t.shape()).containsExactly(3, 2);
    assertThat(t.toFloatArray()).containsExactly(0, 3, 1, 4, 2, 5);
    ByteBuffer h = ByteBuffer.allocate(6 * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < 6; i++) {
      h.putShort((short) (0x3c00 + i)); // distinct halves
    }
    h.flip();
    TensorData half = TensorData.of("h", DType.F16, new long[] {3, 2}, h);
    TensorData th = HfClipWeights.transpose(half, "th");
    ByteBuffer d = th.data();
    assertThat(new int[] {d.getShort(0), d.getShort(2), d.getShort(4), d.getShort(6), d.getShort(8), d.getShort(10)})
        .containsExactly(0x3c00, 0x3c02, 0x3c04, 0x3c01, 0x3c03, 0x3c05);
    TensorData q = tensor(DType.F32, 2);
    TensorData c = HfClipWeights.concat("c", new long[] {6}, q, m(7, 8), m(9, 10));
    assertThat(c.toFloatArray()).containsExactly(0, 0, 7, 8, 9, 10);
  }

  /** Each lazy fused tensor is built when loaded, as a new buffer, from views of the source. */
  @Test
  void renamesAreViewsAndFusedTensorsAreBuiltOnLoad() {
    Path dir = HfFixtures.model("tiny-gelu");
    HfClipWeights w = HfClipWeights.of(HfClipConfig.parse(dir.resolve("hf/config.json")));
    try (StateDict hf = CheckpointReader.read(dir.resolve("hf/model.safetensors"))) {
      List<LazyTensor> lazy = w.toOpenClip(hf.tensors(), "x");
      LazyTensor tok = lazy.stream().filter(l -> l.name().equals("token_embedding.weight")).findFirst().orElseThrow();
      assertThat(tok.load().data().isDirect()).isTrue(); // the mapping itself, renamed
      assertThat(tok.load().data().isReadOnly()).isTrue();
      LazyTensor inProj = lazy.stream().filter(l -> l.name().equals("visual.transformer.resblocks.0.attn.in_proj_weight"))
          .findFirst().orElseThrow();
      assertThat(inProj.shape()).containsExactly(192, 64);
      TensorData a = inProj.load();
      TensorData b = inProj.load();
      assertThat(a.data()).isNotSameAs(b.data());
      assertThat(HfFixtures.bytes(a)).isEqualTo(HfFixtures.bytes(b));
    }
  }

  private static TensorData m(float x, float y) {
    ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(x).putFloat(y).flip();
    return TensorData.of("m", DType.F32, new long[] {2}, b);
  }

  static TensorData tensor(DType dtype, long... shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return TensorData.of("t", dtype, shape, ByteBuffer.allocate((int) (n * dtype.byteSize())));
  }
}
