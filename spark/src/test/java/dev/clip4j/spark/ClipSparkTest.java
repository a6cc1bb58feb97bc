package dev.clip4j.spark;

import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.ImageSource;
import dev.clip4j.model.ClipModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * clip4j on Spark in local[2] (2 task threads, up to 2 attempts per task): one row per input,
 * errors as rows, embeddings bit for bit those of the library's embedder (what the CLI runs) for
 * the same bytes, WebDataset shards one per task, a retried task committing no duplicate rows.
 */
class ClipSparkTest {
  @TempDir static Path tmp;
  static SparkFixtures fx;
  static SparkSession spark;
  static ModelRef model;
  /** Reference rows: the library's micro-batching embedder on the same bytes (the CLI's path). */
  static final Map<String, float[]> viaEmbedder = new HashMap<>();
  /** And the synchronous ClipModel.embedImages on the files. */
  static final Map<String, float[]> viaModel = new HashMap<>();

  @BeforeAll
  static void setUp() throws Exception {
    fx = new SparkFixtures(tmp);
    model = ModelRef.of(fx.model.toString());
    try (ClipModel m = ClipModel.load(fx.model); ClipEmbedder e = ClipEmbedder.create(m)) {
      for (Map.Entry<String, Path> g : fx.good.entrySet()) {
        viaEmbedder.put(g.getKey(), e.embedImage(ImageSource.of(Files.readAllBytes(g.getValue()), g.getKey())).get());
        viaModel.put(g.getKey(), m.embedImages(List.of(g.getValue()))[0]);
      }
    }
    spark = SparkSession.builder().master("local[2,2]").appName("clip4j-spark-test")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.host", "127.0.0.1").getOrCreate();
  }

  @AfterAll
  static void tearDown() {
    if (spark != null) {
      spark.stop();
    }
  }

  static EmbedOptions options() {
    return EmbedOptions.defaults().withBatchSize(4).withPrepThreads(2).withMaxInputBytes(fx.maxInputBytes);
  }

  static float[] floats(Row r) {
    int i = r.fieldIndex("embedding");
    if (r.isNullAt(i)) {
      return null;
    }
    List<Float> l = r.getList(i);
    float[] f = new float[l.size()];
    for (int k = 0; k < f.length; k++) {
      f[k] = l.get(k);
    }
    return f;
  }

  static String str(Row r, String col) {
    return r.getString(r.fieldIndex(col));
  }

  @Test
  void binaryFileDirectoryGivesOneRowPerFileWithErrorsAsRows() throws Exception {
    Dataset<Row> files = spark.read().format("binaryFile").load(fx.images.toString()).repartition(3);
    Dataset<Row> out = ClipSpark.embedImages(files, "content", model, options());
    assertThat(out.schema().fieldNames()).containsExactly("path", "modificationTime", "length", "sha256", "embedding", "error");
    List<Row> rows = out.collectAsList();
    assertThat(rows).hasSize(fx.good.size() + 2);
    for (Row r : rows) {
      String name = fx.name(str(r, "path"));
      if (fx.good.containsKey(name)) {
        assertThat(str(r, "error")).as(name).isNull();
        assertThat(floats(r)).as(name).isEqualTo(viaEmbedder.get(name)).isEqualTo(viaModel.get(name));
        assertThat(str(r, "sha256")).isEqualTo(ClipSpark.sha256(Files.readAllBytes(fx.good.get(name))));
      } else {
        assertThat(floats(r)).as(name).isNull();
        assertThat(str(r, "error")).as(name).startsWith("INVALID_INPUT: ");
        assertThat(str(r, "sha256")).as("the bytes were read").hasSize(64);
      }
    }
    assertThat(rows).extracting(r -> fx.name(str(r, "path"))).contains("corrupt_truncated.jpg", "notes.jpg");
  }

