package dev.clip4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.io.Npy;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's main job: {@code clip4j demo} end to end on its own model and images. */
class DemoCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void runsThePipelineEndToEnd(@TempDir Path tmp) throws Exception {
    Path out = tmp.resolve("demo");
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    PrintStream old = System.out;
    int rc;
    System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
    try {
      rc = Main.run("demo", "--out", out.toString());
    } finally {
      System.setOut(old);
    }
    String stdout = captured.toString(StandardCharsets.UTF_8);
    assertThat(rc).as(stdout).isZero();
    assertThat(stdout).contains("RANDOM, UNTRAINED weights").contains("laion/CLIP-ViT-B-32-laion2B-s34B-b79K");

    // The model it wrote is complete: weights, config and its own tokenizer.
    Path model = out.resolve("model-small");
    assertThat(model.resolve("open_clip_config.json")).isRegularFile();
    assertThat(model.resolve("vocab.json")).isRegularFile();
    assertThat(model.resolve("merges.txt")).isRegularFile();

    // The embeddings directory: 16 rows over shards of 8 inputs, the truncated JPEG listed as the only error.
    Path index = out.resolve("index");
    JsonNode manifest = JSON.readTree(index.resolve("manifest.json").toFile());
    assertThat(manifest.get("complete").asBoolean()).isTrue();
    assertThat(manifest.get("rows").asInt()).isEqualTo(16);
    assertThat(manifest.get("errors").asInt()).isEqualTo(1);
    int rows = 0;
    for (JsonNode shard : manifest.get("shards")) {
      Npy.Array a = Npy.read(index.resolve(shard.get("embeddings").asText()));
      assertThat(a.shape()[1]).isEqualTo(manifest.get("dim").asLong());
      float[] v = a.floats();
      for (int r = 0; r < a.shape()[0]; r++) {
        double n = 0;
        for (int j = 0; j < a.shape()[1]; j++) {
          n += (double) v[(int) (r * a.shape()[1] + j)] * v[(int) (r * a.shape()[1] + j)];
        }
        assertThat(Math.sqrt(n)).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
      }
      rows += (int) a.shape()[0];
    }
    assertThat(rows).isEqualTo(16);
    List<String> errors = Files.readAllLines(index.resolve("errors.jsonl"));
    assertThat(errors).hasSize(1);
    assertThat(JSON.readTree(errors.get(0)).get("path").asText()).endsWith(DemoImages.CORRUPT);
    assertThat(JSON.readTree(errors.get(0)).get("error").asText()).isEqualTo("INVALID_INPUT");

    // classify printed one JSON line per generated shape with 3 labels; search printed 5 ranked hits.
    long classified = stdout.lines().filter(l -> l.startsWith("{\"path\"")).count();
    assertThat(classified).isEqualTo(16);
    for (String line : stdout.lines().filter(l -> l.startsWith("{\"path\"")).toList()) {
      JsonNode top = JSON.readTree(line).get("top");
      assertThat(top).hasSize(3);
      assertThat(top.get(0).get("probability").asDouble()).isGreaterThanOrEqualTo(top.get(1).get("probability").asDouble());
    }
    Matcher hit = Pattern.compile("^\\s+(\\d)\\s+(-?\\d\\.\\d+)\\s+(\\d+)\\s+(\\S+)$", Pattern.MULTILINE).matcher(stdout);
    int hits = 0;
    double previous = Double.POSITIVE_INFINITY;
    while (hit.find()) {
      hits++;
      assertThat(Integer.parseInt(hit.group(1))).isEqualTo(hits);
      double score = Double.parseDouble(hit.group(2));
      assertThat(score).isLessThanOrEqualTo(previous);
      previous = score;
      assertThat(Path.of(hit.group(4))).isRegularFile();
    }
    assertThat(hits).isEqualTo(5);
  }
}
