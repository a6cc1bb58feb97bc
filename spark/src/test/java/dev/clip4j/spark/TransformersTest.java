package dev.clip4j.spark;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.ImageSource;
import dev.clip4j.model.ClipModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ClipImageEmbedder / ClipTextEmbedder in an ML pipeline, saved and loaded back. */
class TransformersTest {
  @TempDir static Path tmp;
  static SparkFixtures fx;
  static SparkSession spark;

  @BeforeAll
  static void setUp() throws Exception {
    fx = new SparkFixtures(tmp);
    spark = SparkSession.builder().master("local[2]").appName("clip4j-ml-test")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1").getOrCreate();
  }

  @AfterAll
  static void tearDown() {
    if (spark != null) {
      spark.stop();
    }
  }

  @Test
  void pipelineWithBothTransformersSavedAndLoaded() throws Exception {
    Path chelsea = fx.good.get("chelsea.png");
    float[] img;
    float[] txt;
    try (ClipModel m = ClipModel.load(fx.model); ClipEmbedder e = ClipEmbedder.create(m)) {
      img = e.embedImage(ImageSource.of(Files.readAllBytes(chelsea), "c")).get();
      txt = e.embedText("a cat").get();
    }
    Dataset<Row> df = spark.createDataFrame(List.of(RowFactory.create(chelsea.toString(), "a cat"),
        RowFactory.create(fx.corrupt.toString(), null)), DataTypes.createStructType(List.of(
            DataTypes.createStructField("file", DataTypes.StringType, true),
            DataTypes.createStructField("caption", DataTypes.StringType, true))));
    ClipImageEmbedder images = new ClipImageEmbedder().setInputCol("file").setOutputCol("img")
        .setErrorCol("img_error").setModelPath(fx.model.toString()).setBatchSize(4);
    ClipTextEmbedder texts = new ClipTextEmbedder().setInputCol("caption").setOutputCol("txt")
        .setErrorCol("txt_error").setModelPath(fx.model.toString()).setDevice("cpu");
    Pipeline pipeline = new Pipeline().setStages(new PipelineStage[] {images, texts});
    Path saved = tmp.resolve("pipeline");
    pipeline.fit(df).write().save(saved.toString());
    PipelineModel loaded = PipelineModel.load(saved.toString());
    assertThat(((ClipImageEmbedder) loaded.stages()[0]).getBatchSize()).isEqualTo(4);
    assertThat(((ClipTextEmbedder) loaded.stages()[1]).getDevice()).isEqualTo("cpu");
    Dataset<Row> out = loaded.transform(df);
    assertThat(out.columns()).containsExactly("file", "caption", "img", "img_error", "txt", "txt_error");
    List<Row> rows = out.orderBy("caption").collectAsList(); // nulls first
    Row bad = rows.get(0);
    Row good = rows.get(1);
    assertThat(bad.isNullAt(2)).isTrue();
    assertThat(bad.getString(3)).startsWith("INVALID_INPUT: ");
    assertThat(bad.getString(5)).isEqualTo("INVALID_INPUT: null text");
    assertThat(ClipSparkTest.floats(renamed(good, "img"))).isEqualTo(img);
    assertThat(ClipSparkTest.floats(renamed(good, "txt"))).isEqualTo(txt);
    assertThat(good.isNullAt(3)).isTrue();
  }

  /** The row with column {@code col} exposed as {@code embedding} (what ClipSparkTest.floats reads). */
  private static Row renamed(Row r, String col) {
    return new org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema(new Object[] {r.get(r.fieldIndex(col))},
        DataTypes.createStructType(List.of(DataTypes.createStructField("embedding", ClipSpark.EMBEDDING_TYPE, true))));
  }

  @Test
  void missingParamsAndClashingColumnsAreRefused() {
    Dataset<Row> df = spark.createDataFrame(List.of(RowFactory.create("x")), DataTypes.createStructType(List.of(
        DataTypes.createStructField("embedding", DataTypes.StringType, true))));
    assertThatThrownBy(() -> new ClipTextEmbedder().setInputCol("embedding").transform(df))
        .hasMessageContaining("inputCol and modelPath must be set");
    assertThatThrownBy(() -> new ClipTextEmbedder().setInputCol("embedding").setModelPath("m").transform(df))
        .hasMessageContaining("output column embedding already exists");
  }
}
