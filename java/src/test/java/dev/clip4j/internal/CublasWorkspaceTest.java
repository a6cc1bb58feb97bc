package dev.clip4j.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.Clip4jException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import org.junit.jupiter.api.Test;

class CublasWorkspaceTest {

  @Test
  void strictModeSetsTheDefaultKeepsADeterministicValueAndRefusesOthers() {
    assertThat(CublasWorkspace.decide(null)).isEqualTo(CublasWorkspace.Action.SET);
    assertThat(CublasWorkspace.decide("")).isEqualTo(CublasWorkspace.Action.SET);
    assertThat(CublasWorkspace.decide(":4096:8")).isEqualTo(CublasWorkspace.Action.KEEP);
    assertThat(CublasWorkspace.decide(":16:8")).isEqualTo(CublasWorkspace.Action.KEEP);
    for (String bad : new String[] {":4096:2", ":1024:8", "4096:8", ":0:0"}) {
      assertThatThrownBy(() -> CublasWorkspace.decide(bad)).as(bad)
          .isInstanceOfSatisfying(Clip4jException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.UNSUPPORTED))
          .hasMessageContaining("CUBLAS_WORKSPACE_CONFIG=:4096:8 or :16:8").hasMessageContaining("'" + bad + "'");
    }
  }

  @Test
  void theValueIsSetWhereLibTorchAndCublasReadIt() {
    Engine.ensureInitialized();
    String before = CublasWorkspace.current();
    String inForce = CublasWorkspace.prepareForStrictMode();
    assertThat(CublasWorkspace.DETERMINISTIC).contains(inForce);
    assertThat(CublasWorkspace.current()).isEqualTo(inForce); // c10's getenv sees it (not Java's snapshot)
    if (before == null) {
      assertThat(inForce).isEqualTo(CublasWorkspace.DEFAULT);
    }
    assertThat(Engine.report().cublasWorkspaceConfig()).isEqualTo(inForce);
  }
}
