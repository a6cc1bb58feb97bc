package dev.clip4j.cli;

import dev.clip4j.Engine;
import dev.clip4j.EngineConfig;
import dev.clip4j.EngineReport;
import dev.clip4j.head.Activation;
import dev.clip4j.head.EmbeddingHead;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code clip4j demo}: the main job of the README. For now it prints the engine report and runs
 * the native fused embedding head on a random batch of ViT-B-32-sized features (768 -> 512),
 * checking every row is unit-norm and timing it.
 */
@Command(name = "demo", description = "Print the engine report and run the fused embedding head on a random batch.")
final class DemoCommand implements Callable<Integer> {
  @Option(names = "--batch", defaultValue = "256", description = "Rows in the random batch (default ${DEFAULT-VALUE}).")
  int batch;

  @Option(names = "--threads", description = "Intra-op threads (default: -Dclip4j.threads, else the engine's default layout).")
  Integer threads;

  @Option(names = "--iterations", defaultValue = "50", description = "Timed repetitions (default ${DEFAULT-VALUE}).")
  int iterations;

  @Override
  public Integer call() {
    if (batch < 1 || iterations < 1) {
      throw new picocli.CommandLine.ParameterException(
          new picocli.CommandLine(this), "--batch and --iterations must be >= 1");
    }
    EngineConfig cfg = EngineConfig.defaults();
    if (threads != null) {
      cfg = cfg.withIntraOpThreads(threads);
    }
    EngineReport report = Engine.initialize(cfg);
    System.out.println("clip4j demo");
    System.out.println("Engine:");
    System.out.print(report.format());

    int dIn = 768;
    int dOut = 512;
    torch.manual_seed(0);
    try (Engine.InferenceScope scope = Engine.inference();
        EmbeddingHead head =
            EmbeddingHead.builder(torch.randn(dIn, dOut).div(new org.bytedeco.pytorch.Scalar(Math.sqrt(dIn))))
                .activation(Activation.IDENTITY)
                .build()) {
      Tensor x = torch.randn(batch, dIn);
      Tensor y = head.apply(x); // warm-up
      long t0 = System.nanoTime();
      for (int i = 0; i < iterations; i++) {
        y = head.apply(x);
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      float[] norms = new float[batch];
      y.norm(new org.bytedeco.pytorch.ScalarOptional(new org.bytedeco.pytorch.Scalar(2.0)), new long[] {1}, false)
          .contiguous().data_ptr_float().get(norms);
      double worst = 0;
      for (float n : norms) {
        worst = Math.max(worst, Math.abs(n - 1.0));
      }
      System.out.println();
      System.out.printf("Fused embedding head (native CPU kernel): %d x %d -> %d, identity, L2-normalised%n", batch, dIn, dOut);
      System.out.printf("  %.0f rows/s (%d iterations, %.1f ms per batch)%n",
          batch * (double) iterations / seconds, iterations, 1000 * seconds / iterations);
      System.out.printf("  max |‖row‖ - 1| = %.2e%n", worst);
      if (worst > 1e-5) {
        System.err.println("clip4j demo: rows are not unit-norm");
        return 1;
      }
    }
    System.out.println();
    System.out.println("Model loading and image/text embedding are not part of this build yet.");
    return 0;
  }
}
