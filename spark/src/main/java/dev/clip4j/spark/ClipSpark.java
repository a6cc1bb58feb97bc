package dev.clip4j.spark;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.batch.ImageSource;
import dev.clip4j.corpus.WebDatasetReader;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.SerializableConfiguration;

/**
 * clip4j on Spark DataFrames: images (a {@code binary} column, as Spark's {@code binaryFile}
 * source gives, or a path column on any Hadoop filesystem), WebDataset {@code .tar} shards (one
 * shard per task) and texts, embedded by one model per executor JVM and device ({@link
 * ExecutorModels}) through the library's micro-batching {@code ClipEmbedder}, the same embedder
 * as the CLI: the embeddings are bit for bit the CLI's for the same bytes with the default
 * batch-invariant CPU kernels.
 *
 * <p>Every input gives exactly one row; the result keeps the input columns (without the binary
 * content) and adds {@code sha256} (images: of the bytes embedded; null when unreadable), {@code
 * embedding} ({@code array<float>}, unit-norm, null on error) and {@code error} ({@code
 * "CODE: message"}, null when embedded). A bad input never fails the job. The transformations
 * are lazy: write the result with {@code df.write().parquet(dir)} to commit it through Spark's
 * committers (a retried or speculative task never duplicates rows).
 *
 * <pre>{@code
 * Dataset<Row> files = spark.read().format("binaryFile").option("pathGlobFilter", "*.jpg").load("s3a://bucket/imgs");
 * Dataset<Row> emb = ClipSpark.embedImages(files, "content", ModelRef.of("/models/ViT-B-32"), EmbedOptions.defaults());
 * emb.write().parquet("s3a://bucket/emb");
 * }</pre>
 */
public final class ClipSpark {
  private ClipSpark() {}

  /** The embedding column's type: {@code array<float>} without null elements. */
  public static final org.apache.spark.sql.types.DataType EMBEDDING_TYPE = DataTypes.createArrayType(DataTypes.FloatType, false);

  /** {@link #embedImages(Dataset, String, ModelRef, EmbedOptions, EmbedMetrics)} without metrics. */
  public static Dataset<Row> embedImages(Dataset<Row> df, String column, ModelRef model, EmbedOptions options) {
    return embedImages(df, column, model, options, null);
  }

  /**
   * Embeds the images of {@code column}: a {@code binary} column holds encoded bytes (the
   * binaryFile source's {@code content}; the column is dropped from the result), a {@code string}
   * column holds paths or URIs read through Hadoop's FileSystem with {@code df}'s session
   * configuration (files over {@link EmbedOptions#maxInputBytes()} are error rows, never read).
   *
   * @param metrics accumulators to update, or null
   */
  public static Dataset<Row> embedImages(Dataset<Row> df, String column, ModelRef model, EmbedOptions options,
      EmbedMetrics metrics) {
    return embedImages(df, column, model, options, metrics, false);
  }

  /** As above; {@code keepBinary} keeps a binary input column (the ML transformer keeps its input). */
  static Dataset<Row> embedImages(Dataset<Row> df, String column, ModelRef model, EmbedOptions options,
      EmbedMetrics metrics, boolean keepBinary) {
    StructType in = df.schema();
    int idx = in.fieldIndex(column);
    boolean binary = in.fields()[idx].dataType() instanceof BinaryType;
    boolean dropBinary = binary && !keepBinary;
    if (!binary && !(in.fields()[idx].dataType() instanceof StringType)) {
      throw new IllegalArgumentException("column " + column + " must be binary (image bytes) or string (paths), is "
          + in.fields()[idx].dataType().simpleString());
    }
    List<StructField> out = new ArrayList<>();
    for (int i = 0; i < in.fields().length; i++) {
      if (!(dropBinary && i == idx)) {
        out.add(in.fields()[i]);
      }
    }
    out.add(DataTypes.createStructField("sha256", DataTypes.StringType, true));
    out.add(DataTypes.createStructField("embedding", EMBEDDING_TYPE, true));
    out.add(DataTypes.createStructField("error", DataTypes.StringType, true));
    StructType schema = DataTypes.createStructType(out);
    Broadcast<SerializableConfiguration> conf = binary ? null : hadoopConf(df.sparkSession());
    return df.mapPartitions(new ImagesFn(model, options, idx, binary, dropBinary, conf, metrics), Encoders.row(schema));
  }

