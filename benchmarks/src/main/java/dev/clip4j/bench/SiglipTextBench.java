package dev.clip4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.Engine;
import dev.clip4j.model.Precision;
import dev.clip4j.model.SiglipConfig;
import dev.clip4j.model.SiglipTowers;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;

/**
 * SigLIP2's text tower (ViT-B-16-SigLIP2's: width 768, 12 blocks, MLP 3072 with GELU-tanh,
 * context 64; vocab 32000 here, which changes only the embedding table) on clip4j's packed kernels
 * (the GELU-tanh epilogue) against the same tower on per-sample LibTorch GEMMs ({@code
 * clip4j.packedGemm=false}, where SigLIP2's text blocks ran before the epilogue existed), in one
 * JVM, random weights, fp32, CPU: texts/s at one batch size and their ratio. Not a test:
 * {@code java -cp ... dev.clip4j.bench.SiglipTextBench [BATCH] [SECONDS]}.
 */
public final class SiglipTextBench {
  private SiglipTextBench() {}

  public static void main(String[] args) throws Exception {
    int batch = args.length > 0 ? Integer.parseInt(args[0]) : 8;
    double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 20;
    Engine.ensureInitialized();
    SiglipConfig cfg = SiglipConfig.fromModelCfg(new ObjectMapper().readTree(
        "{\"embed_dim\":768,\"init_logit_bias\":-10,\"custom_text\":true,\"vision_cfg\":{\"image_size\":224,"
            + "\"timm_model_name\":\"vit_base_patch16_siglip_224\",\"timm_pool\":\"map\",\"timm_proj\":\"none\"},"
            + "\"text_cfg\":{\"context_length\":64,\"vocab_size\":32000,\"width\":768,\"heads\":12,\"layers\":12,"
            + "\"no_causal_mask\":true,\"proj_bias\":true,\"pool_type\":\"last\",\"norm_kwargs\":{\"eps\":1e-6},"
            + "\"act_kwargs\":{\"approximate\":\"tanh\"}}}"),
        null, "ViT-B-16-SigLIP2 (vocab 32000)");
    Map<String, Tensor> w = SiglipBench.randomWeights(cfg);
    long[] idv = new long[batch * 64];
    Random rng = new Random(1);
    for (int i = 0; i < idv.length; i++) {
      idv[i] = 1 + rng.nextInt(31999);
    }
    double[] rates = new double[2];
    String[] how = new String[2];
    String before = System.getProperty("clip4j.packedGemm");
    try (Tensor ids = dev.clip4j.internal.HostTensors.fromLongs(idv, batch, 64)) {
      for (int mode = 0; mode < 2; mode++) {
        System.setProperty("clip4j.packedGemm", mode == 0 ? "true" : "false");
        try (SiglipTowers towers = SiglipTowers.build(cfg, w, new Device("cpu"), Precision.FP32)) {
          rates[mode] = SiglipBench.rate(() -> towers.encodeTextFeatures(ids, 0), batch, seconds);
          how[mode] = towers.invariance();
          System.out.printf(Locale.ROOT, "SigLIP2 text (%s): %.1f texts/s at batch %d%n", how[mode], rates[mode],
              batch);
        }
      }
    } finally {
      if (before == null) {
        System.clearProperty("clip4j.packedGemm");
      } else {
        System.setProperty("clip4j.packedGemm", before);
      }
      w.values().forEach(Tensor::close);
    }
    System.out.printf(Locale.ROOT, "siglip-text-bench: threads %d, batch %d: packed (GELU-tanh epilogue) %.1f texts/s,"
        + " per-sample LibTorch %.1f texts/s, ratio %.2f%n", Engine.ensureInitialized().blasThreads(), batch,
        rates[0], rates[1], rates[0] / rates[1]);
  }
}
