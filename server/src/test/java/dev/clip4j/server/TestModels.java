package dev.clip4j.server;

import dev.clip4j.io.Npy;
import dev.clip4j.testing.Conformance;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/** The conformance fixtures the server tests use (read in place from ../shared/conformance). */
final class TestModels {
  private TestModels() {}

  static Path gelu() {
    return Conformance.dir().resolve("models/tiny-gelu");
  }

  static Path quickGelu() {
    return Conformance.dir().resolve("models/tiny-quickgelu");
  }

  /** The 13 texts of tokenizer_cases.jsonl, in the order of expected_text_embeddings.npy. */
  static List<String> texts() throws IOException {
    List<String> out = new ArrayList<>();
    for (String line : Files.readAllLines(Conformance.dir().resolve("tokenizer_cases.jsonl"))) {
      if (!line.isBlank()) {
        out.add(Http.JSON.readTree(line).get("text").asText());
      }
    }
    return out;
  }

  /** The manifest's image order (that of expected_image_embeddings.npy). */
  static List<Path> images() throws IOException {
    List<Path> out = new ArrayList<>();
    for (var n : Http.JSON.readTree(Conformance.dir().resolve("manifest.json").toFile()).get("images")) {
      out.add(Conformance.dir().resolve("images").resolve(n.asText()));
    }
    return out;
  }

  static float[][] expected(Path model, String file, int dim) {
    float[] flat = Npy.read(model.resolve(file)).floats();
    float[][] rows = new float[flat.length / dim][dim];
    for (int i = 0; i < rows.length; i++) {
      System.arraycopy(flat, i * dim, rows[i], 0, dim);
    }
    return rows;
  }

  static String dataUri(Path image) throws IOException {
    String name = image.getFileName().toString();
    String type = name.endsWith(".png") ? "image/png" : "image/jpeg";
    return "data:" + type + ";base64," + Base64.getEncoder().encodeToString(Files.readAllBytes(image));
  }
}
