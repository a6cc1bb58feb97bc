package dev.clip4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
import dev.clip4j.testing.Conformance;
import dev.clip4j.testing.TarBuilder;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code embed-images --out DIR shard-*.tar}: WebDataset members as inputs, bit for bit the files' rows. */
class WebDatasetCliTest {

  private static int cli(String... args) {
    PrintStream old = System.err;
    System.setErr(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    try {
      return Main.run(args);
    } finally {
      System.setErr(old);
    }
  }

  @Test
  void shardMembersAreEmbeddedLikeTheirFiles(@TempDir Path tmp) throws Exception {
    Path conf = Conformance.dir();
    Path model = conf.resolve("models/tiny-gelu");
    List<String> names = List.of("chelsea.png", "rocket.jpg", "logo.png");
    TarBuilder tb = new TarBuilder();
    for (int i = 0; i < names.size(); i++) {
      String n = names.get(i);
      tb.add(i + n.substring(n.lastIndexOf('.')), Files.readAllBytes(conf.resolve("images").resolve(n)));
      tb.add(i + ".txt", "caption " + i);
    }
    tb.add("3.txt", "no image");
    Path shard = Files.write(tmp.resolve("shard-00000.tar"), tb.build());
    byte[] full = Files.readAllBytes(shard);
    Path cut = Files.write(tmp.resolve("cut.tar"), Arrays.copyOf(full, 700));
    Path out = tmp.resolve("out");
    assertThat(cli("embed-images", "--model", model.toString(), "--out", out.toString(), shard.toString(),
        cut.toString())).isEqualTo(3);

    float[][] want;
    try (ClipModel m = ClipModel.load(model)) {
      want = m.embedImages(names.stream().map(n -> conf.resolve("images").resolve(n)).toList());
    }
    Npy.Array rows = Npy.read(out.resolve("embeddings-00000.npy"));
    assertThat(rows.shape()).containsExactly(3, want[0].length);
    float[] got = rows.floats();
    for (int i = 0; i < 3; i++) {
      assertThat(Arrays.copyOfRange(got, i * want[0].length, (i + 1) * want[0].length)).as(names.get(i)).isEqualTo(want[i]);
    }
    ObjectMapper json = new ObjectMapper();
    List<String> ids = Files.readAllLines(out.resolve("ids-00000.jsonl"));
    assertThat(ids).extracting(l -> json.readTree(l).get("path").asText())
        .containsExactly(shard + "/0.png", shard + "/1.jpg", shard + "/2.png");
    List<JsonNode> errors = Files.readAllLines(out.resolve("errors.jsonl")).stream().map(l -> {
      try {
        return json.readTree(l);
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    }).toList();
    assertThat(errors).extracting(e -> e.get("path").asText()).containsExactly(shard + "/3", cut + "/0");
    assertThat(errors).extracting(e -> e.get("error").asText()).containsExactly("INVALID_INPUT", "IO");
  }
}
