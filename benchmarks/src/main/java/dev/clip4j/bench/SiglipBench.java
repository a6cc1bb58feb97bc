package dev.clip4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.Engine;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.Precision;
import dev.clip4j.model.RandomModels;
import dev.clip4j.model.SiglipConfig;
import dev.clip4j.model.SiglipTowers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * SigLIP ViT-B-16's image tower beside ViT-B-32's in one run (random weights, fp32, CPU, the
 * default batch-invariant modes: both towers' blocks on clip4j's packed kernels, SigLIP's patch
 * embedding and MAP head on per-sample LibTorch GEMMs): images/s at one batch size, and the same
 * per GFLOP (open_clip's GMACs x 2: 4.41 for ViT-B-32; about 35.1 for ViT-B-16 at 224 with the MAP
 * head, an estimate), with which parts run packed. Not a test:
 * {@code java -cp ... dev.clip4j.bench.SiglipBench WORKDIR [BATCH] [SECONDS]}.
 */
public final class SiglipBench {
  private SiglipBench() {}

  static final double B32_GFLOP = 4.41;
  static final double SIGLIP_B16_GFLOP = 35.1;

  public static void main(String[] args) throws Exception {
    Path work = Path.of(args[0]);
    int batch = args.length > 1 ? Integer.parseInt(args[1]) : 8;
    double seconds = args.length > 2 ? Double.parseDouble(args[2]) : 20;
    Engine.ensureInitialized();
    Path b32 = work.resolve("vit-b-32");
    if (!Files.isRegularFile(b32.resolve("open_clip_model.safetensors"))) {
      RandomModels.write(b32, RandomModels.vitB32(), 0);
    }
    double b32Rate;
    try (ClipModel m = ClipModel.load(b32); Tensor px = torch.randn(batch, 3, 224, 224)) {
      b32Rate = rate(() -> m.embedImages(px), batch, seconds);
      System.out.printf(Locale.ROOT, "ViT-B-32 (%s): %.1f images/s at batch %d%n", m.info().invariance(), b32Rate,
          batch);
    }
    SiglipConfig cfg = SiglipConfig.fromModelCfg(new ObjectMapper().readTree(
        "{\"embed_dim\":768,\"init_logit_bias\":-10,\"custom_text\":true,\"vision_cfg\":{\"image_size\":224,"
            + "\"timm_model_name\":\"vit_base_patch16_siglip_224\",\"timm_pool\":\"map\",\"timm_proj\":\"none\"},"
            + "\"text_cfg\":{\"context_length\":64,\"vocab_size\":32000,\"width\":768,\"heads\":12,\"layers\":12,"
            + "\"no_causal_mask\":true,\"proj_bias\":true,\"pool_type\":\"last\",\"norm_kwargs\":{\"eps\":1e-6}}}"),
        null, "ViT-B-16-SigLIP");
    Map<String, Tensor> w = randomWeights(cfg);
    double sRate;
    String share;
    try (SiglipTowers towers = SiglipTowers.build(cfg, w, new Device("cpu"), Precision.FP32);
        Tensor px = torch.randn(batch, 3, 224, 224)) {
      w.values().forEach(Tensor::close);
      sRate = rate(() -> towers.encodeImageFeatures(px), batch, seconds);
      share = towers.packedShare();
      System.out.printf(Locale.ROOT, "ViT-B-16-SigLIP (%s): %.1f images/s at batch %d%n", towers.invariance(), sRate,
          batch);
    }
    System.out.printf(Locale.ROOT, "siglip-bench: threads %d, batch %d: ViT-B-32 %.1f img/s (%.0f GFLOP/s, packed"
            + " kernels: all blocks), ViT-B-16-SigLIP %.1f img/s (%.0f GFLOP/s, packed kernels: %s); SigLIP/B-32"
            + " images/s %.3f, per FLOP %.2f%n", Engine.ensureInitialized().blasThreads(), batch, b32Rate,
        b32Rate * B32_GFLOP, sRate, sRate * SIGLIP_B16_GFLOP, share, sRate / b32Rate,
        (sRate * SIGLIP_B16_GFLOP) / (b32Rate * B32_GFLOP));
  }

  /** Seeded random weights for {@code cfg}'s schema (LayerNorm weights 1, the rest N(0, 0.02)); close them. */
  static Map<String, Tensor> randomWeights(SiglipConfig cfg) {
    Map<String, Tensor> w = new LinkedHashMap<>();
    torch.manual_seed(0);
    cfg.schema().forEach((k, s) -> w.put(k, k.endsWith("norm1.weight") || k.endsWith("norm2.weight")
        || k.endsWith("norm.weight") || k.contains("ln_") ? torch.ones(s) : torch.randn(s).mul_(
            new org.bytedeco.pytorch.Scalar(0.02))));
    return w;
  }

  /** Items/s: one warm-up call, then calls for at least {@code seconds} (at least 3). */
  static double rate(java.util.function.Supplier<Tensor> call, int batch, double seconds) {
    call.get().close();
    long t0 = System.nanoTime();
    int n = 0;
    while (n < 3 || (System.nanoTime() - t0) / 1e9 < seconds) {
      call.get().close();
      n++;
    }
    return n * batch / ((System.nanoTime() - t0) / 1e9);
  }
}
