package dev.clip4j.internal;

import dev.clip4j.Engine;
import dev.clip4j.jni.Clip4jNative;
import org.bytedeco.pytorch.global.torch;

/**
 * Whether CUDA can be used in this process, and if not, why, in one line: LibTorch did not start
 * (e.g. the GPU build without CUDA's libraries), LibTorch is its CPU build, no driver or no device
 * (the CUDA runtime's own reason, through clip4j's CUDA companion library), or clip4j's CUDA kernels
 * cannot be loaded. For {@code clip4j engine}, messages, and the GPU tests, which fail with this
 * reason instead of skipping. Thread-safe.
 */
public final class CudaAvailability {
  private CudaAvailability() {}

  /** Null when LibTorch sees a CUDA device and clip4j's CUDA kernels load; else why not. */
  public static String unavailableReason() {
    try {
      Engine.ensureInitialized();
    } catch (RuntimeException | LinkageError e) {
      return "LibTorch could not start: " + firstLine(e.getMessage());
    }
    if (!torch.hasCUDA()) {
      return "LibTorch on the class path is its CPU build (build and run with the Maven profile -Pgpu)";
    }
    String kernels = nativeReason();
    if (!torch.cuda_is_available()) {
      return "LibTorch's GPU build sees no CUDA device"
          + (kernels != null ? " (" + kernels + ")" : "");
    }
    if (kernels != null) {
      return "LibTorch sees " + torch.cuda_device_count() + " CUDA device(s) but clip4j's CUDA kernels cannot be"
          + " used: " + kernels;
    }
    return null;
  }

  /** The native library's reason CUDA cannot be used, or null when its kernels can run. */
  static String nativeReason() {
    NativeLib.load();
    int[] available = {0};
    int st = Clip4jNative.clip4j_cuda_available(available);
    if (st != Clip4jNative.CLIP4J_OK) {
      return "clip4j_cuda_available failed: " + NativeLib.lastError();
    }
    return available[0] == 1 ? null : NativeLib.lastError();
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
