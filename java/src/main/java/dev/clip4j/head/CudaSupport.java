package dev.clip4j.head;

import dev.clip4j.DeviceException;
import dev.clip4j.ErrorCode;
import dev.clip4j.internal.Devices;
import java.lang.reflect.Method;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.cuda.CUDAGuard;
import org.bytedeco.pytorch.cuda.CUDAStream;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * Access to LibTorch's current CUDA stream. Only touched when a CUDA tensor reaches native code,
 * so CPU-only installations never load LibTorch's CUDA bindings; where they cannot load, every
 * method throws {@link DeviceException} ({@link ErrorCode#DEVICE}), never a raw LinkageError.
 */
final class CudaSupport {
  private CudaSupport() {}

  /** Makes {@code device} current until closed (LibTorch's CUDAGuard). */
  static AutoCloseable guard(Device device) {
    CUDAGuard g = Devices.cuda(() -> new CUDAGuard(device), "make a CUDA device current");
    return g::close;
  }

  /**
   * The raw {@code cudaStream_t} of LibTorch's current stream on {@code deviceIndex}. {@code
   * CUDAStream.stream()} returns a type from the org.bytedeco:cuda bindings, which only GPU
   * builds have on the class path, hence the reflective call.
   */
  static long currentStream(byte deviceIndex) {
    CUDAStream s = Devices.cuda(() -> torch_cuda.getCurrentCUDAStream(deviceIndex), "read LibTorch's current CUDA stream");
    try {
      Method m = CUDAStream.class.getMethod("stream");
      Pointer p = (Pointer) m.invoke(s);
      return p == null ? 0L : p.address();
    } catch (ReflectiveOperationException | LinkageError e) {
      throw new DeviceException(
          ErrorCode.DEVICE,
          "cannot read LibTorch's current CUDA stream (is org.bytedeco:cuda on the class path? use the"
              + " 'gpu' Maven profile): "
              + e,
          e);
    }
  }
}
