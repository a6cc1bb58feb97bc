package dev.clip4j.preprocess;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.InvalidInputException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import org.junit.jupiter.api.Test;

/** Argument validation, slot handling and mode rules, with independently computed values. */
class ImagePreprocessorTest {
  private static final float[] MEAN = PreprocessConfig.OPENAI_MEAN;
  private static final float[] STD = PreprocessConfig.OPENAI_STD;

  private static ByteBuffer direct(byte... v) {
    ByteBuffer b = ByteBuffer.allocateDirect(v.length);
    b.put(v).flip();
    return b;
  }

  private static FloatBuffer floats(int n) {
    return ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }

  /** torchvision's ToTensor + Normalize of one byte, in float32. */
  private static float norm(int v, int c) {
    return ((float) v / 255.0f - MEAN[c]) / STD[c];
  }

  @Test
  void constantImageGivesTheNormalisedConstant() {
    ImagePreprocessor pre = new ImagePreprocessor(PreprocessConfig.defaults());
    DecodedImage img = new DecodedImage(ImageMode.RGB, 3, 5, direct(new byte[45]), null, "zeros");
    ByteBuffer px = ByteBuffer.allocateDirect(45);
    for (int i = 0; i < 15; i++) {
      px.put((byte) 200).put((byte) 100).put((byte) 7);
    }
    img = new DecodedImage(ImageMode.RGB, 3, 5, px.flip(), null, "const");
    float[] out = pre.preprocess(img);
    assertThat(out).hasSize(3 * 224 * 224);
    for (int i = 0; i < 224 * 224; i += 997) {
      assertThat(out[i]).isEqualTo(norm(200, 0));
      assertThat(out[224 * 224 + i]).isEqualTo(norm(100, 1));
      assertThat(out[2 * 224 * 224 + i]).isEqualTo(norm(7, 2));
    }
  }

  @Test
  void writesOnlyItsSlotFromTheBufferPosition() {
    PreprocessConfig cfg = PreprocessConfig.builder().imageSize(4).build();
    ImagePreprocessor pre = new ImagePreprocessor(cfg);
    DecodedImage gray = new DecodedImage(ImageMode.L, 1, 1, direct((byte) 51), null, "g");
    FloatBuffer all = floats(5 + 3 * 48);
    for (int i = 0; i < all.capacity(); i++) {
      all.put(i, -9f);
    }
    all.position(5);
    pre.preprocessInto(gray, all, 3, 1);
    assertThat(all.position()).isEqualTo(5);
    for (int i = 0; i < all.capacity(); i++) {
      int slotOffset = i - 5 - 48;
      if (slotOffset >= 0 && slotOffset < 48) {
        assertThat(all.get(i)).isEqualTo(norm(51, slotOffset / 16)); // L replicated to RGB
      } else {
        assertThat(all.get(i)).isEqualTo(-9f);
      }
    }
  }

