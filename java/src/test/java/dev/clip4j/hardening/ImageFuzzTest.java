package dev.clip4j.hardening;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.clip4j.Clip4jException;
import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.DecodedImage;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.preprocess.ImagePreprocessor;
import dev.clip4j.preprocess.PreprocessConfig;

/**
 * Jazzer fuzz target for image files: {@link ImageDecoder} (header checks, ImageIO, Pillow mode
 * rules), then clip4j's native preprocessing of whatever the decoder accepted, so a decoded
 * image of odd size or mode reaching the C resampler is covered too. Contract as in {@link
 * ParserFuzzTest}. Seeds (PNG, JPEG, GIF, BMP from {@link Seeds#images()}; CMYK and YCCK JPEGs
 * and a GIF with a frame smaller than its screen from tools/reference/cmyk_jpegs.py) and crashers:
 * {@code src/test/resources/dev/clip4j/hardening/ImageFuzzTestInputs/image/}.
 */
class ImageFuzzTest {
  private static final ImagePreprocessor PREPROCESSOR =
      new ImagePreprocessor(PreprocessConfig.builder().imageSize(32).build());

  @FuzzTest(maxDuration = "10s")
  void image(byte[] data) {
    try {
      DecodedImage img = ImageDecoder.decode(data, "fuzz", DecodeOptions.defaults());
      PREPROCESSOR.preprocess(img);
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }
}
