package dev.clip4j.cli;

import dev.clip4j.Clip4jException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code clip4j} command line (the root launcher script runs this class). */
@Command(
    name = "clip4j",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "CLIP embeddings for the JVM.",
    subcommands = {
      DemoCommand.class, EngineCommand.class, InspectCommand.class, EmbedImagesCommand.class, EmbedTextsCommand.class,
      PreprocessCommand.class, TokenizeCommand.class, ConvertCommand.class, RandomModelCommand.class,
      SearchCommand.class, ClassifyCommand.class, ServeCommand.class
    })
public final class Main {

  /**
   * Runs the command line and returns the exit code (0 ok, 1 error, 2 usage; the embed commands
   * return 3 when they completed with bad inputs listed in their errors file).
   */
  public static int run(String... args) {
    CommandLine cl = new CommandLine(new Main());
    cl.setExpandAtFiles(false); // @LISTFILE arguments are image lists (embed-images), not picocli argument files
    cl.setExecutionExceptionHandler(
        (ex, cmd, parsed) -> {
          if (ex instanceof Clip4jException) {
            Clip4jException ce = (Clip4jException) ex;
            cmd.getErr().println("clip4j: error (" + ce.code() + "): " + ce.getMessage());
            return 1;
          }
          throw ex;
        });
    return cl.execute(args);
  }

  public static void main(String[] args) {
    System.exit(run(args));
  }
}
