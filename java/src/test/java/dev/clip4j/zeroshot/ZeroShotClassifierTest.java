package dev.clip4j.zeroshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.data.Offset.offset;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ZeroShotClassifierTest {
  // Text "embeddings" by prompt: unit vectors chosen so the ensemble mean is easy to compute.
  private static final Map<String, float[]> TEXT = Map.of(
      "a cat", new float[] {1, 0, 0},
      "photo of cat", new float[] {0, 1, 0},
      "a dog", new float[] {0, 0, 1},
      "photo of dog", new float[] {0, 0, 1});

  private static float[][] embed(List<String> prompts) {
    List<float[]> rows = new ArrayList<>();
    for (String p : prompts) {
      rows.add(TEXT.get(p));
    }
    return rows.toArray(new float[0][]);
  }

  @Test
  void ensemblesTemplatesAndScoresWithTheScaledSoftmax() {
    ZeroShotClassifier zs = ZeroShotClassifier.build(
        List.of("cat", "dog"), List.of("a {}", "photo of {}"), ZeroShotClassifierTest::embed, (float) Math.log(100));
    float[][] classes = zs.classEmbeddings();
    double r = 1 / Math.sqrt(2);
    assertThat(classes[0]).containsExactly(new float[] {(float) r, (float) r, 0}, offset(1e-7f));
    assertThat(classes[1]).containsExactly(new float[] {0, 0, 1}, offset(1e-7f));

    float[] image = {0.6f, 0.0f, 0.8f};
    float[] logits = zs.logits(image);
    assertThat(logits[0]).isCloseTo((float) (100 * 0.6 * r), offset(1e-4f));
    assertThat(logits[1]).isCloseTo(80f, offset(1e-4f));
    float[] probs = zs.probabilities(image);
    double e0 = Math.exp(100 * 0.6 * r - 80);
    assertThat(probs[0]).isCloseTo((float) (e0 / (1 + e0)), offset(1e-6f));
    assertThat(probs[0] + probs[1]).isCloseTo(1f, offset(1e-6f));

    List<ZeroShotClassifier.Prediction> top = zs.topK(image, 5);
    assertThat(top).hasSize(2);
    assertThat(top.get(0).label()).isEqualTo("dog");
    assertThat(top.get(0).probability()).isEqualTo(probs[1]);
    assertThat(top.get(1).label()).isEqualTo("cat");
  }

  @Test
  void rejectsBadArguments() {
    assertThatThrownBy(() -> ZeroShotClassifier.build(List.of("cat"), List.of("no placeholder"), ZeroShotClassifierTest::embed, 0f))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("{}");
    assertThatThrownBy(() -> ZeroShotClassifier.build(List.of(), List.of("a {}"), ZeroShotClassifierTest::embed, 0f))
        .isInstanceOf(IllegalArgumentException.class);
    ZeroShotClassifier zs = ZeroShotClassifier.build(List.of("cat"), List.of("a {}"), ZeroShotClassifierTest::embed, 0f);
    assertThatThrownBy(() -> zs.logits(new float[2])).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> zs.topK(new float[3], 0)).isInstanceOf(IllegalArgumentException.class);
  }
}
