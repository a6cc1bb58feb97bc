package dev.clip4j.zeroshot;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * Zero-shot classification, open_clip style: each class is embedded through every prompt
 * template ("a photo of a {}."), the template embeddings are averaged and re-normalised (prompt
 * ensembling), and an image is scored by {@code softmax(exp(logit_scale) * image . class)} over
 * the classes (CLIP, {@link Scoring#SOFTMAX}) or, for sigmoid-loss models (SigLIP, {@link
 * Scoring#SIGMOID}), {@code sigmoid(exp(logit_scale) * image . class + logit_bias)} independently
 * per class, as open_clip's SigLIP zero-shot does.
 *
 * <p>Built once (class embeddings computed and cached at construction), then immutable: every
 * method only reads the cached class embeddings, so one instance is safe to share across threads
 * without locking (e.g. one classifier for every image of a batch job, whatever thread embeds it).
 */
public final class ZeroShotClassifier {
  private final List<String> labels;
  private final float[][] classEmbeddings; // [C][D], unit rows
  private final float scale; // exp(logit_scale)
  private final int dim;
  private final Scoring scoring;
  private final float bias; // logit_bias (SIGMOID), 0 for SOFTMAX

  /** How logits become probabilities. */
  public enum Scoring {
    /** CLIP: softmax over the classes (probabilities sum to 1). */
    SOFTMAX("softmax over the labels (CLIP)"),
    /** SigLIP: sigmoid of each logit plus the model's logit_bias, each label on its own. */
    SIGMOID("sigmoid per label with the model's logit_bias (SigLIP)");

    private final String description;

    Scoring(String description) {
      this.description = description;
    }

    /** A human-readable line (what {@code classify} prints). */
    public String description() {
      return description;
    }
  }

  /** One label's score. */
  public record Prediction(String label, int index, float logit, float probability) {}

  private ZeroShotClassifier(List<String> labels, float[][] classEmbeddings, float logitScale, Scoring scoring,
      float logitBias) {
    this.labels = List.copyOf(labels);
    this.classEmbeddings = classEmbeddings;
    this.scale = (float) Math.exp(logitScale);
    this.dim = classEmbeddings[0].length;
    this.scoring = scoring;
    this.bias = scoring == Scoring.SIGMOID ? logitBias : 0f;
  }

  /**
   * Builds a classifier with sigmoid scoring (SigLIP): {@code sigmoid(exp(logitScale) * image .
   * class + logitBias)} per label.
   *
   * @throws IllegalArgumentException when {@code logitBias} is not finite
   */
  public static ZeroShotClassifier buildSigmoid(List<String> labels, List<String> templates,
      Function<List<String>, float[][]> embedTexts, float logitScale, float logitBias) {
    if (!Float.isFinite(logitBias)) {
      throw new IllegalArgumentException("sigmoid scoring needs a finite logit_bias, got " + logitBias);
    }
    ZeroShotClassifier c = build(labels, templates, embedTexts, logitScale);
    return new ZeroShotClassifier(c.labels, c.classEmbeddings, logitScale, Scoring.SIGMOID, logitBias);
  }

  /** How this classifier turns logits into probabilities. */
  public Scoring scoring() {
    return scoring;
  }

  /**
   * Builds a classifier.
   *
   * @param labels class names, substituted for "{}" in each template
   * @param templates prompt templates, each containing "{}" (e.g. "a photo of a {}.")
   * @param embedTexts embeds a batch of texts to unit-norm rows (e.g. a ClipModel text pipeline)
   * @param logitScale the model's logit_scale (log of the temperature)
   */
  public static ZeroShotClassifier build(
      List<String> labels, List<String> templates, Function<List<String>, float[][]> embedTexts, float logitScale) {
    Objects.requireNonNull(embedTexts, "embedTexts");
    if (labels.isEmpty()) {
      throw new IllegalArgumentException("at least one label");
    }
    if (templates.isEmpty()) {
      throw new IllegalArgumentException("at least one template");
    }
    for (String t : templates) {
      if (!t.contains("{}")) {
        throw new IllegalArgumentException("template '" + t + "' has no {} placeholder");
      }
    }
    List<String> prompts = new ArrayList<>(labels.size() * templates.size());
    for (String label : labels) {
      for (String t : templates) {
        prompts.add(t.replace("{}", label));
      }
    }
    float[][] emb = embedTexts.apply(prompts);
    if (emb.length != prompts.size()) {
      throw new IllegalStateException("text embedder returned " + emb.length + " rows for " + prompts.size() + " prompts");
    }
    int d = emb[0].length;
    float[][] classes = new float[labels.size()][];
    for (int c = 0; c < labels.size(); c++) {
      double[] mean = new double[d];
      for (int t = 0; t < templates.size(); t++) {
        float[] row = emb[c * templates.size() + t];
        for (int j = 0; j < d; j++) {
          mean[j] += row[j];
        }
      }
      classes[c] = normalize(mean);
    }
    return new ZeroShotClassifier(labels, classes, logitScale, Scoring.SOFTMAX, 0f);
  }

  private static float[] normalize(double[] v) {
    double ss = 0;
    for (double x : v) {
      ss += x * x;
    }
    double inv = 1.0 / Math.max(Math.sqrt(ss), 1e-12);
    float[] out = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      out[i] = (float) (v[i] * inv);
    }
    return out;
  }

  /** The labels, in index order. */
  public List<String> labels() {
    return labels;
  }

  /** Copy of the cached class embeddings [C][D]. */
  public float[][] classEmbeddings() {
    float[][] c = new float[classEmbeddings.length][];
    for (int i = 0; i < c.length; i++) {
      c[i] = classEmbeddings[i].clone();
    }
    return c;
  }

  /**
   * Logits for every class: {@code exp(logit_scale) * image . class}, plus {@code logit_bias} with
   * sigmoid scoring.
   */
  public float[] logits(float[] imageEmbedding) {
    if (imageEmbedding.length != dim) {
      throw new IllegalArgumentException("image embedding has " + imageEmbedding.length + " dims, classes have " + dim);
    }
    float[] logits = new float[classEmbeddings.length];
    for (int c = 0; c < logits.length; c++) {
      double dot = 0;
      float[] w = classEmbeddings[c];
      for (int j = 0; j < dim; j++) {
        dot += (double) imageEmbedding[j] * w[j];
      }
      logits[c] = (float) (scale * dot + bias);
    }
    return logits;
  }

  /**
   * Probabilities: softmax over all classes (sum 1) with {@link Scoring#SOFTMAX}; each class's
   * sigmoid (independent, any sum) with {@link Scoring#SIGMOID}.
   */
  public float[] probabilities(float[] imageEmbedding) {
    return probabilitiesOf(logits(imageEmbedding));
  }

  private float[] probabilitiesOf(float[] logits) {
    if (scoring == Scoring.SOFTMAX) {
      return softmax(logits);
    }
    float[] p = new float[logits.length];
    for (int i = 0; i < p.length; i++) {
      p[i] = (float) (1.0 / (1.0 + Math.exp(-(double) logits[i])));
    }
    return p;
  }

  private static float[] softmax(float[] logits) {
    double max = Double.NEGATIVE_INFINITY;
    for (float l : logits) {
      max = Math.max(max, l);
    }
    double sum = 0;
    double[] e = new double[logits.length];
    for (int i = 0; i < logits.length; i++) {
      e[i] = Math.exp(logits[i] - max);
      sum += e[i];
    }
    float[] p = new float[logits.length];
    for (int i = 0; i < p.length; i++) {
      p[i] = (float) (e[i] / sum);
    }
    return p;
  }

  /** The {@code k} most probable labels, best first. */
  public List<Prediction> topK(float[] imageEmbedding, int k) {
    if (k < 1) {
      throw new IllegalArgumentException("k must be >= 1");
    }
    float[] logits = logits(imageEmbedding);
    float[] probs = probabilitiesOf(logits);
    Integer[] idx = new Integer[logits.length];
    for (int i = 0; i < idx.length; i++) {
      idx[i] = i;
    }
    Arrays.sort(idx, Comparator.comparingDouble((Integer i) -> -logits[i]).thenComparingInt(i -> i));
    List<Prediction> out = new ArrayList<>();
    for (int i = 0; i < Math.min(k, idx.length); i++) {
      out.add(new Prediction(labels.get(idx[i]), idx[i], logits[idx[i]], probs[idx[i]]));
    }
    return out;
  }
}
