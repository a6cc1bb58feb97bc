package dev.clip4j.bench;

import dev.clip4j.Engine;
import dev.clip4j.head.EmbeddingHead;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * The fused embedding head (native kernel) against the same math as LibTorch ops ({@code x @ W},
 * norm, divide), ViT-B-32 sizes (768 -> 512). Run: {@code benchmarks/jmh.sh HeadBenchmark}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class HeadBenchmark {
  @Param({"1", "32", "256"})
  public int batch;

  private Tensor x;
  private Tensor w;
  private EmbeddingHead head;

  @Setup(Level.Trial)
  public void setup() {
    Engine.ensureInitialized();
    torch.manual_seed(0);
    x = torch.randn(batch, 768);
    w = torch.randn(768, 512);
    head = EmbeddingHead.builder(w).build();
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    head.close();
  }

  @Benchmark
  public Tensor fusedNativeHead() {
    return head.apply(x);
  }

  @Benchmark
  public Tensor libtorchOps() {
    Tensor y = x.matmul(w);
    return y.div(y.norm(new ScalarOptional(new Scalar(2.0)), new long[] {-1}, true).clamp_min(new Scalar(1e-12)));
  }
}
