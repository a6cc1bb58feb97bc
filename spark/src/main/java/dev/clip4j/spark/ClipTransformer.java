package dev.clip4j.spark;

import java.util.Arrays;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * The shared Params of {@link ClipImageEmbedder} and {@link ClipTextEmbedder}: {@code inputCol},
 * {@code outputCol} (default {@code embedding}), {@code errorCol} (default {@code error}),
 * {@code modelPath}, {@code batchSize} (32), {@code device} ({@code auto}: the task's GPU from
 * Spark's resource scheduling, else the CPU). The output keeps every input column and adds the
 * two columns. Persisted with {@code save(path)} / {@code load(path)} (Spark ML's default params
 * format: the model files are referenced by path, not copied).
 */
abstract class ClipTransformer extends Transformer implements DefaultParamsWritable {
  private static final long serialVersionUID = 1L;
  private final String uid;
  private final Param<String> inputCol;
  private final Param<String> outputCol;
  private final Param<String> errorCol;
  private final Param<String> modelPath;
  private final IntParam batchSize;
  private final Param<String> device;

  ClipTransformer(String uid) {
    this.uid = uid;
    inputCol = new Param<>(this, "inputCol", "input column");
    outputCol = new Param<>(this, "outputCol", "output column: array<float> unit-norm embeddings, null on error");
    errorCol = new Param<>(this, "errorCol", "error column: CODE: message, null when embedded");
    modelPath = new Param<>(this, "modelPath", "model directory or file every executor can read (or sparkfiles:NAME)");
    batchSize = new IntParam(this, "batchSize", "inputs per forward pass", ParamValidators.gtEq(1));
    device = new Param<>(this, "device", "auto (the task's GPU, else cpu), cpu, cuda or cuda:N");
    setDefault(outputCol, "embedding");
    setDefault(errorCol, "error");
    setDefault(batchSize, 32);
    setDefault(device, "auto");
  }

  @Override
  public String uid() {
    return uid;
  }

  // Spark finds Params through public no-argument methods returning a Param.
  public Param<String> inputCol() {
    return inputCol;
  }

  public Param<String> outputCol() {
    return outputCol;
  }

  public Param<String> errorCol() {
    return errorCol;
  }

  public Param<String> modelPath() {
    return modelPath;
  }

  public IntParam batchSize() {
    return batchSize;
  }

  public Param<String> device() {
    return device;
  }

  public String getInputCol() {
    return $(inputCol);
  }

  public String getOutputCol() {
    return $(outputCol);
  }

  public String getModelPath() {
    return $(modelPath);
  }

  public int getBatchSize() {
    return (Integer) $(batchSize);
  }

  public String getDevice() {
    return $(device);
  }

  EmbedOptions options() {
    return EmbedOptions.defaults().withBatchSize(getBatchSize()).withDevice(getDevice());
  }

  ModelRef model() {
    return ModelRef.of($(modelPath));
  }

  /** The library call on the whole frame; returns input columns + (sha256) + embedding + error. */
  abstract Dataset<Row> embed(Dataset<Row> df);

  @Override
  public Dataset<Row> transform(Dataset<?> dataset) {
    transformSchema(dataset.schema());
    Dataset<Row> df = dataset.toDF();
    String[] inputCols = df.columns();
    Dataset<Row> out = embed(df);
    org.apache.spark.sql.Column[] cols = new org.apache.spark.sql.Column[inputCols.length + 2];
    for (int i = 0; i < inputCols.length; i++) {
      cols[i] = out.col(inputCols[i]);
    }
    cols[inputCols.length] = out.col("embedding").as($(outputCol));
    cols[inputCols.length + 1] = out.col("error").as($(errorCol));
    return out.select(cols);
  }

  @Override
  public StructType transformSchema(StructType schema) {
    if (!isDefined(inputCol) || !isDefined(modelPath)) {
      throw new IllegalArgumentException(uid + ": inputCol and modelPath must be set");
    }
    schema.apply($(inputCol)); // throws, naming the column, when absent
    for (String c : Arrays.asList($(outputCol), $(errorCol))) {
      if (Arrays.asList(schema.fieldNames()).contains(c)) {
        throw new IllegalArgumentException(uid + ": output column " + c + " already exists");
      }
    }
    return schema.add($(outputCol), ClipSpark.EMBEDDING_TYPE, true).add($(errorCol), DataTypes.StringType, true);
  }

  @Override
  public Transformer copy(ParamMap extra) {
    return defaultCopy(extra);
  }
}
