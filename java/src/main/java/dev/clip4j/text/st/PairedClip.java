package dev.clip4j.text.st;

import dev.clip4j.InvalidModelException;
import dev.clip4j.model.ClipModel;
import dev.clip4j.zeroshot.ZeroShotClassifier;
import java.util.List;
import java.util.Objects;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;

/**
 * A CLIP image tower paired with a separately loaded text pipeline, the way
 * clip-ViT-B-32-multilingual-v1 pairs with OpenAI's ViT-B-32 image tower. Pairing refuses
 * pipelines whose output width differs from the image embeddings (e.g. a pipeline whose Dense
 * layer was lost). Text embeddings are L2-normalised here, as CLIP similarity needs. Owns both
 * models. Thread-safe.
 */
public final class PairedClip implements AutoCloseable {
  private final ClipModel image;
  private final SentenceTransformerPipeline text;

  private PairedClip(ClipModel image, SentenceTransformerPipeline text) {
    this.image = image;
    this.text = text;
  }

  /** Pairs {@code image} (its image tower and logit scale) with {@code text}; takes ownership of both. */
  public static PairedClip of(ClipModel image, SentenceTransformerPipeline text) {
    Objects.requireNonNull(image, "image");
    Objects.requireNonNull(text, "text");
    if (image.embedDim() != text.outputDim()) {
      throw new InvalidModelException("cannot pair: the text pipeline gives " + text.outputDim() + "-d vectors ("
          + String.join(" -> ", text.moduleDescriptions()) + ") but the image tower gives " + image.embedDim()
          + "-d embeddings; a sentence-transformers CLIP text model needs its Dense projection (check modules.json)");
    }
    return new PairedClip(image, text);
  }

  public ClipModel imageModel() {
    return image;
  }

  public SentenceTransformerPipeline textPipeline() {
    return text;
  }

  /** Unit-norm image embeddings (see {@link ClipModel#embedImages}). */
  public Tensor embedImages(Tensor pixels) {
    return image.embedImages(pixels);
  }

  /** Unit-norm text embeddings [N, D] from the text pipeline. */
  public Tensor embedTexts(List<String> texts) {
    Tensor t = text.embed(texts);
    return t.div(t.norm(new ScalarOptional(new Scalar(2.0)), new long[] {1}, true).clamp_min(new Scalar(1e-12)));
  }

  /** The image model's logit scale (log temperature). */
  public float logitScale() {
    return image.logitScale();
  }

  /** A zero-shot classifier over {@code labels} with prompt {@code templates} ("{}" = label). */
  public ZeroShotClassifier classifier(List<String> labels, List<String> templates) {
    return ZeroShotClassifier.build(labels, templates, prompts -> rows(embedTexts(prompts)), logitScale());
  }

  static float[][] rows(Tensor t) {
    Tensor c = t.contiguous();
    int n = (int) c.size(0);
    int d = (int) c.size(1);
    float[][] out = new float[n][d];
    org.bytedeco.javacpp.FloatPointer p = c.data_ptr_float();
    for (int i = 0; i < n; i++) {
      p.position((long) i * d).get(out[i]);
    }
    return out;
  }

  @Override
  public void close() {
    text.close();
    image.close();
  }
}
