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
 * A full-size SigLIP (ViT-B-16-SigLIP, or what the script's MODEL names) against open_clip 2.32 + timm 0.9.16 with seeded random weights
 * generated at run time (~800 MB, so not a CI test: the class name keeps it out of surefire's
 * default includes). Run by tools/reference/siglip_full_check.sh, which generates the directory and
 * names it in {@code CLIP4J_SIGLIP_FULL_DIR}; fails (never skips) when that is missing.
 */
class SiglipFullSizeCheck {
  @Test
  void fullSizeSiglipMatchesOpenClip() throws Exception {
    String env = System.getenv("CLIP4J_SIGLIP_FULL_DIR");
    assertThat(env).as("CLIP4J_SIGLIP_FULL_DIR (see tools/reference/siglip_full_check.sh)").isNotBlank();
    Path dir = Path.of(env);
    assertThat(Files.isRegularFile(dir.resolve("open_clip_config.json"))).isTrue();
    long t0 = System.nanoTime();
    try (ClipModel model = ClipModel.load(dir)) { // the built-in trunk table (e.g. vit_base_patch16_siglip_224)
      System.out.printf("loaded in %.1f s: %s%n  %s%n", (System.nanoTime() - t0) / 1e9, model.info().architecture(),
          model.info().invariance());
      Npy.Array px = Npy.read(dir.resolve("pixels.npy"));
      Npy.Array ids = Npy.read(dir.resolve("ids.npy"));
      try (FloatPointer p = new FloatPointer(px.floats()); Tensor view = torch.from_blob(p, px.shape());
          Tensor pixels = view.clone(); Tensor img = model.embedImages(pixels);
          Tensor tok = ModelFixtures.longs(ids.longs(), ids.shape()); Tensor txt = model.embedTexts(tok)) {
        float image = maxAbsDiff(img, Npy.read(dir.resolve("image.npy")).floats());
        float text = maxAbsDiff(txt, Npy.read(dir.resolve("text.npy")).floats());
        System.out.printf("%s full size: max |clip4j - open_clip| image %.3g, text %.3g%n", dir.getFileName(), image,
            text);
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
