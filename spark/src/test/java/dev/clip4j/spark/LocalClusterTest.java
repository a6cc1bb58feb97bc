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
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Executors in separate JVMs: Spark's {@code local-cluster[2,1,1024]} mode starts a standalone
 * master and worker inside this JVM, and the worker launches two executor JVMs (1 core, 1 GiB
 * each) from the Maven class path. Each executor extracts the native libraries and loads the
 * model itself, exactly once however many of its tasks (and jobs) use it; the rows equal those
 * of this JVM bit for bit. Each worker also offers one (pretend) GPU through a discovery script,
 * so a task's {@code device auto} resolves to the address Spark's resource scheduling gave it
 * (the embedding itself runs with {@code device cpu}: this build has no CUDA).
 */
class LocalClusterTest {
  @TempDir static Path tmp;
  static SparkFixtures fx;
  static SparkSession spark;

  @BeforeAll
  static void setUp() throws Exception {
    fx = new SparkFixtures(tmp);
    // The worker builds executor commands under SPARK_HOME (set by the build to target/spark-home):
    // an empty jars/ there, the class path itself comes from spark.executor.extraClassPath.
    String home = System.getenv("SPARK_HOME");
    assertThat(home).as("SPARK_HOME (set by spark/pom.xml's surefire configuration)").isNotNull();
    Files.createDirectories(Path.of(home, "jars"));
    String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    Path gpus = tmp.resolve("gpus.sh");
    Files.writeString(gpus, "#!/bin/sh\necho '{\"name\": \"gpu\", \"addresses\": [\"0\"]}'\n");
    gpus.toFile().setExecutable(true);
    spark = SparkSession.builder().master("local-cluster[2,1,1024]").appName("clip4j-local-cluster-test")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.executor.extraClassPath", cp)
        .config("spark.worker.resource.gpu.amount", "1").config("spark.worker.resource.gpu.discoveryScript", gpus.toString())
        .config("spark.executor.resource.gpu.amount", "1").config("spark.task.resource.gpu.amount", "1")
        .config("spark.executorEnv.SPARK_LOCAL_IP", "127.0.0.1").getOrCreate();
    long deadline = System.nanoTime() + 180_000_000_000L;
    while (spark.sparkContext().getExecutorMemoryStatus().size() < 3 && System.nanoTime() < deadline) {
      Thread.sleep(200); // the driver + 2 executors registered
    }
    assertThat(spark.sparkContext().getExecutorMemoryStatus().size()).as("driver + 2 executors").isEqualTo(3);
  }

  @AfterAll
  static void tearDown() {
    if (spark != null) {
      spark.stop();
    }
  }

  @Test
  void oneModelLoadPerExecutorJvmAndRowsEqualThisJvms() throws Exception {
    Map<String, float[]> ref = new HashMap<>();
    try (ClipModel m = ClipModel.load(fx.model); ClipEmbedder e = ClipEmbedder.create(m)) {
      for (Map.Entry<String, Path> g : fx.good.entrySet()) {
        ref.put(g.getKey(), e.embedImage(ImageSource.of(Files.readAllBytes(g.getValue()), g.getKey())).get());
      }
    }
    ModelRef model = ModelRef.of(fx.model.toString());
    EmbedOptions options = EmbedOptions.defaults().withBatchSize(4).withMaxInputBytes(fx.maxInputBytes).withDevice("cpu");
    List<String> shards = new ArrayList<>();
    for (int rep = 0; rep < 2; rep++) { // 6 tasks over 2 executors of 1 core: both get several
      fx.shards.forEach(p -> shards.add(p.toString()));
    }
    EmbedMetrics metrics = EmbedMetrics.register(spark);
    List<Row> rows = ClipSpark.embedShards(spark, shards, model, options, metrics).collectAsList();
    assertThat(rows).hasSize(12);
    for (int i = 0; i < rows.size(); i++) {
      String n = SparkFixtures.GOOD.get(i % 6);
      assertThat(ClipSparkTest.floats(rows.get(i))).as(n).isEqualTo(ref.get(n));
    }
    Map<String, Integer> loads = metrics.modelLoadsPerExecutor();
    String driver = EmbedMetrics.jvm();
    assertThat(loads).as("executor JVMs -> model loads").hasSize(2).doesNotContainKey(driver)
        .allSatisfy((jvm, n) -> assertThat(n).as(jvm).isEqualTo(1));

    // A second job on the same executors reuses their models.
    EmbedMetrics again = EmbedMetrics.register(spark);
    assertThat(ClipSpark.embedShards(spark, shards, model, options, again).count()).isEqualTo(12);
    assertThat(again.modelLoadsPerExecutor()).isEqualTo(loads);
  }

  @Test
  void deviceAutoIsTheGpuThatSparkAssignedTheTask() {
    List<String> devices = spark.createDataset(List.of(1, 2, 3, 4), Encoders.INT()).repartition(4)
        .mapPartitions((MapPartitionsFunction<Integer, String>) it -> List.of(ClipSpark.taskDevice("auto")).iterator(),
            Encoders.STRING()).collectAsList();
    assertThat(devices).containsExactly("cuda:0", "cuda:0", "cuda:0", "cuda:0");
    // Without a TaskContext (the driver) auto is the CPU; anything else is taken as given.
    assertThat(ClipSpark.taskDevice("auto")).isEqualTo("cpu");
    assertThat(ClipSpark.taskDevice("cuda:1")).isEqualTo("cuda:1");
  }
}
