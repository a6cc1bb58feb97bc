package dev.clip4j.spark;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.corpus.CorpusJob;
import dev.clip4j.corpus.ImageWalk;
import dev.clip4j.model.ClipModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * EmbedJob end to end on local[2]: a directory with good and bad images and the same images as
 * WebDataset shards, into Parquet; every row equals, bit for bit, the row that the CLI's corpus
 * job ({@link CorpusJob}, what {@code ./clip4j embed-images} runs) writes for the same input,
 * and the same inputs are errors in both.
 */
class EmbedJobTest {
  @TempDir static Path tmp;
  static SparkFixtures fx;
  static SparkSession spark;

  @BeforeAll
  static void setUp() throws Exception {
    fx = new SparkFixtures(tmp);
    spark = SparkSession.builder().master("local[2]").appName("clip4j-embedjob-test")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1").getOrCreate();
  }

  @AfterAll
  static void tearDown() {
    if (spark != null) {
      spark.stop();
    }
  }

  /** path (without a file: scheme) to the CLI's line: embedding or error code. */
  static Map<String, JsonNode> cli(List<String> inputs) throws Exception {
    Path out = tmp.resolve("cli-" + System.nanoTime() + ".jsonl");
    try (ClipModel m = ClipModel.load(fx.model)) {
      CorpusJob.embedImages(m, new ImageWalk(inputs, null, null, null), new CorpusJob.JsonLines(out), 4,
          CorpusJob.Options.defaults(), new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    }
    Map<String, JsonNode> byPath = new HashMap<>();
    ObjectMapper json = new ObjectMapper();
    for (String line : Files.readAllLines(out)) {
      JsonNode n = json.readTree(line);
      byPath.put(n.get("path").asText(), n);
    }
    return byPath;
  }

  static String local(String path) {
    return path.startsWith("file:") ? path.substring("file:".length()) : path;
  }

  @Test
  void directoryAndShardsEqualTheCliBitForBit() throws Exception {
    List<String> inputs = new ArrayList<>();
    inputs.add(fx.images.toString());
    fx.shards.forEach(s -> inputs.add(s.toString()));
    inputs.add(fx.truncatedShard.toString());
    Map<String, JsonNode> cli = cli(inputs);
    assertThat(cli).hasSize(8 + 6 + 2);

    Path out = tmp.resolve("job.parquet");
    List<String> argv = new ArrayList<>(List.of("embed-images", "--model", fx.model.toString(), "--out", out.toString(),
        "--batch-size", "4", "--partitions", "2", "--input", fx.images.toString(),
        "--input", fx.shards.get(0).getParent().resolve("shard-*.tar").toString(), fx.truncatedShard.toString()));
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int loadsBefore = ExecutorModels.loadCount(); // local mode: the executor is this JVM, shared with other test classes
    int code = EmbedJob.run(spark, EmbedJob.parse(argv.toArray(String[]::new)),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    String summary = err.toString(StandardCharsets.UTF_8);
    assertThat(code).as(summary).isEqualTo(3);
    assertThat(summary).contains("embed-images: 16 rows (13 embedded, 3 errors)")
        .contains(ExecutorModels.loadCount() + " model load(s)");
    assertThat(ExecutorModels.loadCount() - loadsBefore).as("at most the job's one model, loaded once").isLessThanOrEqualTo(1);

    List<Row> rows = spark.read().parquet(out.toString()).collectAsList();
    assertThat(rows).hasSize(cli.size());
    for (Row r : rows) {
      String path = local(r.getString(r.fieldIndex("path")));
      JsonNode line = cli.get(path);
      assertThat(line).as(path).isNotNull();
      float[] got = ClipSparkTest.floats(r);
      if (line.has("embedding")) {
        float[] want = new float[line.get("embedding").size()];
        for (int i = 0; i < want.length; i++) {
          want[i] = (float) line.get("embedding").get(i).asDouble();
        }
        assertThat(got).as(path).isEqualTo(want);
        assertThat(r.getString(r.fieldIndex("sha256"))).isEqualTo(line.get("sha256").asText());
      } else {
        assertThat(got).as(path).isNull();
        assertThat(r.getString(r.fieldIndex("error"))).as(path).startsWith(line.get("error").asText() + ": ");
      }
    }
    assertThat(rows).filteredOn(r -> !r.isNullAt(r.fieldIndex("caption"))).hasSize(7);
  }

  @Test
  void usageErrorsExitTwo() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream ps = new PrintStream(err, true, StandardCharsets.UTF_8);
    assertThat(EmbedJob.run(new String[] {"embed-images", "--model", "m"}, ps)).isEqualTo(2);
    assertThat(EmbedJob.run(new String[] {"embed-everything"}, ps)).isEqualTo(2);
    assertThat(EmbedJob.run(new String[] {"embed-images", "--model", "m", "--out", "o", "--input", "i",
        "--format", "clip-retrieval"}, ps)).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("--model, --out and at least one --input are required")
        .contains("the first argument must be embed-images or embed-texts").contains("only parquet is implemented");
  }
}
