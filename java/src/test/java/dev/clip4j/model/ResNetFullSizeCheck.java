package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.head.Activation;
import dev.clip4j.testing.Tensors;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Full-size RN50 against open_clip 2.20 (seeded random weights made at run time by {@code
 * tools/reference/resnet_clip.py --full DIR}; ~400 MB, never committed): from the open_clip hub
 * directory, from the bare checkpoint named {@code RN50}, and from an OpenAI-style fp16 archive
 * traced from OpenAI's own {@code clip/model.py} (heads inferred as width / 64). Not in the default
 * run (its name does not end in Test): {@code tools/reference/resnet_full_check.sh} runs it, and it
 * fails, not skips, when the directory is missing.
 */
class ResNetFullSizeCheck {
  private static Path dir() {
    String d = System.getProperty("clip4j.resnetFullDir", System.getenv("CLIP4J_RESNET_FULL_DIR"));
    assertThat(d).as("-Dclip4j.resnetFullDir or CLIP4J_RESNET_FULL_DIR (tools/reference/resnet_full_check.sh)")
        .isNotNull();
    Path p = Path.of(d);
    assertThat(Files.isDirectory(p.resolve("RN50"))).as(p + "/RN50").isTrue();
    return p;
  }

  private static void check(ClipModel m, Path dir, String suffix, String what) throws Exception {
    TestNpy.Array px = TestNpy.read(dir.resolve("inputs_pixels_224.npy"));
    TestNpy.Array ids = TestNpy.read(dir.resolve("inputs_ids.npy"));
    float[] wantImg = TestNpy.read(dir.resolve("RN50/expected_image_embeddings" + suffix + ".npy")).floats();
    float[] wantTxt = TestNpy.read(dir.resolve("RN50/expected_text_embeddings" + suffix + ".npy")).floats();
    try (Tensor p = Tensors.fromFloats(px.floats(), 4, 3, 224, 224); Tensor t = ModelFixtures.longs(ids.longs(), 4, 77)) {
      long t0 = System.nanoTime();
      float[] img = toFloats(m.embedImages(p));
      long t1 = System.nanoTime();
      float[] txt = toFloats(m.embedTexts(t));
      double di = maxAbsDiff(img, wantImg);
      double dt = maxAbsDiff(txt, wantTxt);
      System.out.printf("RN50 %s: max abs diff images %.3g, texts %.3g (4 images in %.1f s)%n", what, di, dt,
          (t1 - t0) / 1e9);
      assertThat(di).isLessThanOrEqualTo(1e-5);
      assertThat(dt).isLessThanOrEqualTo(1e-5);
    }
  }

  @Test
  void rn50MatchesOpenClipFromEveryLayout() throws Exception {
    Path dir = dir();
    LoadOptions gelu = LoadOptions.builder().activation(Activation.GELU).build(); // open_clip's RN50.json: GELU
    try (ClipModel m = ClipModel.load(dir.resolve("RN50"), gelu)) {
      assertThat(m.info().parameterCount()).isGreaterThan(100_000_000L);
      check(m, dir, "", "open_clip hub dir");
    }
    try (ClipModel m = ClipModel.load(dir.resolve("RN50/open_clip_pytorch_model.bin"),
        LoadOptions.builder().modelName("RN50").activation(Activation.GELU).build())) {
      check(m, dir, "", "bare checkpoint named RN50");
    }
    // Throughput mode (the batch at once): still open_clip's numbers; are its rows the bits of a batch of one?
    float[] oneByOne;
    try (ClipModel m = ClipModel.load(dir.resolve("RN50"), gelu);
        Tensor p = Tensors.fromFloats(TestNpy.read(dir.resolve("inputs_pixels_224.npy")).floats(), 4, 3, 224, 224)) {
      oneByOne = toFloats(m.embedImages(p));
    }
    try (ClipModel m = ClipModel.load(dir.resolve("RN50"), LoadOptions.builder().activation(Activation.GELU)
        .batchInvariant(false).build())) {
      check(m, dir, "", "open_clip hub dir, throughput mode (whole batch)");
      try (Tensor p = Tensors.fromFloats(TestNpy.read(dir.resolve("inputs_pixels_224.npy")).floats(), 4, 3, 224, 224)) {
        float[] batched = toFloats(m.embedImages(p));
        int same = 0;
        for (int r = 0; r < 4; r++) {
          same += java.util.Arrays.equals(java.util.Arrays.copyOfRange(batched, r * 1024, (r + 1) * 1024),
              java.util.Arrays.copyOfRange(oneByOne, r * 1024, (r + 1) * 1024)) ? 1 : 0;
        }
        System.out.printf("RN50 throughput mode: %d of 4 rows bitwise equal to one-at-a-time; max abs diff %.3g%n",
            same, maxAbsDiff(batched, oneByOne));
      }
    }
    try (ClipModel m = ClipModel.load(dir.resolve("RN50/openai_rn50_fp16.pt"))) {
      assertThat(m.info().format()).isEqualTo(ModelFormat.OPENAI_JIT);
      assertThat(m.info().activation()).isEqualTo(Activation.QUICK_GELU);
      check(m, dir, "_openai", "OpenAI-style fp16 archive (traced clip/model.py)");
    }
  }
}
