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
    System.out.println(
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(Engine.report().toMap()));
    return 0;
  }
}
