package dev.clip4j.testing;

import static org.junit.jupiter.api.Assertions.fail;

import dev.clip4j.internal.CudaAvailability;

/**
 * The gate of every {@code @Tag("gpu")} test. Those tests are excluded from the default build;
 * when they are asked for ({@code mvn -Pgpu verify -Dgroups=gpu}) on a host where CUDA cannot be
 * used, they FAIL with the reason (LibTorch could not start, CPU build of LibTorch, no driver, no
 * device, clip4j's CUDA kernels missing): a missing GPU must never turn a GPU run green.
 */
public final class Gpu {
  private Gpu() {}

  /** Fails the calling test, saying why, unless CUDA is usable; returns "cuda:0". */
  public static String requireCuda() {
    String why = CudaAvailability.unavailableReason();
    if (why != null) {
      fail("CUDA is not available, so this GPU test cannot run (GPU tests fail rather than skip when they are"
          + " asked for): " + why);
    }
    return "cuda:0";
  }
}
