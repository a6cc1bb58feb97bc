package dev.clip4j.spark;

import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * A Spark ML {@code Transformer} embedding images: {@code inputCol} is a binary column (encoded
 * image bytes, e.g. the binaryFile source's {@code content}) or a string column of paths/URIs;
 * see {@link ClipTransformer} for the Params and {@link ClipSpark#embedImages} for the semantics.
 *
 * <pre>{@code
 * ClipImageEmbedder emb = new ClipImageEmbedder().setInputCol("content").setModelPath("/models/ViT-B-32");
 * Dataset<Row> out = new Pipeline().setStages(new PipelineStage[] {emb}).fit(df).transform(df);
 * emb.save("hdfs:///pipelines/clip");  ClipImageEmbedder.load("hdfs:///pipelines/clip");
 * }</pre>
 */
public final class ClipImageEmbedder extends ClipTransformer {
  private static final long serialVersionUID = 1L;

  public ClipImageEmbedder() {
    this(Identifiable$.MODULE$.randomUID("clipImageEmbedder"));
  }

  public ClipImageEmbedder(String uid) {
    super(uid);
  }

  public ClipImageEmbedder setInputCol(String c) {
    set(inputCol(), c);
    return this;
  }

  public ClipImageEmbedder setOutputCol(String c) {
    set(outputCol(), c);
    return this;
  }

  public ClipImageEmbedder setErrorCol(String c) {
    set(errorCol(), c);
    return this;
  }

  public ClipImageEmbedder setModelPath(String p) {
    set(modelPath(), p);
    return this;
  }

  public ClipImageEmbedder setBatchSize(int n) {
    set(batchSize(), n);
    return this;
  }

  public ClipImageEmbedder setDevice(String d) {
    set(device(), d);
    return this;
  }

  @Override
  Dataset<Row> embed(Dataset<Row> df) {
    return ClipSpark.embedImages(df, getInputCol(), model(), options(), null, true);
  }

  public static MLReader<ClipImageEmbedder> read() {
    return new DefaultParamsReader<>();
  }

  public static ClipImageEmbedder load(String path) {
    return read().load(path);
  }
}
