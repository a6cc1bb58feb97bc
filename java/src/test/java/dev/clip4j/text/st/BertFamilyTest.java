package dev.clip4j.text.st;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.SafetensorsWriter;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.StateDictTensors;
import dev.clip4j.testing.Tensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * BERT and XLM-RoBERTa encoders, checked by equivalence: the DistilBERT fixture's weights,
 * renamed into each architecture's layout (zero token-type embeddings; XLM-R's positions shifted
 * by its padding offset), must give the DistilBERT pipeline's embeddings.
 */
class BertFamilyTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static Map<String, Tensor> distilWeights() {
    try (StateDict sd = CheckpointReader.read(SentenceTransformerPipelineTest.fixture().resolve("model.safetensors"))) {
      return StateDictTensors.toTensors(sd);
    }
  }

  private static String rename(String k) {
    return k.replace("transformer.layer.", "encoder.layer.")
        .replace("attention.q_lin", "attention.self.query").replace("attention.k_lin", "attention.self.key")
        .replace("attention.v_lin", "attention.self.value").replace("attention.out_lin", "attention.output.dense")
        .replace("sa_layer_norm", "attention.output.LayerNorm").replace("ffn.lin1", "intermediate.dense")
        .replace("ffn.lin2", "output.dense").replace("output_layer_norm", "output.LayerNorm");
  }

  /** A pipeline directory: the fixture's tokenizer/pooling/dense files, this encoder config and weights. */
  private static Path variant(Path tmp, String name, ObjectNode config, Map<String, Tensor> weights) throws Exception {
    Path dir = SentenceTransformerPipelineTest.copy(tmp.resolve(name));
    Files.delete(dir.resolve("config.json"));
    Files.delete(dir.resolve("model.safetensors"));
    Files.delete(dir.resolve("pytorch_model.bin"));
    JSON.writeValue(dir.resolve("config.json").toFile(), config);
    SafetensorsWriter.write(dir.resolve("model.safetensors"), weights, Map.of());
    return dir;
  }

  private static ObjectNode bertConfig(String type, int padId, int positions) {
    ObjectNode c = JSON.createObjectNode();
    c.put("model_type", type);
    c.put("hidden_size", 48);
    c.put("num_attention_heads", 3);
    c.put("num_hidden_layers", 2);
    c.put("intermediate_size", 96);
    c.put("vocab_size", 220);
    c.put("max_position_embeddings", positions);
    c.put("type_vocab_size", 2);
    c.put("layer_norm_eps", 1e-12);
    c.put("hidden_act", "gelu");
    c.put("pad_token_id", padId);
    return c;
  }

  @Test
  void bertAndXlmRobertaMatchTheEquivalentDistilBert(@TempDir Path tmp) throws Exception {
    List<String> texts = SentenceTransformerPipelineTest.texts();
    float[] want;
    try (SentenceTransformerPipeline distil = SentenceTransformerPipeline.load(SentenceTransformerPipelineTest.fixture())) {
      want = Tensors.toFloats(distil.embed(texts));
    }
    Map<String, Tensor> d = distilWeights();

    Map<String, Tensor> bert = new LinkedHashMap<>();
    d.forEach((k, v) -> bert.put("bert." + rename(k), v));
    bert.put("bert.embeddings.token_type_embeddings.weight", torch.zeros(2, 48));
    bert.put("bert.pooler.dense.weight", torch.randn(48, 48)); // present in real checkpoints, unused
    bert.put("bert.pooler.dense.bias", torch.zeros(48));
    Path bertDir = variant(tmp, "bert", bertConfig("bert", 0, 512), bert);

    Map<String, Tensor> xlmr = new LinkedHashMap<>();
    d.forEach((k, v) -> xlmr.put(rename(k), v));
    xlmr.put("embeddings.token_type_embeddings.weight", torch.zeros(1, 48));
    // Positions start at padding_idx + 1 = 1: shift the table down by one row.
    Tensor pos = d.get("embeddings.position_embeddings.weight");
    xlmr.put("embeddings.position_embeddings.weight", torch.cat(new org.bytedeco.pytorch.TensorVector(torch.zeros(1, 48), pos), 0));
    ObjectNode xc = bertConfig("xlm-roberta", 0, 513);
    xc.put("type_vocab_size", 1);
    Path xlmrDir = variant(tmp, "xlmr", xc, xlmr);

    for (Path dir : List.of(bertDir, xlmrDir)) {
      try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(dir)) {
        assertThat(Tensors.maxAbsDiff(Tensors.toFloats(p.embed(texts)), want)).as(dir.toString()).isLessThanOrEqualTo(1e-5);
      }
    }
    // A BERT checkpoint missing a layer's weights is refused with the key named.
    bert.remove("bert.encoder.layer.1.output.dense.bias");
    Path broken = variant(tmp, "broken", bertConfig("bert", 0, 512), bert);
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(broken)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("encoder.layer.1.output.dense.bias");
  }

  @Test
  void unsupportedEncodersAreRefusedByName(@TempDir Path tmp) throws Exception {
    ObjectNode c = bertConfig("bert", 0, 512);
    c.put("model_type", "mpnet");
    Path dir = variant(tmp, "mpnet", c, distilWeights());
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("'mpnet' is not implemented");
  }
}
