package dev.clip4j.cli;

import dev.clip4j.Engine;
import dev.clip4j.EngineReport;
import picocli.CommandLine.IVersionProvider;

/** {@code clip4j --version}: clip4j, its native library and LibTorch. */
final class VersionProvider implements IVersionProvider {
  @Override
  public String[] getVersion() {
    EngineReport r = Engine.ensureInitialized();
    return new String[] {
      "clip4j " + r.clip4jVersion(),
      "native library " + r.nativeLibraryVersion(),
      "org.bytedeco:pytorch " + r.pytorchVersion()
    };
  }
}
