package dev.clip4j.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Locates the reference fixtures (../shared/conformance, made with open_clip 2.20.0 + PIL).
 * Order: the environment variable CLIP4J_CONFORMANCE_DIR, the system property
 * clip4j.conformance.dir (set by the Maven build), then ../shared/conformance and
 * ../../shared/conformance relative to the working directory. Tests that need the fixtures call
 * {@link #dir()}, which skips the test, saying why, when they are absent. The fixtures are read
 * in place and never copied into the project.
 */
public final class Conformance {
  private Conformance() {}

  /** The fixture directory, or null when none is found. */
  public static Path find() {
    String env = System.getenv("CLIP4J_CONFORMANCE_DIR");
    if (env != null && !env.isEmpty()) {
      return valid(Paths.get(env));
    }
    String prop = System.getProperty("clip4j.conformance.dir");
    if (prop != null && !prop.isEmpty() && valid(Paths.get(prop)) != null) {
      return valid(Paths.get(prop));
    }
    for (String candidate : new String[] {"../shared/conformance", "../../shared/conformance"}) {
      Path p = valid(Paths.get(candidate));
      if (p != null) {
        return p;
      }
    }
    return null;
  }

  private static Path valid(Path p) {
    Path abs = p.toAbsolutePath().normalize();
    return Files.isRegularFile(abs.resolve("manifest.json")) ? abs : null;
  }

  /** The fixture directory; skips the calling test (with the reason) when it is absent. */
  public static Path dir() {
    Path p = find();
    assumeTrue(
        p != null,
        "conformance fixtures not found: set CLIP4J_CONFORMANCE_DIR or place them at ../shared/conformance");
    return p;
  }
}
