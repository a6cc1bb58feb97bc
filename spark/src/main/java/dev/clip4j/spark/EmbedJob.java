package dev.clip4j.spark;

import dev.clip4j.corpus.ImageWalk;
import dev.clip4j.corpus.WebDatasetReader;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;

/**
 * The Spark embedding job:
 *
 * <pre>
 * EmbedJob embed-images|embed-texts --model PATH --input PATH... --out DIR [--master URL]
 *     [--partitions N] [--batch-size B] [--device auto|cpu|cuda|cuda:N] [--activation quick_gelu|gelu]
 *     [--ext jpg,png,...] [--max-input-bytes N]
 * </pre>
 *
 * <p>{@code embed-images}: each {@code --input} is a {@code .tar} WebDataset shard or a glob of
 * them (one shard per task), or a directory/file/glob of images (listed recursively through
 * Hadoop, hidden files skipped, filtered by {@code --ext}; only the paths are listed, each task
 * reads its files bounded by {@code --max-input-bytes}). {@code embed-texts}: {@code .jsonl}/{@code
 * .json} files with a {@code text} field (other fields kept), or text files with one text per
 * line. The result is written as Parquet to {@code --out} through Spark's committers (a retried
 * or speculative task never duplicates rows; an existing {@code --out} is refused). Images:
 * {@code path, shard, key, caption, json, sha256, embedding, error}; texts: the input fields plus
 * {@code embedding, error}. Prints a summary line (rows, errors, rows/s, per executor model
 * loads and rows/s). Exit codes: 0 all embedded, 3 completed with error rows, 2 usage, 1 failure.
 *
 * <p>Locally: {@code ./clip4j-spark embed-images --master 'local[2]' ...}; on a cluster: {@code
 * spark-submit --class dev.clip4j.spark.EmbedJob clip4j-spark-VERSION-all.jar ...} (without
 * {@code --master}, which spark-submit sets).
 */
public final class EmbedJob {
  private EmbedJob() {}

  /** Parsed arguments. */
  record Args(String command, String model, List<String> inputs, String out, String master, int partitions,
      int batchSize, String device, String activation, List<String> extensions, long maxInputBytes) {}