  @Test
  void pathColumnReadsThroughHadoopAndMissingFilesAreErrorRows() {
    List<Row> in = new ArrayList<>();
    for (Path p : fx.good.values()) {
      in.add(RowFactory.create(p.toString(), 1));
    }
    in.add(RowFactory.create(fx.images.resolve("missing.jpg").toString(), 2));
    in.add(RowFactory.create(fx.images.toString(), 3)); // a directory
    in.add(RowFactory.create(null, 4));
    Dataset<Row> df = spark.createDataFrame(in, DataTypes.createStructType(List.of(
        DataTypes.createStructField("file", DataTypes.StringType, true),
        DataTypes.createStructField("tag", DataTypes.IntegerType, false)))).repartition(2);
    List<Row> rows = ClipSpark.embedImages(df, "file", model, options()).collectAsList();
    assertThat(rows).hasSize(in.size());
    Map<Integer, Integer> byTag = new HashMap<>();
    for (Row r : rows) {
      int tag = r.getInt(1);
      byTag.merge(tag, 1, Integer::sum);
      if (tag == 1) {
        assertThat(floats(r)).isEqualTo(viaEmbedder.get(fx.name(r.getString(0))));
      } else {
        assertThat(floats(r)).isNull();
      }
    }
    assertThat(byTag).containsEntry(1, fx.good.size()).containsEntry(2, 1).containsEntry(3, 1).containsEntry(4, 1);
    Map<Integer, String> errors = new HashMap<>();
    rows.stream().filter(r -> r.getInt(1) > 1).forEach(r -> errors.put(r.getInt(1), str(r, "error")));
    assertThat(errors.get(2)).startsWith("IO: ").contains("missing.jpg: no such file");
    assertThat(errors.get(3)).startsWith("INVALID_INPUT: ").contains("is a directory");
    assertThat(errors.get(4)).isEqualTo("INVALID_INPUT: null path");
  }

  @Test
  void webDatasetShardsOneTaskEachEqualTheFiles() {
    List<String> shards = new ArrayList<>();
    fx.shards.forEach(p -> shards.add(p.toString()));
    shards.add(fx.truncatedShard.toString());
    shards.add(fx.badShard.toString());
    shards.add(fx.images.resolve("no-such-shard.tar").toString());
    EmbedMetrics metrics = EmbedMetrics.register(spark);
    Dataset<Row> out = ClipSpark.embedShards(spark, shards, model, options(), metrics);
    assertThat(out.rdd().getNumPartitions()).isEqualTo(shards.size());
    List<Row> rows = out.collectAsList();
    // 6 good, truncated: 1 good + 1 error, bad: big, capt, text.jpg errors + ok.png, missing: 1 error.
    assertThat(rows).hasSize(6 + 2 + 4 + 1);
    for (int i = 0; i < 6; i++) {
      Row r = rows.get(i);
      String n = SparkFixtures.GOOD.get(i);
      String ext = n.substring(n.lastIndexOf('.'));
      assertThat(str(r, "path")).isEqualTo(fx.shards.get(i / 2) + "/" + String.format("%09d", i) + ext);
      assertThat(str(r, "key")).isEqualTo(String.format("%09d", i));
      assertThat(str(r, "caption")).isEqualTo("caption of " + n);
      assertThat(str(r, "json")).isEqualTo("{\"source\":\"" + n + "\"}");
      assertThat(floats(r)).as(n).isEqualTo(viaEmbedder.get(n));
      assertThat(str(r, "error")).isNull();
    }
    assertThat(floats(rows.get(6))).isEqualTo(viaEmbedder.get("chelsea.png"));
    assertThat(str(rows.get(7), "error")).startsWith("IO: ").contains("truncated");
    assertThat(str(rows.get(7), "path")).isEqualTo(fx.truncatedShard + "/000000001");
    assertThat(str(rows.get(8), "error")).startsWith("INVALID_INPUT: ").contains("big.png: member of");
    assertThat(str(rows.get(9), "error")).startsWith("INVALID_INPUT: ").contains("no image member (capt.txt)");
    assertThat(str(rows.get(10), "error")).startsWith("INVALID_INPUT: ").contains("text.jpg");
    assertThat(str(rows.get(10), "sha256")).hasSize(64);
    assertThat(floats(rows.get(11))).isEqualTo(viaEmbedder.get("chelsea.png"));
    assertThat(str(rows.get(12), "error")).startsWith("IO: ").contains("no-such-shard.tar: cannot open the shard");
    assertThat(metrics.rows()).isEqualTo(13);
    assertThat(metrics.errors()).isEqualTo(5);
    assertThat(metrics.modelLoadsPerExecutor()).hasSize(1);
  }

