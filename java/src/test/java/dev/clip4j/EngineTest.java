package dev.clip4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.bytedeco.pytorch.InferenceMode;
import org.junit.jupiter.api.Test;

class EngineTest {

  @Test
  void reportShowsDeterministicSettingsReadBackFromLibTorch() {
    EngineReport r = Engine.ensureInitialized();
    assertThat(r.cudnnDeterministic()).isTrue();
    assertThat(r.cudnnBenchmark()).isFalse();
    assertThat(r.tf32CuBlas()).isFalse();
    assertThat(r.tf32CuDnn()).isFalse();
    assertThat(r.deterministic()).isTrue();
    assertThat(r.intraOpThreads()).isGreaterThanOrEqualTo(1);
    assertThat(r.pytorchVersion()).isEqualTo("2.10.0-1.5.13");
    assertThat(r.nativeLibraryVersion()).startsWith("0.1.0");
    assertThat(r.toMap()).containsEntry("deterministic", true).containsKey("native_cuda_kernels");
    assertThat(r.blasThreads()).isEqualTo(EngineConfig.defaults().blasThreads());
    assertThat(r.format()).contains("cudnn_deterministic", "true");
  }

  @Test
  void reinitializingWithAnotherConfigIsRefused() {
    Engine.ensureInitialized();
    EngineConfig current = EngineConfig.defaults();
    EngineConfig other = current.withIntraOpThreads(current.intraOpThreads() + 3);
    assertThatThrownBy(() -> Engine.initialize(other))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("already initialized");
  }

  @Test
  void inferenceScopeEnablesInferenceModeOnlyInside() {
    Engine.ensureInitialized();
    assertThat(InferenceMode.is_enabled()).isFalse();
    try (Engine.InferenceScope scope = Engine.inference()) {
      assertThat(InferenceMode.is_enabled()).isTrue();
      try (Engine.InferenceScope nested = Engine.inference()) {
        assertThat(InferenceMode.is_enabled()).isTrue();
      }
      assertThat(InferenceMode.is_enabled()).isTrue();
    }
    assertThat(InferenceMode.is_enabled()).isFalse();
  }

  @Test
  void configValidatesThreadCounts() {
    assertThatThrownBy(() -> new EngineConfig(0, 1, false)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new EngineConfig(1, 0, false)).isInstanceOf(IllegalArgumentException.class);
  }
}
