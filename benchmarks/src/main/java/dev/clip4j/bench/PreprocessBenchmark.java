package dev.clip4j.bench;

import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.DecodedImage;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.preprocess.ImagePreprocessor;
import dev.clip4j.preprocess.PreprocessConfig;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Image decode + open_clip eval preprocessing (224, bicubic, center crop, OpenAI mean/std) in
 * images/s on one thread: clip4j ({@link ImageDecoder} + native {@link ImagePreprocessor} into a
 * reused direct buffer) beside a plain-Java pipeline for scale (ImageIO decode, Graphics2D
 * bicubic resize of the shortest side to 224 fused with the center crop, normalise to float CHW
 * in Java). Each pipeline is also measured as its two steps: decode only, and preprocess only
 * from an already decoded image.
 *
 * <p>The plain-Java pipeline is not Pillow-exact: Graphics2D's bicubic samples a 4x4 source
 * neighbourhood without widening the kernel when downscaling (no antialiasing), so it does less
 * work than Pillow's resampler and its output differs; it is only a speed yardstick.
 *
 * <p>Inputs are synthetic (gradients, a sinusoidal pattern and seeded noise), written in {@link
 * Setup} to a temporary directory (JPEG quality 0.9, PNG with ImageIO's default compression) and
 * read back into memory; both pipelines decode those bytes through a {@link
 * MemoryCacheImageInputStream}, so no file I/O is measured.
 *
 * <p>Run: {@code benchmarks/jmh.sh PreprocessBenchmark} (about 2.5 minutes with the defaults).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(1)
@Threads(1)
public class PreprocessBenchmark {
  /** The input: {@code jpeg640x480} or {@code png2000x1500}. */
  @Param({"jpeg640x480", "png2000x1500"})
  public String image;

  private static final int SIZE = 224;

  private Path dir;
  private byte[] encoded;
  private final DecodeOptions options = DecodeOptions.defaults();
  private ImagePreprocessor preprocessor;
  private FloatBuffer out;
  private DecodedImage decoded;

  // Plain-Java pipeline state.
  private float[] mean;
  private float[] std;
  private BufferedImage decodedAwt;
  private BufferedImage crop;
  private int[] cropPixels;
  private float[] chw;

  @Setup(Level.Trial)
  public void setup() throws IOException {
    boolean jpeg = image.startsWith("jpeg");
    int w = jpeg ? 640 : 2000;
    int h = jpeg ? 480 : 1500;
    BufferedImage src = synthetic(w, h, 42);
    dir = Files.createTempDirectory("clip4j-prepbench");
    Path file = dir.resolve(jpeg ? "input.jpg" : "input.png");
    if (jpeg) {
      writeJpeg(src, file, 0.9f);
    } else if (!ImageIO.write(src, "png", file.toFile())) {
      throw new IllegalStateException("no PNG writer");
    }
    encoded = Files.readAllBytes(file);

    PreprocessConfig config = PreprocessConfig.defaults();
    if (config.imageSize() != SIZE) {
      throw new IllegalStateException("expected a default image size of " + SIZE);
    }
    preprocessor = new ImagePreprocessor(config);
    out = ByteBuffer.allocateDirect(4 * config.floatsPerImage())
        .order(ByteOrder.nativeOrder()).asFloatBuffer();
    decoded = ImageDecoder.decode(encoded, image, options);

    mean = config.mean();
    std = config.std();
    decodedAwt = imageIoRead(encoded);
    crop = new BufferedImage(SIZE, SIZE, BufferedImage.TYPE_INT_RGB);
    cropPixels = ((DataBufferInt) crop.getRaster().getDataBuffer()).getData();
    chw = new float[3 * SIZE * SIZE];
    crossCheck();
  }

  /**
   * Guards the benchmark itself: both pipelines must produce nearly the same tensor (they differ
   * only by the resampling filter), else one of them does other work than intended.
   */
  private void crossCheck() {
    float[] clip4j = new float[chw.length];
    clip4jPreprocess().get(0, clip4j);
    float[] java = new float[chw.length];
    javaPreprocess().get(0, java);
    double sum = 0;
    for (int i = 0; i < java.length; i++) {
      sum += Math.abs(clip4j[i] - java[i]);
    }
    double meanAbs = sum / java.length;
    // Normalised units (1/255/std ~ 0.015 per grey level); the filters differ on the noise.
    if (!(meanAbs < 0.15)) {
      throw new IllegalStateException("pipelines disagree: mean |diff| = " + meanAbs);
    }
    System.out.printf("%n[%s] %d encoded bytes; clip4j vs plain Java mean |diff| = %.4f%n",
        image, encoded.length, meanAbs);
  }

  @TearDown(Level.Trial)
  public void tearDown() throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  // ---- clip4j ----------------------------------------------------------------------------

  /** clip4j: decode + native preprocess into the reused direct buffer. */
  @Benchmark
  public FloatBuffer clip4jDecodeAndPreprocess() {
    preprocessor.preprocessInto(ImageDecoder.decode(encoded, image, options), out, 1, 0);
    return out;
  }

  /** clip4j: decode only (ImageIO + conversion to Pillow's mode in a direct buffer). */
  @Benchmark
  public DecodedImage clip4jDecode() {
    return ImageDecoder.decode(encoded, image, options);
  }

  /** clip4j: native preprocess only, from the already decoded image. */
  @Benchmark
  public FloatBuffer clip4jPreprocess() {
    preprocessor.preprocessInto(decoded, out, 1, 0);
    return out;
  }

  // ---- plain Java ------------------------------------------------------------------------

  /** Plain Java: ImageIO decode + Graphics2D bicubic resize/crop + normalise. */
  @Benchmark
  public FloatBuffer javaDecodeAndPreprocess() throws IOException {
    return javaPreprocess(imageIoRead(encoded));
  }

  /** Plain Java: ImageIO decode only. */
  @Benchmark
  public BufferedImage javaDecode() throws IOException {
    return imageIoRead(encoded);
  }

  /**
   * ImageIO decode from memory through a {@link MemoryCacheImageInputStream}, as {@link
   * ImageDecoder} reads (plain {@code ImageIO.read(InputStream)} would cache through a temporary
   * file).
   */
  private static BufferedImage imageIoRead(byte[] data) throws IOException {
    ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(data));
    BufferedImage img = ImageIO.read(in); // closes the stream unless it returns null
    if (img == null) {
      in.close();
      throw new IOException("no ImageIO reader for the input");
    }
    return img;
  }

  /** Plain Java: resize/crop + normalise only, from the already decoded image. */
  @Benchmark
  public FloatBuffer javaPreprocess() {
    return javaPreprocess(decodedAwt);
  }

  /**
   * Shortest side to 224 (the other side truncated, as torchvision), center crop (offset rounded
   * as torchvision), drawn in one step by offsetting the scaled image into a 224x224 target;
   * then (v / 255 - mean) / std per channel into {@link #out}.
   */
  private FloatBuffer javaPreprocess(BufferedImage img) {
    int w = img.getWidth();
    int h = img.getHeight();
    int sw;
    int sh;
    if (w <= h) {
      sw = SIZE;
      sh = (int) ((long) SIZE * h / w);
    } else {
      sh = SIZE;
      sw = (int) ((long) SIZE * w / h);
    }
    int left = (int) Math.round((sw - SIZE) / 2.0);
    int top = (int) Math.round((sh - SIZE) / 2.0);
    Graphics2D g = crop.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BICUBIC);
      g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
      g.drawImage(img, -left, -top, sw, sh, null);
    } finally {
      g.dispose();
    }
    int plane = SIZE * SIZE;
    float s0 = 1f / (255f * std[0]);
    float s1 = 1f / (255f * std[1]);
    float s2 = 1f / (255f * std[2]);
    float m0 = mean[0] / std[0];
    float m1 = mean[1] / std[1];
    float m2 = mean[2] / std[2];
    for (int i = 0; i < plane; i++) {
      int p = cropPixels[i];
      chw[i] = ((p >>> 16) & 0xFF) * s0 - m0;
      chw[plane + i] = ((p >>> 8) & 0xFF) * s1 - m1;
      chw[2 * plane + i] = (p & 0xFF) * s2 - m2;
    }
    out.put(0, chw);
    return out;
  }

  // ---- inputs ----------------------------------------------------------------------------

  /** Deterministic RGB content with texture: gradients, a sinusoidal pattern, seeded noise. */
  static BufferedImage synthetic(int w, int h, long seed) {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Random rnd = new Random(seed);
    int[] row = new int[w];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        double wave = 40 * Math.sin(x * 0.07) * Math.cos(y * 0.05);
        int r = clamp(255.0 * x / w + wave + rnd.nextGaussian() * 12);
        int gr = clamp(255.0 * y / h - wave + rnd.nextGaussian() * 12);
        int b = clamp(128 + 100 * Math.sin((x + y) * 0.013) + rnd.nextGaussian() * 12);
        row[x] = (r << 16) | (gr << 8) | b;
      }
      img.setRGB(0, y, w, 1, row, 0, w);
    }
    return img;
  }

  private static int clamp(double v) {
    return (int) Math.max(0, Math.min(255, Math.round(v)));
  }

  private static void writeJpeg(BufferedImage img, Path file, float quality) throws IOException {
    ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
    try (ImageOutputStream ios = ImageIO.createImageOutputStream(file.toFile())) {
      writer.setOutput(ios);
      ImageWriteParam param = writer.getDefaultWriteParam();
      param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
      param.setCompressionQuality(quality);
      writer.write(null, new IIOImage(img, null, null), param);
    } finally {
      writer.dispose();
    }
  }
}