  @Test
  void invalidBatchArgumentsAreRejectedBeforeNativeCode() {
    ImagePreprocessor pre = new ImagePreprocessor(PreprocessConfig.builder().imageSize(2).build());
    DecodedImage img = new DecodedImage(ImageMode.L, 1, 1, direct((byte) 1), null, "g");
    assertThatThrownBy(() -> pre.preprocessInto(img, FloatBuffer.allocate(24), 2, 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("direct");
    assertThatThrownBy(() -> pre.preprocessInto(img, floats(24), 2, 2))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("slot");
    assertThatThrownBy(() -> pre.preprocessInto(img, floats(24), 2, -1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("slot");
    assertThatThrownBy(() -> pre.preprocessInto(img, floats(23), 2, 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needs 24");
    assertThatThrownBy(() -> pre.preprocessInto(img, floats(24), 0, 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("capacity");
    FloatBuffer swapped = ByteBuffer.allocateDirect(96)
        .order(ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN)
        .asFloatBuffer();
    assertThatThrownBy(() -> pre.preprocessInto(img, swapped, 2, 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("byte order");
    assertThatThrownBy(() -> new DecodedImage(ImageMode.RGB, 2, 2, direct(new byte[11]), null, "x"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needs 12");
  }

  @Test
  void tooElongatedImageIsAnInvalidInputNamingIt() {
    ImagePreprocessor pre = new ImagePreprocessor(
        PreprocessConfig.builder().imageSize(2).resizeMode(ResizeMode.LONGEST).build());
    DecodedImage strip = new DecodedImage(ImageMode.L, 1, 10000, ByteBuffer.allocateDirect(10000), null, "strip.png");
    assertThatThrownBy(() -> pre.preprocess(strip))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("strip.png")
        .hasMessageContaining("elongated");
  }

  @Test
  void paletteImagesUseNearestAndPadWithTheirPaletteColour() {
    // P image 2 x 1: colours (0,0,0) and (255,255,255); LONGEST to 4 gives a 4 x 2 image padded
    // with one row above and below in palette colour 1 = (10, 20, 30).
    byte[] palette = {0, 0, 0, 10, 20, 30, (byte) 255, (byte) 255, (byte) 255};
    DecodedImage p = new DecodedImage(ImageMode.P, 2, 1, direct(new byte[] {0, 0, 0, (byte) 255, (byte) 255, (byte) 255}),
        palette, "p");
    PreprocessConfig cfg = PreprocessConfig.builder().imageSize(4).resizeMode(ResizeMode.LONGEST).fillColor(1).build();
    float[] out = new ImagePreprocessor(cfg).preprocess(p);
    // Row 0 and 3: fill colour; rows 1-2: nearest 2 -> 4 columns = 0, 0, 255, 255 (no bicubic ringing).
    int[] expectRow = {0, 0, 255, 255};
    int[] fill = {10, 20, 30};
    for (int c = 0; c < 3; c++) {
      for (int x = 0; x < 4; x++) {
        assertThat(out[c * 16 + x]).isEqualTo(norm(fill[c], c));
        assertThat(out[c * 16 + 12 + x]).isEqualTo(norm(fill[c], c));
        assertThat(out[c * 16 + 4 + x]).isEqualTo(norm(expectRow[x], c));
        assertThat(out[c * 16 + 8 + x]).isEqualTo(norm(expectRow[x], c));
      }
    }
    // The same pixels as RGB are resized bicubic: the black/white edge rings (values other than 0/255).
    DecodedImage rgb = new DecodedImage(ImageMode.RGB, 2, 1, direct(new byte[] {0, 0, 0, (byte) 255, (byte) 255, (byte) 255}),
        null, "rgb");
    float[] ringing = new ImagePreprocessor(cfg).preprocess(rgb);
    assertThat(ringing[5]).isNotEqualTo(norm(0, 0));
  }

  @Test
  void configFromOpenClipJson() throws Exception {
    ObjectMapper om = new ObjectMapper();
    PreprocessConfig c = PreprocessConfig.fromOpenClip(om.readTree(
        "{\"size\": [336, 336], \"mean\": 0.5, \"std\": [0.5, 0.25, 0.125], \"interpolation\": \"random\","
            + " \"resize_mode\": \"squash\", \"fill_color\": 128}"), 224);
    assertThat(c.imageSize()).isEqualTo(336);
    assertThat(c.mean()).containsExactly(0.5f, 0.5f, 0.5f);
    assertThat(c.std()).containsExactly(0.5f, 0.25f, 0.125f);
    assertThat(c.interpolation()).isEqualTo(Interpolation.BICUBIC);
    assertThat(c.resizeMode()).isEqualTo(ResizeMode.SQUASH);
    assertThat(c.fillColor()).isEqualTo(128);
    assertThat(PreprocessConfig.fromOpenClip(om.readTree("{}"), 256).imageSize()).isEqualTo(256);
    assertThat(PreprocessConfig.fromOpenClip(om.readTree("{\"interpolation\": \"bilinear\"}"), 224).interpolation())
        .isEqualTo(Interpolation.BILINEAR);
    assertThatThrownBy(() -> PreprocessConfig.fromOpenClip(om.readTree("{\"size\": [224, 256]}"), 224))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> PreprocessConfig.fromOpenClip(om.readTree("{\"resize_mode\": \"crop\"}"), 224))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> PreprocessConfig.fromOpenClip(om.readTree("{\"std\": [1, 0, 1]}"), 224))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
