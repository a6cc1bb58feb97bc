package dev.clip4j.preprocess;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.InvalidInputException;
import dev.clip4j.testing.Conformance;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** Every fixture image against open_clip 2.20 + Pillow 9.4's preprocess/IMAGE.npy. */
class PreprocessConformanceTest {
  private static final int N = 3 * 224 * 224;

  private static List<String> manifestImages(Path dir) throws IOException {
    JsonNode m = new ObjectMapper().readTree(dir.resolve("manifest.json").toFile());
    List<String> names = new ArrayList<>();
    m.get("images").forEach(n -> names.add(n.asText()));
    return names;
  }

  @Test
  void everyFixtureMatchesTheReferenceTensor() throws IOException {
    Path dir = Conformance.dir();
    ImagePreprocessor pre = new ImagePreprocessor(PreprocessConfig.defaults());
    Map<String, Double> maxDiff = new TreeMap<>();
    for (String name : manifestImages(dir)) {
      float[] expected = TestNpy.readFloat32(dir.resolve("preprocess").resolve(name + ".npy"), 3, 224, 224);
      float[] got = pre.preprocess(dir.resolve("images").resolve(name));
      double d = 0;
      for (int i = 0; i < N; i++) {
        d = Math.max(d, Math.abs(got[i] - expected[i]));
      }
      maxDiff.put(name, d);
    }
    System.out.println("preprocess max abs diff per fixture: " + maxDiff);
    assertThat(maxDiff).hasSize(12);
    assertThat(maxDiff.values()).allSatisfy(d -> assertThat(d).isLessThanOrEqualTo(1e-6));
  }

  @Test
  void modesArePillows() throws IOException {
    Path images = Conformance.dir().resolve("images");
    assertThat(ImageDecoder.decode(images.resolve("camera.png")).mode()).isEqualTo(ImageMode.L);
    assertThat(ImageDecoder.decode(images.resolve("logo.png")).mode()).isEqualTo(ImageMode.RGBA);
    assertThat(ImageDecoder.decode(images.resolve("palette_color.png")).mode()).isEqualTo(ImageMode.P);
    DecodedImage rocket = ImageDecoder.decode(images.resolve("rocket.jpg"));
    assertThat(rocket.mode()).isEqualTo(ImageMode.RGB);
    assertThat(rocket.width()).isEqualTo(640);
    assertThat(rocket.height()).isEqualTo(427);
  }

  @Test
  void truncatedJpegIsATypedErrorNamingTheFile() {
    Path bad = Conformance.dir().resolve("images").resolve("corrupt_truncated.jpg");
    ImagePreprocessor pre = new ImagePreprocessor(PreprocessConfig.defaults());
    assertThatThrownBy(() -> pre.preprocess(bad))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("corrupt_truncated.jpg");
  }

  @Test
  void batchWithOneBadImageFillsTheOtherSlots() throws IOException {
    Path dir = Conformance.dir();
    Path images = dir.resolve("images");
    List<Path> paths =
        List.of(images.resolve("chelsea.png"), images.resolve("corrupt_truncated.jpg"), images.resolve("logo.png"));
    ImagePreprocessor pre = new ImagePreprocessor(PreprocessConfig.defaults());
    int capacity = 4;
    FloatBuffer batch =
        ByteBuffer.allocateDirect(4 * capacity * N).order(ByteOrder.nativeOrder()).asFloatBuffer();
    for (int i = 0; i < capacity * N; i++) {
      batch.put(i, Float.NaN);
    }
    List<ImageResult> results = pre.preprocessBatchInto(paths, DecodeOptions.defaults(), batch, capacity);
    assertThat(results).extracting(ImageResult::isOk).containsExactly(true, false, true);
    assertThat(results.get(1).error()).hasMessageContaining("corrupt_truncated.jpg");
    float[] chelsea = TestNpy.readFloat32(dir.resolve("preprocess/chelsea.png.npy"));
    float[] logo = TestNpy.readFloat32(dir.resolve("preprocess/logo.png.npy"));
    for (int i = 0; i < N; i++) {
      assertThat(batch.get(i)).isCloseTo(chelsea[i], org.assertj.core.data.Offset.offset(1e-6f));
      assertThat(batch.get(2 * N + i)).isCloseTo(logo[i], org.assertj.core.data.Offset.offset(1e-6f));
      assertThat(batch.get(3 * N + i)).isNaN(); // the unused slot is untouched
    }
  }

  @Test
  void configFromTheFixtureModel() throws IOException {
    Path cfg = Conformance.dir().resolve("models/tiny-gelu/open_clip_config.json");
    PreprocessConfig c = PreprocessConfig.fromOpenClipConfigJson(Files.readString(cfg));
    assertThat(c).isEqualTo(PreprocessConfig.defaults());
  }
}
