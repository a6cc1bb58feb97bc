package dev.clip4j.bench.djl;

import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The DJL side of benchmarks/run.sh: loads a TorchScript file with DJL's PyTorch engine
 * (official LibTorch 2.7.1, offline) and measures images/s of its forward at the given batch
 * sizes. Writes {"djl_vit_b32_images_per_s": {"1": .., "8": .., "32": ..}} to the output file.
 * Usage: DjlBench MODEL.pt OUT.json SECONDS_PER_SIZE BATCH...
 */
public final class DjlBench {
  private DjlBench() {}

  public static void main(String[] args) throws Exception {
    Path model = Path.of(args[0]);
    Path out = Path.of(args[1]);
    double seconds = Double.parseDouble(args[2]);
    Map<String, Double> rates = new LinkedHashMap<>();
    String error = null;
    try {
      Criteria<NDList, NDList> criteria = Criteria.builder().setTypes(NDList.class, NDList.class)
          .optModelPath(model).optEngine("PyTorch").build();
      try (ZooModel<NDList, NDList> m = criteria.loadModel(); Predictor<NDList, NDList> p = m.newPredictor();
          NDManager manager = NDManager.newBaseManager()) {
        // -Ddjl.rounds=R: every batch size R times, interleaved; the best is kept (as clip4j's rows).
        int rounds = Integer.getInteger("djl.rounds", 1);
        for (int r = 0; r < rounds; r++) {
          for (int i = 3; i < args.length; i++) {
            int bs = Integer.parseInt(args[i]);
            NDArray x = manager.randomNormal(new Shape(bs, 3, 224, 224));
            for (int w = 0; w < (r == 0 ? 3 : 1); w++) {
              p.predict(new NDList(x)).close();
            }
            long t0 = System.nanoTime();
            int iters = 0;
            while (iters < 3 || System.nanoTime() - t0 < seconds * 1e9) {
              p.predict(new NDList(x)).close();
              iters++;
            }
            double rate = bs * iters / ((System.nanoTime() - t0) / 1e9);
            rates.merge(Integer.toString(bs), rate, Math::max);
            System.err.printf("djl: round %d batch %d: %.2f images/s%n", r, bs, rate);
            x.close();
          }
        }
      }
    } catch (Exception | Error e) {
      error = e.toString();
      System.err.println("djl: failed: " + e);
    }
    StringBuilder json = new StringBuilder("{\"djl_vit_b32_images_per_s\": {");
    int k = 0;
    for (Map.Entry<String, Double> e : rates.entrySet()) {
      json.append(k++ == 0 ? "" : ", ").append('"').append(e.getKey()).append("\": ").append(String.format("%.3f", e.getValue()));
    }
    json.append('}');
    if (error != null) {
      json.append(", \"djl_error\": \"").append(error.replace("\\", "\\\\").replace("\"", "'").replace("\n", " ")).append('"');
    }
    json.append("}\n");
    Files.writeString(out, json.toString());
  }
}
