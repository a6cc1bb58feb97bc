package dev.clip4j.cli;

import dev.clip4j.model.RandomModels;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code clip4j random-model --spec vit-b-32 --out DIR}: an open_clip directory with random weights. */
@Command(name = "random-model", description = "Write an open_clip model directory with random (untrained) weights of real shapes.")
final class RandomModelCommand implements Callable<Integer> {
  @Option(names = "--spec", defaultValue = "small", description = "vit-b-32 (151M parameters) or small (default).")
  String spec;

  @Option(names = "--out", required = true, description = "Directory to write.")
  Path out;

  @Option(names = "--seed", defaultValue = "0", description = "Random seed (default ${DEFAULT-VALUE}).")
  long seed;

  @Override
  public Integer call() {
    RandomModels.Spec s;
    switch (spec) {
      case "vit-b-32":
        s = RandomModels.vitB32();
        break;
      case "small":
        s = RandomModels.small();
        break;
      default:
        throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "unknown --spec " + spec);
    }
    long t0 = System.nanoTime();
    RandomModels.write(out, s, seed);
    System.err.printf("clip4j: wrote %s (%s, random weights, untrained) in %.1f s%n", out, s.name(), (System.nanoTime() - t0) / 1e9);
    return 0;
  }
}
