package dev.clip4j.preprocess;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidInputException;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * {@link ImagePreprocessor#decodeAndPreprocessInto}: the same floats as decode + preprocessInto,
 * with the pixels in reused per-thread memory (no direct buffer per image left for the GC).
 */
class DecodeAndPreprocessTest {
  private static byte[] encode(int w, int h, long seed, String format) throws IOException {
    Random r = new Random(seed);
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, r.nextInt(1 << 24));
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    assertThat(ImageIO.write(img, format, out)).isTrue();
    return out.toByteArray();
  }

  private static float[] viaDecodedImage(ImagePreprocessor pre, byte[] data, DecodeOptions opts) {
    return pre.preprocess(ImageDecoder.decode(data, "x", opts));
  }

  private static float[] viaScratch(ImagePreprocessor pre, byte[] data, DecodeOptions opts, int slot) {
    int n = pre.config().floatsPerImage();
    FloatBuffer batch = ByteBuffer.allocateDirect(4 * 3 * n).order(ByteOrder.nativeOrder()).asFloatBuffer();
    pre.decodeAndPreprocessInto(null, data, "x", opts, batch, 3, slot);
    float[] out = new float[n];
    batch.position(slot * n).get(out);
    return out;
  }

  private static long directBuffers() {
    for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
      if (b.getName().equals("direct")) {
        return b.getCount();
      }
    }
    throw new IllegalStateException("no direct buffer pool bean");
  }

  @Test
  void sameFloatsAsDecodeThenPreprocessForEveryPathOfTheDecoder() throws IOException, URISyntaxException {
    ImagePreprocessor pre = new ImagePreprocessor(PreprocessConfig.builder().imageSize(32).build());
    List<byte[]> inputs = new ArrayList<>();
    inputs.add(encode(40, 30, 1, "png"));
    inputs.add(encode(300, 200, 2, "jpeg"));
    inputs.add(encode(30, 40, 3, "bmp"));
    inputs.add(encode(3000, 2000, 4, "png")); // 18 MB of pixels: beyond the kept block, a one-off
    inputs.add(encode(64, 48, 5, "gif"));
    Path cmyk = Path.of(getClass().getResource("cmyk").toURI());
    inputs.add(Files.readAllBytes(cmyk.resolve("magick_ycck_420.jpg")));
    inputs.add(Files.readAllBytes(cmyk.resolve("gif_screen.gif")));
    inputs.add(Files.readAllBytes(cmyk.resolve("pillow_cmyk_exif6.jpg")));
    for (DecodeOptions opts : new DecodeOptions[] {DecodeOptions.defaults(), DecodeOptions.defaults().withExifOrientation(true)}) {
      for (int i = 0; i < inputs.size(); i++) {
        float[] want = viaDecodedImage(pre, inputs.get(i), opts);
        for (int slot : new int[] {0, 2}) {
          assertThat(viaScratch(pre, inputs.get(i), opts, slot)).as("input %d slot %d %s", i, slot, opts).isEqualTo(want);
        }
      }
    }
    // the rotated CMYK image differs from the plain one, so the EXIF path really ran in scratch memory
    byte[] rotated = inputs.get(inputs.size() - 1);
    assertThat(viaScratch(pre, rotated, DecodeOptions.defaults().withExifOrientation(true), 1))
        .isNotEqualTo(viaScratch(pre, rotated, DecodeOptions.defaults(), 1));
  }

  @Test
  void noDirectBufferPerImage() throws IOException {
    ImagePreprocessor pre = new ImagePreprocessor(PreprocessConfig.builder().imageSize(32).build());
    byte[] jpeg = encode(200, 150, 7, "jpeg");
    byte[] png = encode(120, 90, 8, "png");
    viaScratch(pre, jpeg, DecodeOptions.defaults(), 0); // the thread's block grows once
    int n = pre.config().floatsPerImage();
    FloatBuffer batch = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder()).asFloatBuffer();
    long before = directBuffers();
    for (int i = 0; i < 200; i++) {
      pre.decodeAndPreprocessInto(null, i % 2 == 0 ? jpeg : png, "x", DecodeOptions.defaults(), batch, 1, 0);
    }
    // A GC in between can only lower the count; the old path added one buffer per image.
    assertThat(directBuffers()).isLessThanOrEqualTo(before);
    long old = directBuffers();
    for (int i = 0; i < 20; i++) {
      pre.preprocessInto(ImageDecoder.decode(png, "x", DecodeOptions.defaults()), batch, 1, 0);
    }
    assertThat(directBuffers()).as("decode() itself still returns a buffer the caller owns").isGreaterThan(old);
  }

  @Test
  void failuresAreTypedAndLeaveTheScratchUsable() throws IOException {
    ImagePreprocessor pre = new ImagePreprocessor(PreprocessConfig.builder().imageSize(16).build());
    int n = pre.config().floatsPerImage();
    FloatBuffer batch = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder()).asFloatBuffer();
    byte[] good = encode(20, 20, 9, "png");
    byte[] truncated = java.util.Arrays.copyOf(encode(200, 200, 10, "jpeg"), 300);
    assertThatThrownBy(() -> pre.decodeAndPreprocessInto(null, truncated, "cut.jpg", DecodeOptions.defaults(), batch, 1, 0))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("cut.jpg");
    assertThatThrownBy(() -> pre.decodeAndPreprocessInto(Path.of("/nonexistent/x.png"), null, "x", DecodeOptions.defaults(),
        batch, 1, 0)).isInstanceOf(InvalidInputException.class);
    // the scope was closed: the next image decodes (a second open would throw if it were not)
    pre.decodeAndPreprocessInto(null, good, "good", DecodeOptions.defaults(), batch, 1, 0);
    float[] got = new float[n];
    batch.position(0).get(got);
    assertThat(got).isEqualTo(pre.preprocess(ImageDecoder.decode(good, "good", DecodeOptions.defaults())));
  }
}
