package dev.clip4j.internal;

import dev.clip4j.DeviceException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;

/**
 * The one place a user's device string ({@code cpu}, {@code cuda}, {@code cuda:N}) becomes a
 * LibTorch {@link Device}, used by every loader: a device this host cannot run is refused here
 * in one line, before any weight is moved (LibTorch would otherwise fail deep inside with a
 * RuntimeException carrying a C++ stack dump).
 */
public final class Devices {
  private Devices() {}

  /**
   * Parses and checks {@code device}.
   *
   * @throws IllegalArgumentException if it is not a device name, or names a device type other
   *     than cpu and cuda
   * @throws DeviceException ({@link ErrorCode#DEVICE}) if it is a CUDA device this host does not
   *     have: LibTorch built without CUDA, no GPU visible, or an index beyond the device count
   */
  public static Device parse(String device) {
    if (device == null || device.isBlank()) {
      throw new IllegalArgumentException("no device given (cpu, cuda or cuda:N)");
    }
    Engine.ensureInitialized();
    Device d;
    try {
      d = new Device(device);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("invalid device '" + device + "' (cpu, cuda or cuda:N): "
          + firstLine(e.getMessage()), e);
    }
    if (!d.is_cpu() && !d.is_cuda()) {
      d.close();
      throw new IllegalArgumentException("device '" + device + "': only cpu and cuda are supported");
    }
    if (d.is_cuda()) {
      boolean available = torch.cuda_is_available();
      long count = available ? torch.cuda_device_count() : 0;
      if (!available || (d.has_index() && d.index() >= count)) {
        d.close();
        throw new DeviceException(ErrorCode.DEVICE, "device '" + device + "' is not available on this host: "
            + (available ? count + " CUDA device(s) visible"
                : "no CUDA device (LibTorch " + (torch.hasCUDA() ? "has CUDA support but sees no GPU"
                    : "was built without CUDA: the GPU build needs the -Pgpu artifacts") + ")")
            + "; use --device cpu");
      }
    }
    return d;
  }

  /**
   * The canonical name of a device string: {@code cpu}, or {@code cuda:N}. A bare {@code cuda}
   * means the calling thread's current CUDA device (LibTorch's rule), so it becomes {@code cuda:N}
   * with N that device: keys built from this name treat {@code cuda} and {@code cuda:0} as the one
   * device they are when device 0 is current. Does not check the device exists (see {@link #parse}).
   *
   * @throws IllegalArgumentException if {@code device} is not cpu, cuda or cuda:N
   * @throws DeviceException ({@link ErrorCode#DEVICE}) when {@code cuda} is given and LibTorch's
   *     CUDA bindings cannot say which device is current (CPU build, CUDA libraries missing)
   */
  public static String canonical(String device) {
    return canonical(device, Devices::currentCudaDevice);
  }

  /** {@link #canonical(String)} with the current CUDA device supplied (tests). */
  public static String canonical(String device, java.util.function.IntSupplier currentCudaDevice) {
    if (device == null) {
      throw new IllegalArgumentException("no device given (cpu, cuda or cuda:N)");
    }
    if (device.equals("cpu")) {
      return device;
    }
    if (device.equals("cuda")) {
      return "cuda:" + currentCudaDevice.getAsInt();
    }
    if (device.matches("cuda:(0|[1-9][0-9]{0,3})")) {
      return device;
    }
    throw new IllegalArgumentException("device must be cpu, cuda or cuda:N, got '" + device + "'");
  }

  /** True for {@code cuda} and {@code cuda:N} (any syntactically valid CUDA device string). */
  public static boolean isCuda(String device) {
    return device != null && (device.equals("cuda") || device.startsWith("cuda:"));
  }

  /** The index N of a canonical {@code cuda:N}. */
  public static int cudaIndex(String canonical) {
    if (canonical == null || !canonical.startsWith("cuda:")) {
      throw new IllegalArgumentException("not a canonical CUDA device: " + canonical);
    }
    return Integer.parseInt(canonical.substring("cuda:".length()));
  }

  /**
   * The calling thread's current CUDA device (c10::cuda::current_device).
   *
   * @throws DeviceException ({@link ErrorCode#DEVICE}) when LibTorch's CUDA bindings cannot be used
   */
  public static int currentCudaDevice() {
    return cuda(() -> (int) org.bytedeco.pytorch.global.torch_cuda.current_device(), "read the current CUDA device");
  }

  /**
   * Runs a call into LibTorch's CUDA bindings ({@code torch_cuda}, {@code org.bytedeco.pytorch.cuda})
   * with the failures of a host where they cannot work turned into one typed error: on the CPU
   * build, or with CUDA's libraries missing, the first such call throws {@link LinkageError}
   * (UnsatisfiedLinkError, NoClassDefFoundError), which becomes a {@link DeviceException} with
   * {@link ErrorCode#DEVICE} naming what was attempted and why.
   */
  public static <T> T cuda(java.util.function.Supplier<T> call, String attempted) {
    try {
      return call.get();
    } catch (LinkageError e) {
      throw new DeviceException(ErrorCode.DEVICE, "cannot " + attempted + ": LibTorch's CUDA bindings are not usable"
          + " here (" + firstLine(e.toString()) + "); the GPU build (-Pgpu) and CUDA 13.1 runtime libraries are needed", e);
    }
  }

  /** {@link #cuda(java.util.function.Supplier, String)} for calls without a result. */
  public static void cudaRun(Runnable call, String attempted) {
    cuda(() -> {
      call.run();
      return null;
    }, attempted);
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
