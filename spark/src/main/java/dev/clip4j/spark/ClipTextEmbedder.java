package dev.clip4j.spark;

import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * A Spark ML {@code Transformer} embedding texts: {@code inputCol} is a string column (null is an
 * error row); see {@link ClipTransformer} for the Params and {@link ClipSpark#embedTexts} for the semantics.
 *
 * <pre>{@code
 * ClipTextEmbedder emb = new ClipTextEmbedder().setInputCol("caption").setModelPath("/models/ViT-B-32");
 * Dataset<Row> out = new Pipeline().setStages(new PipelineStage[] {emb}).fit(df).transform(df);
 * emb.save("hdfs:///pipelines/clip");  ClipTextEmbedder.load("hdfs:///pipelines/clip");
 * }</pre>
 */
public final class ClipTextEmbedder extends ClipTransformer {
  private static final long serialVersionUID = 1L;

  public ClipTextEmbedder() {
    this(Identifiable$.MODULE$.randomUID("clipTextEmbedder"));
  }

  public ClipTextEmbedder(String uid) {
    super(uid);
  }

  public ClipTextEmbedder setInputCol(String c) {
    set(inputCol(), c);
    return this;
  }

  public ClipTextEmbedder setOutputCol(String c) {
    set(outputCol(), c);
    return this;
  }

  public ClipTextEmbedder setErrorCol(String c) {
    set(errorCol(), c);
    return this;
  }

  public ClipTextEmbedder setModelPath(String p) {
    set(modelPath(), p);
    return this;
  }

  public ClipTextEmbedder setBatchSize(int n) {
    set(batchSize(), n);
    return this;
  }

  public ClipTextEmbedder setDevice(String d) {
    set(device(), d);
    return this;
  }

  @Override
  Dataset<Row> embed(Dataset<Row> df) {
    return ClipSpark.embedTexts(df, getInputCol(), model(), options(), null);
  }

  public static MLReader<ClipTextEmbedder> read() {
    return new DefaultParamsReader<>();
  }

  public static ClipTextEmbedder load(String path) {
    return read().load(path);
  }
}
