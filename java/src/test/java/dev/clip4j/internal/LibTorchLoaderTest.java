package dev.clip4j.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.Clip4jException;
import dev.clip4j.DeviceException;
import dev.clip4j.ErrorCode;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A LibTorch library that does not load is a typed error naming it. (On this project's CPU hosts
 * the GPU build of LibTorch failed exactly so: libtorch_cuda.so needs libcusparse.so.12; left to
 * the preset's loader, the JVM then aborted after mapping Debian's LibTorch from the system path.)
 */
class LibTorchLoaderTest {

  @Test
  void aMissingCudaLibraryIsADeviceErrorNamingIt() {
    String msg = "/cache/pytorch-2.10.0-1.5.13-linux-x86_64-gpu.jar/org/bytedeco/pytorch/linux-x86_64-gpu/libtorch_cuda.so:"
        + " libcusparse.so.12: cannot open shared object file: No such file or directory";
    Clip4jException e = LibTorchLoader.loadFailure(true, Map.of("libtorch_cuda.so", msg));
    assertThat(e).isInstanceOf(DeviceException.class);
    assertThat(e.code()).isEqualTo(ErrorCode.DEVICE);
    assertThat(e.getMessage()).contains("libcusparse.so.12 is missing").contains("CUDA 13.1").contains("cuDNN 9.19")
        .contains("LD_LIBRARY_PATH").contains("libtorch_cuda.so").doesNotContain("\n");
  }

  @Test
  void aCpuBuildThatCannotLoadIsUnsupported() {
    Clip4jException e = LibTorchLoader.loadFailure(false, Map.of("libtorch_cpu.so", "libgomp.so.1: cannot open shared"
        + " object file: No such file or directory"));
    assertThat(e).isNotInstanceOf(DeviceException.class);
    assertThat(e.code()).isEqualTo(ErrorCode.UNSUPPORTED);
    assertThat(e.getMessage()).contains("libtorch_cpu.so").contains("libgomp.so.1");
  }
}