  /** {@link #embedTexts(Dataset, String, ModelRef, EmbedOptions, EmbedMetrics)} without metrics. */
  public static Dataset<Row> embedTexts(Dataset<Row> df, String column, ModelRef model, EmbedOptions options) {
    return embedTexts(df, column, model, options, null);
  }

  /** Embeds the strings of {@code column} (null is an error row); keeps every input column. */
  public static Dataset<Row> embedTexts(Dataset<Row> df, String column, ModelRef model, EmbedOptions options,
      EmbedMetrics metrics) {
    StructType in = df.schema();
    int idx = in.fieldIndex(column);
    if (!(in.fields()[idx].dataType() instanceof StringType)) {
      throw new IllegalArgumentException("column " + column + " must be a string column");
    }
    StructType schema = in.add("embedding", EMBEDDING_TYPE, true).add("error", DataTypes.StringType, true);
    return df.mapPartitions(new TextsFn(model, options, idx, metrics), Encoders.row(schema));
  }

  /** The schema of {@link #embedShards}: one row per image member (or error). */
  public static final StructType SHARD_SCHEMA = DataTypes.createStructType(List.of(
      DataTypes.createStructField("path", DataTypes.StringType, false),
      DataTypes.createStructField("shard", DataTypes.StringType, false),
      DataTypes.createStructField("key", DataTypes.StringType, true),
      DataTypes.createStructField("caption", DataTypes.StringType, true),
      DataTypes.createStructField("json", DataTypes.StringType, true),
      DataTypes.createStructField("sha256", DataTypes.StringType, true),
      DataTypes.createStructField("embedding", EMBEDDING_TYPE, true),
      DataTypes.createStructField("error", DataTypes.StringType, true)));

  /**
   * Embeds WebDataset shards ({@code .tar} paths or URIs on any Hadoop filesystem), one shard
   * per task, in the given order. Each image member is a row named {@code SHARD/KEY.EXT} with its
   * sample's {@code .txt} as {@code caption} and {@code .json} as {@code json}; a truncated shard,
   * an oversized member or a sample without image are error rows (see {@link WebDatasetReader}).
   */
  public static Dataset<Row> embedShards(SparkSession spark, List<String> shards, ModelRef model, EmbedOptions options,
      EmbedMetrics metrics) {
    if (shards.isEmpty()) {
      return spark.createDataFrame(List.of(), SHARD_SCHEMA);
    }
    // parallelize with one slice per element: exactly one shard per partition, hence per task.
    List<Row> rows = shards.stream().map(s -> RowFactory.create(s)).toList();
    Dataset<Row> paths = spark.createDataFrame(
        JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(rows, rows.size()),
        DataTypes.createStructType(List.of(DataTypes.createStructField("shard", DataTypes.StringType, false))));
    return paths.mapPartitions(new ShardsFn(model, options, hadoopConf(spark), metrics), Encoders.row(SHARD_SCHEMA));
  }

  private static Broadcast<SerializableConfiguration> hadoopConf(SparkSession spark) {
    return JavaSparkContext.fromSparkContext(spark.sparkContext())
        .broadcast(new SerializableConfiguration(spark.sessionState().newHadoopConf()));
  }

  /**
   * The device a task runs on: {@code auto} takes the first GPU address Spark's resource
   * scheduling assigned to this task ({@code spark.task.resource.gpu.amount}) as {@code cuda:N},
   * else the CPU; anything else is used as given.
   */
  static String taskDevice(String requested) {
    if (!requested.equals("auto")) {
      return requested;
    }
    TaskContext tc = TaskContext.get();
    if (tc != null) {
      ResourceInformation gpu = tc.resourcesJMap().get("gpu");
      if (gpu != null && gpu.addresses().length > 0) {
        return "cuda:" + gpu.addresses()[0];
      }
    }
    return "cpu";
  }

