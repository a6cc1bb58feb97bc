package dev.clip4j.internal;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import java.util.Set;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.StringOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * {@code CUBLAS_WORKSPACE_CONFIG} for strict determinism on CUDA. cuBLAS is only deterministic
 * across streams with a fixed workspace configuration ({@code :4096:8} or {@code :16:8}), which it
 * reads from the environment when a handle is created; LibTorch's deterministic-algorithms mode
 * ({@code -Dclip4j.strict=true}) refuses every cuBLAS matmul without one. So strict mode sets
 * {@code :4096:8} when the variable is unset, before anything has started CUDA (the {@link
 * dev.clip4j.Engine} does it right after LibTorch loads), keeps either deterministic value, and
 * refuses any other value with a message saying what to set. Through c10's own environment
 * functions, which LibTorch and cuBLAS read (Java's {@code System.getenv} is a snapshot taken at
 * startup and does not see the change). Thread safety: call once, during engine initialization.
 */
public final class CublasWorkspace {
  /** The environment variable cuBLAS and LibTorch read. */
  public static final String VARIABLE = "CUBLAS_WORKSPACE_CONFIG";
  /** What strict mode sets when the variable is unset (8 workspaces of 4 MiB per handle). */
  public static final String DEFAULT = ":4096:8";
  /** The values LibTorch accepts as deterministic (Context::checkCuBLASConfigDeterministic). */
  public static final Set<String> DETERMINISTIC = Set.of(":4096:8", ":16:8");

  private CublasWorkspace() {}

  /** What strict mode does with the variable's current value. */
  enum Action {
    /** A deterministic value is set: keep it. */
    KEEP,
    /** Unset (or empty): set {@link #DEFAULT}. */
    SET
  }

  /**
   * The decision for {@code current} (null = unset).
   *
   * @throws Clip4jException ({@link ErrorCode#UNSUPPORTED}) for a value cuBLAS is not
   *     deterministic with
   */
  static Action decide(String current) {
    if (current == null || current.isEmpty()) {
      return Action.SET;
    }
    if (DETERMINISTIC.contains(current.trim())) {
      return Action.KEEP;
    }
    throw new Clip4jException(ErrorCode.UNSUPPORTED, "strict determinism (clip4j.strict=true) needs " + VARIABLE
        + "=:4096:8 or :16:8 for cuBLAS, but it is '" + current + "'; set one of those (or unset it and clip4j sets "
        + DEFAULT + ")");
  }

  /**
   * Makes the variable deterministic for strict mode: sets {@link #DEFAULT} when unset, keeps a
   * deterministic value, refuses any other. Returns the value in force.
   */
  public static String prepareForStrictMode() {
    String current = current();
    if (decide(current) == Action.SET) {
      torch.set_env(VARIABLE, DEFAULT, true);
      return DEFAULT;
    }
    return current.trim();
  }

  /** The variable as LibTorch sees it now (null = unset). */
  public static String current() {
    try (StringOptional v = torch.get_env(VARIABLE)) {
      if (!v.has_value()) {
        return null;
      }
      BytePointer p = v.get();
      return p == null ? null : p.getString();
    }
  }
}
