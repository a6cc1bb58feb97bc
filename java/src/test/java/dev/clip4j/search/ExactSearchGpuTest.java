package dev.clip4j.search;

import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.io.EmbeddingIndex;
import dev.clip4j.testing.Gpu;
import dev.clip4j.testing.IndexDirs;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Scoring on CUDA gives the CPU's hits (scores to 1e-5). FAILS (never skips) without CUDA; not run yet. */
@Tag("gpu")
class ExactSearchGpuTest {

  @Test
  void cudaGivesTheCpusHits(@TempDir Path tmp) throws Exception {
    String cuda = Gpu.requireCuda();
    int d = 64;
    int n = 5000;
    Random rng = new Random(4);
    float[] all = new float[n * d];
    for (int i = 0; i < all.length; i++) {
      all[i] = (float) rng.nextGaussian();
    }
    IndexDirs.write(tmp, "images", d, List.of(IndexDirs.rows(all, d, 0, 3000), IndexDirs.rows(all, d, 3000, 2000)),
        Map.of("m", "0"), r -> "r" + r);
    float[][] queries = new float[5][d];
    for (float[] q : queries) {
      for (int j = 0; j < d; j++) {
        q[j] = (float) rng.nextGaussian();
      }
    }
    try (EmbeddingIndex index = EmbeddingIndex.open(tmp)) {
      for (int block : new int[] {1000, 4096}) {
        List<List<ExactSearch.Hit>> cpu = new ExactSearch(index, "cpu", block).search(queries, 10);
        List<List<ExactSearch.Hit>> gpu = new ExactSearch(index, cuda, block).search(queries, 10);
        List<List<ExactSearch.Hit>> one = new ExactSearch(index, cuda, block).search(new float[][] {queries[2]}, 10);
        for (int q = 0; q < queries.length; q++) {
          for (int r = 0; r < 10; r++) {
            assertThat(gpu.get(q).get(r).row()).as("query %d rank %d", q, r).isEqualTo(cpu.get(q).get(r).row());
            assertThat((double) gpu.get(q).get(r).score()).isCloseTo(cpu.get(q).get(r).score(),
                org.assertj.core.data.Offset.offset(1e-4));
          }
        }
        assertThat(one.get(0).get(0).row()).isEqualTo(cpu.get(2).get(0).row());
      }
    }
  }
}