  static String sha256(byte[] data) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError("every JDK has SHA-256", e);
    }
  }

  static <T> CompletableFuture<T> failed(Throwable t) {
    return CompletableFuture.failedFuture(t);
  }

  /** Reads a whole file through Hadoop, refusing one over {@code max} bytes before reading it. */
  static byte[] readBounded(FileSystem fs, org.apache.hadoop.fs.Path p, long max) {
    try {
      FileStatus st = fs.getFileStatus(p);
      if (st.isDirectory()) {
        throw new InvalidInputException(p + ": is a directory");
      }
      if (st.getLen() > max) {
        throw new InvalidInputException(p + ": file of " + st.getLen() + " bytes exceeds the limit of " + max);
      }
      byte[] b = new byte[(int) st.getLen()];
      try (FSDataInputStream in = fs.open(p)) {
        in.readFully(0, b);
      }
      return b;
    } catch (java.io.FileNotFoundException e) {
      throw new Clip4jException(ErrorCode.IO, p + ": no such file");
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, p + ": cannot read the file: " + e, e);
    }
  }

  private static Object[] keptValues(Row r, int skip) {
    Object[] kept = new Object[skip < 0 ? r.size() : r.size() - 1];
    int j = 0;
    for (int i = 0; i < r.size(); i++) {
      if (i != skip) {
        kept[j++] = r.get(i);
      }
    }
    return kept;
  }

  /** Images of one partition. */
  private static final class ImagesFn implements MapPartitionsFunction<Row, Row>, Serializable {
    private static final long serialVersionUID = 1L;
    private final ModelRef model;
    private final EmbedOptions options;
    private final int column;
    private final boolean binary;
    private final boolean dropBinary;
    private final Broadcast<SerializableConfiguration> conf;
    private final EmbedMetrics metrics;

    ImagesFn(ModelRef model, EmbedOptions options, int column, boolean binary, boolean dropBinary,
        Broadcast<SerializableConfiguration> conf, EmbedMetrics metrics) {
      this.model = model;
      this.options = options;
      this.column = column;
      this.binary = binary;
      this.dropBinary = dropBinary;
      this.conf = conf;
      this.metrics = metrics;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
      ExecutorModels.Loaded m = ExecutorModels.get(model, taskDevice(options.device()), options);
      return new OrderedEmbedding<>(rows, r -> {
        Object[] kept = keptValues(r, dropBinary ? column : -1);
        byte[] bytes;
        String name;
        try {
          if (r.isNullAt(column)) {
            throw new InvalidInputException("null " + (binary ? "image bytes" : "path"));
          }
          if (binary) {
            bytes = (byte[]) r.get(column);
            name = nameOf(r);
            if (bytes.length > options.maxInputBytes()) {
              throw new InvalidInputException(name + ": " + bytes.length + " bytes exceeds the limit of "
                  + options.maxInputBytes());
            }
          } else {
            name = r.getString(column);
            org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(name);
            bytes = readBounded(p.getFileSystem(conf.value().value()), p, options.maxInputBytes());
          }
        } catch (Clip4jException e) {
          return new OrderedEmbedding.Pending(kept, null, failed(e));
        } catch (IOException | RuntimeException e) {
          return new OrderedEmbedding.Pending(kept, null, failed(new Clip4jException(ErrorCode.IO, String.valueOf(e), e)));
        }
        String sha = sha256(bytes);
        CompletableFuture<float[]> f;
        try {
          f = m.embedder().embedImage(ImageSource.of(bytes, name));
        } catch (RuntimeException e) {
          f = failed(e);
        }
        return new OrderedEmbedding.Pending(kept, sha, f);
      }, options.window(), true, metrics);
    }

    private static String nameOf(Row r) {
      try {
        int i = r.fieldIndex("path");
        return r.isNullAt(i) ? "image" : String.valueOf(r.get(i));
      } catch (RuntimeException e) {
        return "image";
      }
    }
  }

  /** Texts of one partition. */
  private static final class TextsFn implements MapPartitionsFunction<Row, Row>, Serializable {
    private static final long serialVersionUID = 1L;
    private final ModelRef model;
    private final EmbedOptions options;
    private final int column;
    private final EmbedMetrics metrics;

    TextsFn(ModelRef model, EmbedOptions options, int column, EmbedMetrics metrics) {
      this.model = model;
      this.options = options;
      this.column = column;
      this.metrics = metrics;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
      ExecutorModels.Loaded m = ExecutorModels.get(model, taskDevice(options.device()), options);
      return new OrderedEmbedding<>(rows, r -> {
        Object[] kept = keptValues(r, -1);
        if (r.isNullAt(column)) {
          return new OrderedEmbedding.Pending(kept, null, failed(new InvalidInputException("null text")));
        }
        CompletableFuture<float[]> f;
        try {
          f = m.embedder().embedText(r.getString(column));
        } catch (RuntimeException e) {
          f = failed(e);
        }
        return new OrderedEmbedding.Pending(kept, null, f);
      }, options.window(), false, metrics);
    }
  }

  /** The WebDataset shards of one partition (one, as {@link #embedShards} partitions them). */
  private static final class ShardsFn implements MapPartitionsFunction<Row, Row>, Serializable {
    private static final long serialVersionUID = 1L;
    private final ModelRef model;
    private final EmbedOptions options;
    private final Broadcast<SerializableConfiguration> conf;
    private final EmbedMetrics metrics;

    ShardsFn(ModelRef model, EmbedOptions options, Broadcast<SerializableConfiguration> conf, EmbedMetrics metrics) {
      this.model = model;
      this.options = options;
      this.conf = conf;
      this.metrics = metrics;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> shards) {
      ExecutorModels.Loaded m = ExecutorModels.get(model, taskDevice(options.device()), options);
      Iterator<WebDatasetReader.Sample> samples = new Samples(shards, conf.value().value(), options.maxInputBytes());
      return new OrderedEmbedding<>(samples, s -> {
        Object[] kept = {s.name(), s.shard(), s.key(), s.caption(), s.json()};
        if (s.error() != null) {
          return new OrderedEmbedding.Pending(kept, null, failed(s.error()));
        }
        CompletableFuture<float[]> f;
        try {
          f = m.embedder().embedImage(ImageSource.of(s.image(), s.name()));
        } catch (RuntimeException e) {
          f = failed(e);
        }
        return new OrderedEmbedding.Pending(kept, sha256(s.image()), f);
      }, options.window(), true, metrics);
    }
  }

  /** The samples of several shards in turn; a shard that cannot be opened is one error sample. */
  private static final class Samples implements Iterator<WebDatasetReader.Sample> {
    private final Iterator<Row> shards;
    private final org.apache.hadoop.conf.Configuration conf;
    private final long max;
    private WebDatasetReader current;
    private WebDatasetReader.Sample openError;

    Samples(Iterator<Row> shards, org.apache.hadoop.conf.Configuration conf, long max) {
      this.shards = shards;
      this.conf = conf;
      this.max = max;
      TaskContext tc = TaskContext.get();
      if (tc != null) {
        tc.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) ctx -> closeCurrent());
      }
    }

    @Override
    public boolean hasNext() {
      while (openError == null && (current == null || !current.hasNext())) {
        closeCurrent();
        if (!shards.hasNext()) {
          return false;
        }
        String shard = shards.next().getString(0);
        try {
          org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(shard);
          InputStream in = new BufferedInputStream(p.getFileSystem(conf).open(p), 1 << 16);
          current = new WebDatasetReader(in, shard, max);
        } catch (IOException | RuntimeException e) {
          openError = new WebDatasetReader.Sample(shard, null, shard, null, null, null,
              new Clip4jException(ErrorCode.IO, shard + ": cannot open the shard: " + e, e));
        }
      }
      return true;
    }

    @Override
    public WebDatasetReader.Sample next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      if (openError != null) {
        WebDatasetReader.Sample s = openError;
        openError = null;
        return s;
      }
      return current.next();
    }

    private void closeCurrent() {
      if (current != null) {
        current.close();
        current = null;
      }
    }
  }
}
