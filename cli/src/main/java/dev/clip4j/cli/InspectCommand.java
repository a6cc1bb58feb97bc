package dev.clip4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.clip4j.Engine;
import dev.clip4j.model.ClipModel;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code clip4j inspect --model PATH}: loads and validates a model and prints {@code info()} as
 * JSON; a bad model gives exit code 1 and the validation message.
 */
@Command(name = "inspect", description = "Load and validate a model; print its info as JSON.")
final class InspectCommand implements Callable<Integer> {
  @Mixin ModelOptions model;

  @Override
  public Integer call() throws Exception {
    Engine.ensureInitialized();
    try (ClipModel m = ClipModel.load(model.model, model.toLoadOptions())) {
      System.out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(m.info().toMap()));
    }
    return 0;
  }
}
