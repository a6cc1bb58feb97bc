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
    // TorchScript's simple executor everywhere: no profiling re-specialisation, no NVRTC fusion.
    assertThat(r.jitProfilingExecutor()).isFalse();
    assertThat(org.bytedeco.pytorch.global.torch.getProfilingMode().get()).isFalse();
    assertThat(org.bytedeco.pytorch.global.torch.getExecutorMode().get()).isTrue();
    assertThat(r.toMap().get("jit_executor")).asString().startsWith("simple");
  }

  /** The executor setting is process-wide: a thread that never initialised the engine sees it too. */
  @Test
  void theGraphExecutorSettingHoldsOnEveryThread() throws Exception {
    Engine.ensureInitialized();
    boolean[] seen = new boolean[2];
    Thread t = new Thread(() -> {
      seen[0] = org.bytedeco.pytorch.global.torch.getProfilingMode().get();
      seen[1] = org.bytedeco.pytorch.global.torch.getExecutorMode().get();
    });
    t.start();
    t.join();
    assertThat(seen[0]).as("profiling mode on another thread").isFalse();
    assertThat(seen[1]).as("executor mode on another thread").isTrue();
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
