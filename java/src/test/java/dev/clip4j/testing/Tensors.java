package dev.clip4j.testing;

import java.util.Random;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/** Test helpers to move data between Java arrays and LibTorch tensors. */
public final class Tensors {
  private Tensors() {}

  /** A new CPU float32 tensor owning a copy of {@code data}, with the given shape. */
  public static Tensor fromFloats(float[] data, long... shape) {
    FloatPointer p = new FloatPointer(data);
    try {
      return torch.from_blob(p, shape).clone();
    } finally {
      p.close();
    }
  }

  /**
   * The elements of a float tensor in C order, as float32: through HostTensors, so a CUDA tensor
   * is copied to the CPU first (never read at its device address) and any other device is refused.
   */
  public static float[] toFloats(Tensor t) {
    return dev.clip4j.internal.HostTensors.readFloats(t, "tensor");
  }

  /** Seeded normal values with standard deviation {@code scale}. */
  public static float[] randn(Random rng, int count, double scale) {
    float[] v = new float[count];
    for (int i = 0; i < count; i++) {
      v[i] = (float) (rng.nextGaussian() * scale);
    }
    return v;
  }

  /** Largest absolute element-wise difference. */
  public static double maxAbsDiff(float[] a, float[] b) {
    if (a.length != b.length) {
      throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
    }
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs((double) a[i] - b[i]));
    }
    return m;
  }
}
