package dev.clip4j.preprocess;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * CMYK and YCCK JPEGs (and a GIF whose first frame is smaller than its screen) against Pillow
 * 9.4 and open_clip. The files and references are written by tools/reference/cmyk_jpegs.py:
 * Pillow's CMYK (Adobe transform 0), ImageMagick's YCCK (transform 2, 4:4:4, 2x2 luma/black,
 * progressive), and the same data with the APP14 transform byte changed (0, 1, 2) or the marker
 * removed, which Pillow reads as Adobe-inverted CMYK in every case.
 */
class CmykJpegTest {
  private static final List<String> JPEGS = List.of(
      "magick_ycck", "magick_ycck_420", "magick_ycck_as_cmyk", "magick_ycck_no_adobe",
      "magick_ycck_progressive", "pillow_cmyk_420", "pillow_cmyk_adobe0",
      "pillow_cmyk_adobe_transform1", "pillow_cmyk_as_ycck", "pillow_cmyk_exif6",
      "pillow_cmyk_no_adobe");
  private static final int SIZE = 24;
  private static final int N = 3 * SIZE * SIZE;

  private static Path dir() {
    try {
      return Path.of(CmykJpegTest.class.getResource("cmyk").toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  private static PreprocessConfig config(ResizeMode mode) {
    return PreprocessConfig.builder().imageSize(SIZE).resizeMode(mode).build();
  }

  private static double maxDiff(float[] a, float[] b) {
    assertThat(a).hasSameSizeAs(b);
    double d = 0;
    for (int i = 0; i < a.length; i++) {
      d = Math.max(d, Math.abs(a[i] - b[i]));
    }
    return d;
  }

  @Test
  void decodesToPillowsCmykSamples() throws IOException {
    Map<String, Integer> wrongSamples = new TreeMap<>();
    for (String name : JPEGS) {
      DecodedImage img = ImageDecoder.decode(dir().resolve(name + ".jpg"));
      assertThat(img.mode()).as(name).isEqualTo(ImageMode.CMYK);
      byte[] expected = TestNpy.readUint8(dir().resolve(name + ".cmyk.npy"), img.height(), img.width(), 4);
      ByteBuffer got = img.pixels();
      assertThat(got.remaining()).as(name).isEqualTo(expected.length);
      int wrong = 0;
      for (int i = 0; i < expected.length; i++) {
        if (got.get(i) != expected[i]) {
          wrong++;
        }
      }
      wrongSamples.put(name, wrong);
    }
    assertThat(wrongSamples).hasSize(JPEGS.size()).allSatisfy((name, wrong) -> assertThat(wrong).as(name).isZero());
  }

  @Test
  void preprocessesToOpenClipsTensors() throws IOException {
    ImagePreprocessor pre = new ImagePreprocessor(config(ResizeMode.SHORTEST));
    Map<String, Double> diffs = new TreeMap<>();
    for (String name : JPEGS) {
      float[] expected = TestNpy.readFloat32(dir().resolve(name + ".s24.npy"), 3, SIZE, SIZE);
      diffs.put(name, maxDiff(pre.preprocess(dir().resolve(name + ".jpg")), expected));
    }
    System.out.println("CMYK/YCCK JPEGs, max abs diff to open_clip: " + diffs);
    assertThat(diffs).hasSize(JPEGS.size()).allSatisfy((name, d) -> assertThat(d).as(name).isLessThanOrEqualTo(1e-6));
  }

  @Test
  void paddingIsPillowsCmykFillConverted() throws IOException {
    ImagePreprocessor pre = new ImagePreprocessor(config(ResizeMode.LONGEST));
    for (String name : List.of("pillow_cmyk_adobe0", "magick_ycck")) {
      float[] expected = TestNpy.readFloat32(dir().resolve(name + ".longest24.npy"), 3, SIZE, SIZE);
      float[] got = pre.preprocess(dir().resolve(name + ".jpg"));
      assertThat(maxDiff(got, expected)).as(name).isLessThanOrEqualTo(1e-6);
      // fill 0 on all four channels is no ink: the padded rows are white
      assertThat(got[0]).as(name).isCloseTo((1 - 0.48145466f) / 0.26862954f, org.assertj.core.data.Offset.offset(1e-6f));
    }
  }

  @Test
  void exifOrientationIsAppliedOnlyWhenAsked() throws IOException {
    Path file = dir().resolve("pillow_cmyk_exif6.jpg");
    ImagePreprocessor pre = new ImagePreprocessor(config(ResizeMode.SHORTEST));
    DecodedImage plain = ImageDecoder.decode(file);
    assertThat(plain.width()).isEqualTo(41);
    assertThat(plain.height()).isEqualTo(27);
    float[] asOpenClip = TestNpy.readFloat32(dir().resolve("pillow_cmyk_exif6.s24.npy"), 3, SIZE, SIZE);
    assertThat(maxDiff(pre.preprocess(plain), asOpenClip)).isLessThanOrEqualTo(1e-6);

    DecodedImage rotated = ImageDecoder.decode(file, DecodeOptions.defaults().withExifOrientation(true));
    assertThat(rotated.mode()).isEqualTo(ImageMode.CMYK);
    assertThat(rotated.width()).isEqualTo(27);
    assertThat(rotated.height()).isEqualTo(41);
    float[] transposed = TestNpy.readFloat32(dir().resolve("pillow_cmyk_exif6.exif.s24.npy"), 3, SIZE, SIZE);
    assertThat(maxDiff(pre.preprocess(rotated), transposed)).isLessThanOrEqualTo(1e-6);
    assertThat(maxDiff(transposed, asOpenClip)).isGreaterThan(0.1); // the two references differ
  }

  @Test
  void rgbFirstConversionIsPillowsConvert() throws IOException {
    // transformers' CLIPImageProcessor converts to RGB before resizing: Pillow's convert("RGB").
    for (String name : List.of("pillow_cmyk_adobe0", "magick_ycck_420")) {
      DecodedImage cmyk = ImageDecoder.decode(dir().resolve(name + ".jpg"));
      DecodedImage rgb = ImagePreprocessor.convertedForResize(cmyk);
      assertThat(rgb.mode()).isEqualTo(ImageMode.RGB);
      byte[] expected = TestNpy.readUint8(dir().resolve(name + ".rgb.npy"), cmyk.height(), cmyk.width(), 3);
      byte[] got = new byte[expected.length];
      rgb.pixels().get(got);
      assertThat(got).as(name).isEqualTo(expected);
      PreprocessConfig hf = PreprocessConfig.builder().imageSize(SIZE).rgbConversion(RgbConversion.BEFORE_RESIZE).build();
      ImagePreprocessor pre = new ImagePreprocessor(hf);
      assertThat(pre.preprocess(cmyk)).as(name).isEqualTo(pre.preprocess(rgb));
    }
  }

  @Test
  void gifFirstFrameSitsOnItsLogicalScreenAsInPillow() throws IOException {
    Path gif = dir().resolve("gif_screen.gif");
    DecodedImage img = ImageDecoder.decode(gif);
    assertThat(img.mode()).isEqualTo(ImageMode.P);
    assertThat(img.width()).isEqualTo(40);
    assertThat(img.height()).isEqualTo(30);
    float[] expected = TestNpy.readFloat32(dir().resolve("gif_screen.s24.npy"), 3, SIZE, SIZE);
    float[] got = new ImagePreprocessor(config(ResizeMode.SHORTEST)).preprocess(img);
    assertThat(maxDiff(got, expected)).isLessThanOrEqualTo(1e-6);
  }
}