  @Test
  void retriedTaskCommitsNoDuplicateAndNoMissingRows() throws Exception {
    AtomicInteger failed = new AtomicInteger();
    SparkListener listener = new SparkListener() {
      @Override
      public void onTaskEnd(SparkListenerTaskEnd end) {
        if (!end.taskInfo().successful()) {
          failed.incrementAndGet();
        }
      }
    };
    spark.sparkContext().addSparkListener(listener);
    List<String> shards = fx.shards.stream().map(Path::toString).toList();
    Path out = tmp.resolve("retry.parquet");
    spark.sparkContext().setLocalProperty("spark.clip4j.test.failFirstAttemptAfterRows", "1");
    spark.sparkContext().setLocalProperty("spark.clip4j.test.failPartition", "1");
    try {
      ClipSpark.embedShards(spark, shards, model, options(), null).write().parquet(out.toString());
    } finally {
      spark.sparkContext().setLocalProperty("spark.clip4j.test.failFirstAttemptAfterRows", null);
      spark.sparkContext().setLocalProperty("spark.clip4j.test.failPartition", null);
      spark.sparkContext().removeSparkListener(listener);
    }
    assertThat(failed.get()).as("the first attempt of partition 1 failed and was retried").isEqualTo(1);
    List<Row> back = spark.read().parquet(out.toString()).orderBy("path").collectAsList();
    assertThat(back).hasSize(6);
    for (int i = 0; i < 6; i++) {
      String n = SparkFixtures.GOOD.get(i);
      Row r = back.get(i);
      assertThat(str(r, "path")).endsWith(String.format("%09d", i) + n.substring(n.lastIndexOf('.')));
      assertThat(floats(r)).isEqualTo(viaEmbedder.get(n));
    }
  }

  @Test
  void modelShippedWithSparkFilesIsFoundOnTheExecutor() {
    spark.sparkContext().addFile(fx.model.toString(), true);
    ModelRef shipped = ModelRef.of("sparkfiles:" + fx.model.getFileName());
    Dataset<Row> df = spark.createDataFrame(List.of(RowFactory.create(fx.good.get("rocket.jpg").toString())),
        DataTypes.createStructType(List.of(DataTypes.createStructField("file", DataTypes.StringType, true))));
    List<Row> rows = ClipSpark.embedImages(df, "file", shipped, options()).collectAsList();
    assertThat(str(rows.get(0), "error")).isNull();
    assertThat(floats(rows.get(0))).isEqualTo(viaEmbedder.get("rocket.jpg"));
  }

  @Test
  void textsEqualTheLibrarysAndNullIsAnErrorRow() throws Exception {
    List<String> texts = List.of("a photo of a cat", "zwei Hunde im Schnee", "", "x".repeat(400), "a rocket");
    Map<String, float[]> ref = new HashMap<>();
    float[][] sync;
    try (ClipModel m = ClipModel.load(fx.model); ClipEmbedder e = ClipEmbedder.create(m)) {
      for (String t : texts) {
        ref.put(t, e.embedText(t).get());
      }
      sync = m.embedTexts(texts);
    }
    List<Row> in = new ArrayList<>();
    for (int i = 0; i < texts.size(); i++) {
      in.add(RowFactory.create((long) i, texts.get(i)));
    }
    in.add(RowFactory.create(99L, null));
    Dataset<Row> df = spark.createDataFrame(in, DataTypes.createStructType(List.of(
        DataTypes.createStructField("id", DataTypes.LongType, false),
        DataTypes.createStructField("text", DataTypes.StringType, true)))).repartition(2);
    List<Row> rows = ClipSpark.embedTexts(df, "text", model, options()).orderBy("id").collectAsList();
    assertThat(rows).hasSize(texts.size() + 1);
    for (int i = 0; i < texts.size(); i++) {
      float[] got = floats(rows.get(i));
      assertThat(got).as(texts.get(i)).isEqualTo(ref.get(texts.get(i)));
      for (int k = 0; k < got.length; k++) {
        assertThat(got[k]).isCloseTo(sync[i][k], org.assertj.core.data.Offset.offset(1e-6f));
      }
    }
    assertThat(floats(rows.get(texts.size()))).isNull();
    assertThat(str(rows.get(texts.size()), "error")).isEqualTo("INVALID_INPUT: null text");
  }
}
