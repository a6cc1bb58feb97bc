package dev.clip4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.clip4j.Engine;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.batch.ImageSource;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.LoadOptions;
import dev.clip4j.model.Precision;
import dev.clip4j.model.RandomModels;
import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.preprocess.ImagePreprocessor;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import javax.imageio.ImageIO;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * GPU throughput of clip4j's image towers (benchmarks/gpu.sh; not a test). Per model (ViT-B-32,
 * ViT-L-14; random weights of the real shapes), precision (fp32, fp16, bf16) and batch size (1, 32,
 * 256): images/s model-only (pixels already on the device, {@code ClipModel.embedImagesForBatch},
 * one device synchronisation at the end of each timed phase), in the throughput mode (folded GEMMs)
 * and, at batch 32, the batch-invariant mode (sample by sample). The achieved dense-math rate is
 * reported as a fraction of the GPU's nominal dense fp16 peak (table below, by name) and of an fp16
 * GEMM measured in the same run. End to end: JPEG files through ClipEmbedder (decode + preprocess on
 * the prep threads into pinned buffers, staged copies, one sync per batch) vs the host-only rate of
 * the same threads (decode + preprocess, no model): the run says which side bounds it.
 *
 * <p>System properties: bench.work (a directory), bench.device (cuda), bench.models (b32,l14),
 * bench.precisions, bench.batches, bench.seconds (per phase), bench.images (JPEG files end to end),
 * bench.smoke=true (a small model on the CPU, to check the harness; figures meaningless),
 * bench.gpu (the GPU's name, from nvidia-smi), bench.out (JSON results file).
 */
public final class GpuBench {
  /** Dense fp16 tensor-core peaks (TFLOP/s, no sparsity), from the vendors' data sheets. */
  private static final Map<String, Double> FP16_PEAK_TFLOPS = new LinkedHashMap<>();

  static {
    FP16_PEAK_TFLOPS.put("H200", 989.0);
    FP16_PEAK_TFLOPS.put("H100 SXM", 989.0);
    FP16_PEAK_TFLOPS.put("H100 NVL", 835.0);
    FP16_PEAK_TFLOPS.put("H100 PCIe", 756.0);
    FP16_PEAK_TFLOPS.put("H100", 756.0);
    FP16_PEAK_TFLOPS.put("A100", 312.0);
    FP16_PEAK_TFLOPS.put("L40S", 362.0);
    FP16_PEAK_TFLOPS.put("L4", 121.0);
    FP16_PEAK_TFLOPS.put("A10", 125.0);
  }

  /** GFLOP per image of the image tower (2 x open_clip's GMACs: 4.41 for ViT-B-32, 81.08 for ViT-L-14). */
  private static double gflopPerImage(String model) {
    return model.equals("b32") ? 8.82 : model.equals("l14") ? 162.16 : Double.NaN;
  }

  private GpuBench() {}

  public static void main(String[] args) throws Exception {
    boolean smoke = Boolean.getBoolean("bench.smoke");
    Path work = Path.of(System.getProperty("bench.work", "benchmarks/work/gpu"));
    String device = System.getProperty("bench.device", smoke ? "cpu" : "cuda");
    List<String> models = List.of(System.getProperty("bench.models", smoke ? "small" : "b32,l14").split(","));
    List<String> precisions = List.of(System.getProperty("bench.precisions", smoke ? "fp32" : "fp32,fp16,bf16").split(","));
    int[] batches = java.util.Arrays.stream(System.getProperty("bench.batches", smoke ? "1,4" : "1,32,256").split(","))
        .mapToInt(Integer::parseInt).toArray();
    double seconds = Double.parseDouble(System.getProperty("bench.seconds", smoke ? "0.2" : "3"));
    int images = Integer.getInteger("bench.images", smoke ? 24 : 4096);
    String gpu = System.getProperty("bench.gpu", smoke ? "none (smoke)" : "unknown");
    int threads = Runtime.getRuntime().availableProcessors();

    var report = Engine.ensureInitialized();
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("gpu", gpu);
    out.put("device", device);
    out.put("decode_threads", threads);
    out.put("engine", report.toMap());
    Double peak = peakFor(gpu);
    out.put("nominal_fp16_dense_peak_tflops", peak);
    double gemm = device.startsWith("cuda") ? measuredFp16Gemm(device, seconds) : Double.NaN;
    out.put("measured_fp16_gemm_tflops", Double.isNaN(gemm) ? null : gemm);
    System.out.printf(Locale.ROOT, "gpu: %s, decode threads %d, nominal fp16 peak %s TFLOP/s, measured fp16 GEMM %.1f%n",
        gpu, threads, peak, gemm);

    List<Map<String, Object>> rows = new ArrayList<>();
    for (String m : models) {
      Path dir = work.resolve("model-" + m);
      if (!Files.isRegularFile(dir.resolve("open_clip_config.json"))) {
        RandomModels.write(dir, m.equals("b32") ? RandomModels.vitB32() : m.equals("l14") ? RandomModels.vitL14()
            : RandomModels.small(), 0);
      }
      for (String p : precisions) {
        for (boolean invariant : new boolean[] {false, true}) {
          LoadOptions opts = LoadOptions.builder().device(device).precision(Precision.parse(p))
              .batchInvariant(invariant).build();
          try (ClipModel model = ClipModel.load(dir, opts)) {
            for (int b : batches) {
              if (invariant && b != batches[Math.min(1, batches.length - 1)]) {
                continue; // the invariant mode at one batch size (it runs sample by sample)
              }
              double ips = modelOnly(model, device, b, seconds);
              Map<String, Object> row = new LinkedHashMap<>();
              row.put("model", m);
              row.put("precision", p);
              row.put("mode", invariant ? "batch-invariant (sample by sample)" : "throughput (folded)");
              row.put("batch", b);
              row.put("model_only_images_per_s", round(ips));
              double tflops = ips * gflopPerImage(m) / 1000;
              row.put("achieved_tflops", round(tflops));
              row.put("fraction_of_nominal_fp16_peak", peak == null ? null : round(tflops / peak));
              row.put("fraction_of_measured_fp16_gemm", Double.isNaN(gemm) ? null : round(tflops / gemm));
              rows.add(row);
              System.out.println(row);
            }
          }
        }
      }
    }
    out.put("model_only", rows);

    // End to end from JPEG files, on the first model in fp16 (fp32 on the CPU) at the largest batch.
    Path jpegs = writeJpegs(work.resolve("jpegs"), images);
    String m = models.get(0);
    String p = device.startsWith("cuda") ? "fp16" : "fp32";
    int b = batches[batches.length - 1];
    double host = hostOnly(jpegs, images, threads);
    double e2e;
    double modelRate;
    try (ClipModel model = ClipModel.load(work.resolve("model-" + m),
        LoadOptions.builder().device(device).precision(Precision.parse(p)).batchInvariant(false).build())) {
      modelRate = modelOnly(model, device, b, seconds);
      EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(b).withPrepThreads(threads)
          .withQueueCapacity(Math.max(4096, 4 * b));
      cfg = new EmbedderConfig(cfg.maxBatchSize(), cfg.maxDelay(), cfg.queueCapacity(), cfg.admissionTimeout(),
          cfg.prepThreads(), Math.max(cfg.poolBytes(), 8L * b * 3 * 224 * 224 * 4), cfg.trimTexts());
      try (ClipEmbedder e = ClipEmbedder.create(model, cfg)) {
        e.warmUp(b);
        List<ImageSource> sources = new ArrayList<>();
        for (int i = 0; i < images; i++) {
          sources.add(ImageSource.of(jpegs.resolve(i + ".jpg")));
        }
        long t0 = System.nanoTime();
        CompletableFuture.allOf(e.embedImages(sources).toArray(CompletableFuture[]::new)).join();
        e2e = images / ((System.nanoTime() - t0) / 1e9);
      }
    }
    Map<String, Object> end = new LinkedHashMap<>();
    end.put("model", m);
    end.put("precision", p);
    end.put("batch", b);
    end.put("images", images);
    end.put("decode_threads", threads);
    end.put("end_to_end_images_per_s", round(e2e));
    end.put("host_only_images_per_s", round(host));
    end.put("model_only_images_per_s", round(modelRate));
    String bound = e2e >= 0.85 * host ? "host (decode/preprocess): the GPU waits for the host"
        : e2e >= 0.85 * modelRate ? "device (model): the host keeps up" : "neither alone (transfers, scheduling)";
    end.put("bounded_by", bound);
    out.put("end_to_end", end);
    System.out.println("end to end: " + end);

    String file = System.getProperty("bench.out");
    if (file != null) {
      Files.createDirectories(Path.of(file).toAbsolutePath().getParent());
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(Path.of(file).toFile(), out);
      System.out.println("wrote " + file);
    }
  }

  private static Double peakFor(String gpu) {
    for (Map.Entry<String, Double> e : FP16_PEAK_TFLOPS.entrySet()) {
      if (gpu.contains(e.getKey())) {
        return e.getValue();
      }
    }
    return null;
  }

  /** Images/s of the model on pixels already on the device; one sync per timed phase. */
  private static double modelOnly(ClipModel model, String device, int batch, double seconds) {
    int s = model.info().imageSize();
    try (Tensor cpu = torch.randn(batch, 3, s, s); Tensor px = cpu.to(new Device(device), ScalarType.Float)) {
      for (int i = 0; i < 3; i++) {
        model.embedImagesForBatch(px).close();
      }
      sync(device);
      long t0 = System.nanoTime();
      long deadline = t0 + (long) (seconds * 1e9);
      int iters = 0;
      do {
        model.embedImagesForBatch(px).close();
        iters++;
        if (iters % 4 == 0) {
          sync(device); // bounds the queue: launches never run far ahead of the device
        }
      } while (System.nanoTime() < deadline);
      sync(device);
      return (double) iters * batch / ((System.nanoTime() - t0) / 1e9);
    }
  }

  private static double measuredFp16Gemm(String device, double seconds) {
    long n = 8192;
    try (Tensor a0 = torch.randn(n, n); Tensor a = a0.to(new Device(device), ScalarType.Half);
        Tensor b = a.t().contiguous()) {
      a.mm(b).close();
      sync(device);
      long t0 = System.nanoTime();
      int iters = 0;
      do {
        a.mm(b).close();
        iters++;
        sync(device);
      } while (System.nanoTime() - t0 < seconds * 1e9);
      return 2.0 * n * n * n * iters / ((System.nanoTime() - t0) / 1e9) / 1e12;
    }
  }

  private static void sync(String device) {
    if (device.startsWith("cuda")) {
      torch.cuda_synchronize();
    }
  }

  /** Decode + preprocess only, on {@code threads} threads: the host's rate. */
  private static double hostOnly(Path dir, int images, int threads) throws Exception {
    ImagePreprocessor pre = new ImagePreprocessor(dev.clip4j.preprocess.PreprocessConfig.defaults());
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      long t0 = System.nanoTime();
      List<Future<?>> fs = new ArrayList<>();
      for (int i = 0; i < images; i++) {
        Path f = dir.resolve(i + ".jpg");
        fs.add(pool.submit(() -> pre.preprocess(ImageDecoder.decode(f, DecodeOptions.defaults()))));
      }
      for (Future<?> f : fs) {
        f.get();
      }
      return images / ((System.nanoTime() - t0) / 1e9);
    } finally {
      pool.shutdownNow();
    }
  }

  /** Photo-sized JPEGs (640x480, noise and shapes) once per work directory. */
  private static Path writeJpegs(Path dir, int count) throws Exception {
    Files.createDirectories(dir);
    Random rnd = new Random(1);
    for (int i = 0; i < count; i++) {
      Path f = dir.resolve(i + ".jpg");
      if (Files.isRegularFile(f)) {
        continue;
      }
      BufferedImage img = new BufferedImage(640, 480, BufferedImage.TYPE_INT_RGB);
      Graphics2D g = img.createGraphics();
      g.setColor(new Color(rnd.nextInt(256), rnd.nextInt(256), rnd.nextInt(256)));
      g.fillRect(0, 0, 640, 480);
      for (int k = 0; k < 20; k++) {
        g.setColor(new Color(rnd.nextInt(256), rnd.nextInt(256), rnd.nextInt(256)));
        g.fillOval(rnd.nextInt(600), rnd.nextInt(440), 20 + rnd.nextInt(200), 20 + rnd.nextInt(200));
      }
      g.dispose();
      ImageIO.write(img, "jpg", f.toFile());
    }
    return dir;
  }

  private static Double round(double v) {
    return Double.isFinite(v) ? Math.round(v * 1000) / 1000.0 : null;
  }
}
