package dev.clip4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.testing.Conformance;
import dev.clip4j.testing.Tensors;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Test inputs and weights read from the conformance fixtures (never copied). */
final class ModelFixtures {
  private static final ObjectMapper JSON = new ObjectMapper();

  private ModelFixtures() {}

  static Path model(String name) {
    return Conformance.dir().resolve("models").resolve(name);
  }

  /** The fixture model's open_clip_config.json, parsed. */
  static ModelConfig config(String name) {
    return ModelConfig.parse(model(name).resolve("open_clip_config.json"));
  }

  /**
   * open_clip's state dict, from the fixture's {@code torch.jit.script} file: the scripted CLIP's
   * parameters carry open_clip's state_dict names.
   */
  static Map<String, Tensor> stateDict(String model) {
    JitModule m = torch.load(new BytePointer(model(model).resolve("torchscript_scripted.pt").toString()));
    return dev.clip4j.internal.JitModules.namedParameters(m);
  }

  /** Shapes of a state dict. */
  static Map<String, long[]> shapes(Map<String, Tensor> sd) {
    Map<String, long[]> out = new LinkedHashMap<>();
    sd.forEach((k, t) -> out.put(k, t.sizes().vec().get()));
    return out;
  }

  /** The preprocessed images [12, 3, 224, 224] in manifest order. */
  static Tensor pixels() throws IOException {
    JsonNode manifest = JSON.readTree(Conformance.dir().resolve("manifest.json").toFile());
    List<float[]> images = new ArrayList<>();
    for (JsonNode name : manifest.get("images")) {
      images.add(TestNpy.read(Conformance.dir().resolve("preprocess").resolve(name.asText() + ".npy")).floats());
    }
    int each = images.get(0).length;
    float[] all = new float[each * images.size()];
    for (int i = 0; i < images.size(); i++) {
      System.arraycopy(images.get(i), 0, all, i * each, each);
    }
    return Tensors.fromFloats(all, images.size(), 3, 224, 224);
  }

  /** The token ids of tokenizer_cases.jsonl [13, 77]. */
  static Tensor tokenIds() throws IOException {
    List<String> lines = Files.readAllLines(Conformance.dir().resolve("tokenizer_cases.jsonl"), StandardCharsets.UTF_8);
    List<long[]> rows = new ArrayList<>();
    for (String line : lines) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode ids = JSON.readTree(line).get("ids");
      long[] row = new long[ids.size()];
      for (int i = 0; i < row.length; i++) {
        row[i] = ids.get(i).asLong();
      }
      rows.add(row);
    }
    int l = rows.get(0).length;
    long[] all = new long[rows.size() * l];
    for (int i = 0; i < rows.size(); i++) {
      System.arraycopy(rows.get(i), 0, all, i * l, l);
    }
    return longs(all, rows.size(), l);
  }

  static Tensor longs(long[] data, long... shape) {
    LongPointer p = new LongPointer(data);
    try {
      return torch.from_blob(p, shape, new TensorOptions(ScalarType.Long)).clone();
    } finally {
      p.close();
    }
  }

  static float[] expected(String model, String file) throws IOException {
    return TestNpy.read(model(model).resolve(file)).floats();
  }
}
