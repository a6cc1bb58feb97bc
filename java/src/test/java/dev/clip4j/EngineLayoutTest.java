package dev.clip4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** BLAS library, thread layout and OpenMP runtime as the engine reports them (read back). */
class EngineLayoutTest {

  @Test
  void reportReadsBackTheBlasLibraryAndOneOpenMpRuntime() {
    EngineReport r = Engine.ensureInitialized();
    // Tests run on the default BLAS; MKL is opt-in and never on the test class path.
    assertThat(r.blasVendor()).isEqualTo("openblas");
    assertThat(r.openMpRuntimes()).containsExactly("libgomp");
    assertThat(r.toMap()).containsEntry("blas_vendor", "openblas").containsEntry("openmp_runtimes", "libgomp")
        .containsKey("cpu_features");
  }

  @Test
  void threadLayoutChangesAreReadBackAndRestored() {
    EngineReport before = Engine.ensureInitialized();
    try {
      EngineReport r = Engine.setThreadLayout(1, 2);
      assertThat(r.intraOpThreads()).isEqualTo(1);
      assertThat(r.blasThreads()).isEqualTo(2);
      r = Engine.setThreadLayout(2, 1);
      assertThat(r.intraOpThreads()).isEqualTo(2);
      assertThat(r.blasThreads()).isEqualTo(1);
    } finally {
      Engine.setThreadLayout(before.intraOpThreads(), before.blasThreads());
    }
    assertThat(Engine.report().blasThreads()).isEqualTo(before.blasThreads());
    assertThatThrownBy(() -> Engine.setThreadLayout(0, 1)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void defaultsGiveOpenBlasTheCoresAndParseTheLibraryName() {
    // Only meaningful when the defaults are not overridden on the command line.
    if (System.getProperty("clip4j.threads") == null && System.getProperty("clip4j.blasThreads") == null
        && System.getProperty(EngineConfig.BLAS_PROPERTY) == null) {
      EngineConfig d = EngineConfig.defaults();
      assertThat(d.blas()).isEqualTo(BlasLibrary.OPENBLAS);
      assertThat(d.blasThreads()).isEqualTo(Runtime.getRuntime().availableProcessors());
      assertThat(d.intraOpThreads()).isEqualTo(1);
    }
    assertThat(BlasLibrary.parse(" MKL ")).isEqualTo(BlasLibrary.MKL);
    assertThat(BlasLibrary.parse("openblas")).isEqualTo(BlasLibrary.OPENBLAS);
    assertThatThrownBy(() -> BlasLibrary.parse("atlas")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("openblas or mkl");
    assertThat(new EngineConfig(2, 1, false, 3).blas()).isEqualTo(BlasLibrary.OPENBLAS);
    assertThat(new EngineConfig(2, 1, false, 3).withBlasThreads(1).blasThreads()).isEqualTo(1);
  }
}
