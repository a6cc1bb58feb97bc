package dev.clip4j.bench;

import dev.clip4j.Engine;
import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.DecodedImage;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.preprocess.ImagePreprocessor;
import dev.clip4j.preprocess.PreprocessConfig;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;
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
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Decode + preprocess, images/s on one thread: clip4j (ImageIO decode, PIL-exact native
 * resampling into a reused direct buffer) beside pure-Java resizing (Graphics2D bicubic, not
 * PIL-exact) for scale, plus the two clip4j steps alone. Inputs are generated (gradients +
 * seeded noise): a 640x480 JPEG (quality 90) and a 2000x1500 PNG.
 * Run: {@code benchmarks/jmh.sh PreprocessBenchmark}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(1)
@Threads(1)
public class PreprocessBenchmark {
  @Param({"jpeg-640x480", "png-2000x1500"})
  public String image;

  private byte[] encoded;
  private DecodedImage decoded;
  private ImagePreprocessor pre;
  private FloatBuffer out;
  private float[] javaOut;

  @Setup(Level.Trial)
  public void setup() throws IOException {
    Engine.ensureInitialized();
    boolean jpeg = image.startsWith("jpeg");
    int w = jpeg ? 640 : 2000;
    int h = jpeg ? 480 : 1500;
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Random rng = new Random(42);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int r = (x * 255 / w + rng.nextInt(32)) & 0xff;
        int g = (y * 255 / h + rng.nextInt(32)) & 0xff;
        int b = ((x + y) * 255 / (w + h) + rng.nextInt(32)) & 0xff;
        img.setRGB(x, y, (r << 16) | (g << 8) | b);
      }
    }
    ByteArrayOutputStream bos = new ByteArrayOutputStream();
    if (jpeg) {
      ImageWriter wr = ImageIO.getImageWritersByFormatName("jpeg").next();
      ImageWriteParam p = wr.getDefaultWriteParam();
      p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
      p.setCompressionQuality(0.9f);
      try (MemoryCacheImageOutputStream ios = new MemoryCacheImageOutputStream(bos)) {
        wr.setOutput(ios);
        wr.write(null, new IIOImage(img, null, null), p);
      }
      wr.dispose();
    } else {
      ImageIO.write(img, "png", bos);
    }
    encoded = bos.toByteArray();
    pre = new ImagePreprocessor(PreprocessConfig.defaults());
    out = ByteBuffer.allocateDirect(pre.config().floatsPerImage() * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    decoded = ImageDecoder.decode(encoded, image, DecodeOptions.defaults());
    javaOut = new float[3 * 224 * 224];
  }

  @Benchmark
  public FloatBuffer clip4jDecodeAndPreprocess() {
    pre.preprocessInto(ImageDecoder.decode(encoded, image, DecodeOptions.defaults()), out, 1, 0);
    return out;
  }

  @Benchmark
  public DecodedImage clip4jDecodeOnly() {
    return ImageDecoder.decode(encoded, image, DecodeOptions.defaults());
  }

  @Benchmark
  public FloatBuffer clip4jPreprocessOnly() {
    pre.preprocessInto(decoded, out, 1, 0);
    return out;
  }

  /** ImageIO decode, Graphics2D bicubic resize (shortest side 224), center crop, normalise. */
  @Benchmark
  public float[] pureJavaGraphics2D() throws IOException {
    BufferedImage src = ImageIO.read(new ByteArrayInputStream(encoded));
    int w = src.getWidth();
    int h = src.getHeight();
    int nw = w < h ? 224 : (int) (224L * w / h);
    int nh = w < h ? (int) (224L * h / w) : 224;
    BufferedImage dst = new BufferedImage(nw, nh, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = dst.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BICUBIC);
    g.drawImage(src, 0, 0, nw, nh, null);
    g.dispose();
    int top = (nh - 224) / 2;
    int left = (nw - 224) / 2;
    float[] mean = PreprocessConfig.OPENAI_MEAN;
    float[] std = PreprocessConfig.OPENAI_STD;
    for (int y = 0; y < 224; y++) {
      for (int x = 0; x < 224; x++) {
        int rgb = dst.getRGB(left + x, top + y);
        for (int c = 0; c < 3; c++) {
          int v = (rgb >> (16 - 8 * c)) & 0xff;
          javaOut[c * 224 * 224 + y * 224 + x] = (v / 255f - mean[c]) / std[c];
        }
      }
    }
    return javaOut;
  }
}