  static final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    UsageException(String m) {
      super(m);
    }
  }

  static final String USAGE = "usage: EmbedJob embed-images|embed-texts --model PATH --input PATH... --out DIR"
      + " [--master URL] [--partitions N] [--batch-size B] [--device auto|cpu|cuda|cuda:N]"
      + " [--activation quick_gelu|gelu] [--ext jpg,png,...] [--max-input-bytes N]";

  static Args parse(String[] argv) {
    if (argv.length == 0 || !(argv[0].equals("embed-images") || argv[0].equals("embed-texts"))) {
      throw new UsageException("the first argument must be embed-images or embed-texts");
    }
    String model = null;
    String out = null;
    String master = null;
    String device = "auto";
    String activation = null;
    int partitions = 0;
    int batch = 32;
    long maxBytes = dev.clip4j.preprocess.DecodeOptions.DEFAULT_MAX_INPUT_BYTES;
    List<String> inputs = new ArrayList<>();
    List<String> ext = ImageWalk.DEFAULT_EXTENSIONS;
    for (int i = 1; i < argv.length; i++) {
      String a = argv[i];
      String v = null;
      int eq = a.indexOf('=');
      if (a.startsWith("--") && eq > 0) {
        v = a.substring(eq + 1);
        a = a.substring(0, eq);
      } else if (a.startsWith("--") && !a.equals("--help")) {
        if (i + 1 >= argv.length) {
          throw new UsageException(a + " needs a value");
        }
        v = argv[++i];
      }
      switch (a) {
        case "--model" -> model = v;
        case "--input" -> inputs.add(v);
        case "--out" -> out = v;
        case "--master" -> master = v;
        case "--device" -> device = v;
        case "--activation" -> activation = v;
        case "--partitions" -> partitions = positive(a, v);
        case "--batch-size" -> batch = positive(a, v);
        case "--max-input-bytes" -> maxBytes = positive(a, v);
        case "--ext" -> ext = Arrays.stream(v.split(",")).map(s -> s.trim().toLowerCase(Locale.ROOT)).toList();
        case "--format" -> {
          if (!v.equals("parquet")) {
            throw new UsageException("--format: only parquet is implemented (clip-retrieval's layout is not yet)");
          }
        }
        default -> {
          if (a.startsWith("--")) {
            throw new UsageException("unknown option " + a);
          }
          inputs.add(a); // positional inputs, as the CLI takes them
        }
      }
    }
    if (model == null || out == null || inputs.isEmpty()) {
      throw new UsageException("--model, --out and at least one --input are required");
    }
    return new Args(argv[0], model, inputs, out, master, partitions, batch, device, activation, ext, maxBytes);
  }

  private static int positive(String opt, String v) {
    try {
      int n = Integer.parseInt(v);
      if (n < 1) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new UsageException(opt + " must be a positive integer, got " + v);
    }
  }

  public static void main(String[] argv) {
    System.exit(run(argv, System.err));
  }

  /** Runs the job; returns the exit code. */
  static int run(String[] argv, PrintStream err) {
    Args a;
    try {
      a = parse(argv);
    } catch (UsageException e) {
      err.println("clip4j-spark: " + e.getMessage());
      err.println(USAGE);
      return 2;
    }
    SparkSession.Builder b = SparkSession.builder().appName("clip4j " + a.command());
    if (a.master() != null) {
      b.master(a.master());
    }
    SparkSession spark = b.getOrCreate();
    try {
      return run(spark, a, err);
    } catch (EmbedJob.UsageException e) {
      err.println("clip4j-spark: " + e.getMessage());
      return 2;
    } catch (RuntimeException e) {
      err.println("clip4j-spark: failed: " + e);
      return 1;
    } finally {
      spark.stop();
    }
  }

  static int run(SparkSession spark, Args a, PrintStream err) {
    ModelRef model = new ModelRef(a.model(), a.activation());
    EmbedOptions options = EmbedOptions.defaults().withBatchSize(a.batchSize()).withDevice(a.device())
        .withMaxInputBytes(a.maxInputBytes());
    EmbedMetrics metrics = EmbedMetrics.register(spark);
    long start = System.nanoTime();
    Dataset<Row> result = a.command().equals("embed-images") ? images(spark, a, model, options, metrics)
        : texts(spark, a, model, options, metrics);
    result.write().parquet(a.out());
    double secs = (System.nanoTime() - start) / 1e9;
    // The committed output is the truth (accumulators may count a retried task twice).
    Dataset<Row> written = spark.read().parquet(a.out());
    long rows = written.count();
    long errors = written.filter(functions.col("error").isNotNull()).count();
    StringBuilder per = new StringBuilder();
    Map<String, Integer> loads = metrics.modelLoadsPerExecutor();
    Map<String, Double> rates = metrics.rowsPerSecondPerExecutor();
    for (Map.Entry<String, Integer> e : loads.entrySet()) {
      per.append(String.format(Locale.ROOT, " [%s: %d model load(s), %.1f rows/s]", e.getKey(), e.getValue(),
          rates.getOrDefault(e.getKey(), 0.0)));
    }
    err.printf(Locale.ROOT, "clip4j-spark: %s: %d rows (%d embedded, %d errors) in %.1f s, %.1f rows/s, to %s;"
        + " executors:%s%n", a.command(), rows, rows - errors, errors, secs, rows / secs, a.out(), per);
    return errors == 0 ? 0 : 3;
  }

  private static Dataset<Row> images(SparkSession spark, Args a, ModelRef model, EmbedOptions options,
      EmbedMetrics metrics) {
    List<String> shards = new ArrayList<>();
    List<String> fileInputs = new ArrayList<>();
    org.apache.hadoop.conf.Configuration conf = spark.sessionState().newHadoopConf();
    for (String in : a.inputs()) {
      if (WebDatasetReader.isShard(in)) {
        shards.addAll(glob(conf, in));
      } else {
        fileInputs.add(in);
      }
    }
    Dataset<Row> result = null;
    if (!shards.isEmpty()) {
      result = ClipSpark.embedShards(spark, shards, model, options, metrics);
    }
    if (!fileInputs.isEmpty()) {
      String exts = String.join("|", a.extensions().stream().map(java.util.regex.Pattern::quote).toList());
      Dataset<Row> paths = spark.read().format("binaryFile").option("recursiveFileLookup", "true")
          .load(fileInputs.toArray(String[]::new))
          .select("path") // the content column is pruned: tasks read each file themselves, bounded
          .filter(functions.lower(functions.col("path")).rlike("\\.(" + exts + ")$"));
      if (a.partitions() > 0) {
        paths = paths.repartition(a.partitions());
      }
      Column nul = functions.lit(null).cast(DataTypes.StringType);
      Dataset<Row> files = ClipSpark.embedImages(paths, "path", model, options, metrics)
          .select(functions.col("path"), nul.as("shard"), nul.as("key"), nul.as("caption"), nul.as("json"),
              functions.col("sha256"), functions.col("embedding"), functions.col("error"));
      result = result == null ? files : result.unionByName(files);
    }
    return result;
  }

  private static Dataset<Row> texts(SparkSession spark, Args a, ModelRef model, EmbedOptions options,
      EmbedMetrics metrics) {
    Dataset<Row> result = null;
    for (String in : a.inputs()) {
      String low = in.toLowerCase(Locale.ROOT);
      Dataset<Row> df = low.endsWith(".jsonl") || low.endsWith(".json")
          ? spark.read().json(in) : spark.read().text(in).withColumnRenamed("value", "text");
      if (!Arrays.asList(df.columns()).contains("text")) {
        throw new UsageException(in + ": no \"text\" field");
      }
      df = df.withColumn("source", functions.lit(in));
      result = result == null ? df : result.unionByName(df, true);
    }
    if (a.partitions() > 0) {
      result = result.repartition(a.partitions());
    }
    return ClipSpark.embedTexts(result, "text", model, options, metrics);
  }

  /** A shard path or glob, expanded on the driver through Hadoop and sorted; a missing one is kept (error row). */
  static List<String> glob(org.apache.hadoop.conf.Configuration conf, String pattern) {
    try {
      Path p = new Path(pattern);
      FileSystem fs = p.getFileSystem(conf);
      FileStatus[] st = fs.globStatus(p);
      if (st == null || st.length == 0) {
        return List.of(pattern);
      }
      List<String> out = new ArrayList<>();
      for (FileStatus s : st) {
        out.add(s.getPath().toString());
      }
      out.sort(null);
      return out;
    } catch (IOException e) {
      return List.of(pattern);
    }
  }
}
