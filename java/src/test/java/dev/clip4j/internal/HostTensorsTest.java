package dev.clip4j.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.Engine;
import dev.clip4j.InvalidInputException;
import dev.clip4j.head.EmbeddingHead;
import dev.clip4j.testing.Tensors;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Host code reads tensor memory only through HostTensors, which dereferences CPU tensors only. A
 * tensor on LibTorch's "meta" device (shape and dtype, no memory) stands in for a device tensor on a
 * host without a GPU: its data pointer must never reach host code.
 */
class HostTensorsTest {
  @BeforeAll
  static void init() {
    Engine.ensureInitialized();
  }

  static Tensor meta(long... shape) {
    try (Device d = new Device("meta"); DeviceOptional o = new DeviceOptional(d);
        TensorOptions f = new TensorOptions(ScalarType.Float); TensorOptions on = f.device(o)) {
      return torch.empty(shape, on, new MemoryFormatOptional());
    }
  }

  @Test
  void cpuTensorsAreReadInPlaceOrAfterAConversion() {
    Tensor t = Tensors.fromFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
    assertThat(HostTensors.readFloats(t, "t")).containsExactly(1, 2, 3, 4, 5, 6);
    assertThat(HostTensors.floats(t, "t").capacity()).isEqualTo(6);
    // A transposed view: not contiguous, so pointer() refuses it and readFloats copies it in C order.
    Tensor tt = t.t();
    assertThatThrownBy(() -> HostTensors.pointer(tt, "tt")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("contiguous");
    assertThat(HostTensors.readFloats(tt, "tt")).containsExactly(1, 4, 2, 5, 3, 6);
    assertThat(HostTensors.readRows(t, "t")).isDeepEqualTo(new float[][] {{1, 2, 3}, {4, 5, 6}});
    try (Tensor longs = t.to(ScalarType.Long)) {
      assertThat(HostTensors.readLongs(longs, "l")).containsExactly(1, 2, 3, 4, 5, 6);
      assertThatThrownBy(() -> HostTensors.floats(longs, "l")).hasMessageContaining("Float");
    }
  }

  @Test
  void aTensorOffTheCpuIsNeverDereferenced() {
    Tensor m = meta(2, 3);
    assertThat(m.is_cpu()).isFalse();
    assertThatThrownBy(() -> HostTensors.pointer(m, "m")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("m is on meta").hasMessageContaining("host code reads only CPU tensors");
    assertThatThrownBy(() -> HostTensors.floats(m, "m")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> HostTensors.readFloats(m, "m")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("holds no data the host can read");
    assertThatThrownBy(() -> HostTensors.readRows(m, "m")).isInstanceOf(IllegalArgumentException.class);
    // A device pointer is only ever taken from a CUDA tensor (for a kernel argument).
    assertThatThrownBy(() -> HostTensors.devicePointer(m, "m")).hasMessageContaining("not a CUDA device");
    Tensor cpu = Tensors.fromFloats(new float[] {1}, 1);
    assertThatThrownBy(() -> HostTensors.devicePointer(cpu, "c")).hasMessageContaining("c is on cpu");
  }

  @Test
  void theCpuHeadRefusesAMetaTensorInsteadOfReadingIt() {
    Tensor w = Tensors.fromFloats(new float[] {1, 0, 0, 1}, 2, 2);
    try (EmbeddingHead head = EmbeddingHead.builder(w).build()) {
      assertThatThrownBy(() -> head.apply(meta(3, 2))).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("features are on meta but the head is on cpu");
      assertThatThrownBy(() -> EmbeddingHead.builder(meta(2, 2)).build()).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("weight is on meta");
    }
  }
}
