package dev.clip4j.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.DeviceException;
import dev.clip4j.ErrorCode;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

class DevicesTest {

  @Test
  void aBareCudaIsTheCurrentDevice() {
    assertThat(Devices.canonical("cuda", () -> 0)).isEqualTo("cuda:0");
    assertThat(Devices.canonical("cuda:0", () -> 0)).isEqualTo("cuda:0");
    assertThat(Devices.canonical("cuda", () -> 1)).isEqualTo("cuda:1");
    assertThat(Devices.canonical("cuda:0", () -> 1)).isEqualTo("cuda:0");
    assertThat(Devices.canonical("cuda:3", () -> { throw new AssertionError("not asked"); })).isEqualTo("cuda:3");
    assertThat(Devices.canonical("cpu", () -> { throw new AssertionError("not asked"); })).isEqualTo("cpu");
    assertThat(Devices.cudaIndex("cuda:12")).isEqualTo(12);
    assertThat(Devices.isCuda("cuda")).isTrue();
    assertThat(Devices.isCuda("cuda:1")).isTrue();
    assertThat(Devices.isCuda("cpu")).isFalse();
  }

  @Test
  void anythingElseIsNotADevice() {
    for (String bad : new String[] {"CUDA", "cuda:", "cuda:01", "cuda:-1", "gpu", "cuda:0 ", "mps", ""}) {
      assertThatThrownBy(() -> Devices.canonical(bad, () -> 0)).as(bad).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("cpu, cuda or cuda:N");
    }
  }

  @Test
  void linkageErrorsOfTheCudaBindingsBecomeOneTypedDeviceError() {
    assertThatThrownBy(() -> Devices.cuda(() -> {
      throw new UnsatisfiedLinkError("no jnitorch_cuda in java.library.path");
    }, "create a CUDA stream"))
        .isInstanceOfSatisfying(DeviceException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.DEVICE))
        .hasMessageContaining("cannot create a CUDA stream")
        .hasMessageContaining("no jnitorch_cuda")
        .hasMessageContaining("-Pgpu");
    assertThat(Devices.cuda(() -> 7, "x")).isEqualTo(7);
  }

  @Test
  void withoutCudaTheCurrentDeviceIsATypedErrorNotARawLinkageError() {
    if (torch.cuda_is_available()) {
      return; // a GPU host: the current device is a number (EmbedderGpuTest covers it)
    }
    assertThatThrownBy(Devices::currentCudaDevice).isInstanceOfSatisfying(DeviceException.class,
        e -> assertThat(e.code()).isEqualTo(ErrorCode.DEVICE));
    assertThatThrownBy(() -> Devices.parse("cuda")).isInstanceOfSatisfying(DeviceException.class,
        e -> assertThat(e.code()).isEqualTo(ErrorCode.DEVICE)).satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
  }
}
