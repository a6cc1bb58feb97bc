package dev.clip4j.cli;

import dev.clip4j.Engine;
import dev.clip4j.model.ClipModel;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code clip4j convert --model PATH --out BUNDLE}: writes a clip4j bundle. */
@Command(name = "convert", description = "Convert an open_clip model directory (or a bundle) into a clip4j bundle.")
final class ConvertCommand implements Callable<Integer> {
  @Mixin ModelOptions model;

  @Option(names = "--out", required = true, description = "The bundle file to write.")
  Path out;

  @Override
  public Integer call() {
    Engine.ensureInitialized();
    try (ClipModel m = ClipModel.load(model.model, model.toLoadOptions())) {
      m.save(out);
      System.err.printf("clip4j: wrote %s (%s, activation %s)%n", out, m.info().architecture(),
          m.info().activation() == null ? "-" : m.info().activation().id());
    }
    return 0;
  }
}
