package dev.clip4j.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.io.Npy;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * A full-size transformers SiglipModel (google/siglip-base-patch16-224's geometry and hub-style
 * config.json, seeded random weights generated at run time, ~800 MB: not a CI test, the class name
 * keeps it out of surefire's default includes) against transformers 4.57.6. Run by
 * tools/reference/hf_siglip_full_check.sh, which names the directory in {@code
 * CLIP4J_HF_SIGLIP_FULL_DIR}; fails (never skips) when that is missing.
 */
class HfSiglipFullSizeCheck {
  @Test
  void fullSizeSiglipModelMatchesTransformers() throws Exception {
    String env = System.getenv("CLIP4J_HF_SIGLIP_FULL_DIR");
    assertThat(env).as("CLIP4J_HF_SIGLIP_FULL_DIR (see tools/reference/hf_siglip_full_check.sh)").isNotBlank();
    Path dir = Path.of(env);
    assertThat(Files.isRegularFile(dir.resolve("config.json"))).isTrue();
    long t0 = System.nanoTime();
    try (ClipModel model = ClipModel.load(dir)) {
      assertThat(model.info().format()).isEqualTo(ModelFormat.HF_SIGLIP);
      System.out.printf("loaded in %.1f s: %s%n", (System.nanoTime() - t0) / 1e9, model.info().architecture());
      Npy.Array px = Npy.read(dir.resolve("pixels.npy"));
      Npy.Array ids = Npy.read(dir.resolve("ids.npy"));
      try (FloatPointer p = new FloatPointer(px.floats()); Tensor view = torch.from_blob(p, px.shape());
          Tensor pixels = view.clone(); Tensor img = model.embedImages(pixels);
          Tensor tok = ModelFixtures.longs(ids.longs(), ids.shape()); Tensor txt = model.embedTexts(tok)) {
        float image = maxAbsDiff(img, Npy.read(dir.resolve("image.npy")).floats());
        float text = maxAbsDiff(txt, Npy.read(dir.resolve("text.npy")).floats());
        System.out.printf("%s full size: max |clip4j - transformers| image %.3g, text %.3g%n", dir.getFileName(),
            image, text);
        assertThat(image).isLessThanOrEqualTo(1e-5f);
        assertThat(text).isLessThanOrEqualTo(1e-5f);
      }
      assertThat(model.logitBias()).isEqualTo(Npy.read(dir.resolve("logit_bias.npy")).floats()[0]);
    }
  }

  private static float maxAbsDiff(Tensor t, float[] want) {
    try (Tensor c = t.contiguous()) {
      float[] got = new float[(int) c.numel()];
      c.data_ptr_float().get(got);
      assertThat(got).hasSameSizeAs(want);
      float m = 0;
      for (int i = 0; i < got.length; i++) {
        m = Math.max(m, Math.abs(got[i] - want[i]));
      }
      return m;
    }
  }
}
