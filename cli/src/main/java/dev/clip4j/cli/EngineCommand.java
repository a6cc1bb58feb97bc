package dev.clip4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.clip4j.Engine;
import dev.clip4j.EngineConfig;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code clip4j engine}: prints the effective LibTorch settings as JSON. */
@Command(name = "engine", description = "Print the effective engine settings (threads, determinism, CUDA) as JSON.")
final class EngineCommand implements Callable<Integer> {
  @Option(names = "--threads", description = "Intra-op threads (default: -Dclip4j.threads, else the engine's default layout).")
  Integer threads;

  @Override
  public Integer call() throws Exception {
    EngineConfig cfg = EngineConfig.defaults();
    if (threads != null) {
      cfg = cfg.withIntraOpThreads(threads);
    }
    Engine.initialize(cfg);
    java.util.Map<String, Object> m = new java.util.LinkedHashMap<>(Engine.report().toMap());
    String why = dev.clip4j.internal.CudaAvailability.unavailableReason();
    m.put("cuda_unavailable_because", why == null ? "n/a (CUDA usable)" : why);
    System.out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(m));
    return 0;
  }
}
