package dev.clip4j.cli;

import dev.clip4j.Engine;
import dev.clip4j.model.ModelDescription;
import dev.clip4j.model.ModelExport;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code clip4j convert --model PATH --to open_clip|hf|bundle --out DIR|FILE}: writes any model
 * clip4j reads as weights in another layout (reading the output back gives bit-identical
 * embeddings). Nothing is built: only the weights are read, one copy in memory.
 */
@Command(name = "convert", description = {
    "Write a model in another layout: an open_clip hub directory (--to open_clip), a Hugging Face CLIPModel directory"
        + " (--to hf) or a clip4j bundle (--to bundle, the default). Reloading the output gives bit-identical embeddings."})
final class ConvertCommand implements Callable<Integer> {
  @Mixin ModelOptions model;

  @Option(names = "--to", defaultValue = "bundle", description = "open_clip, hf or bundle (default ${DEFAULT-VALUE}).")
  String to;

  @Option(names = "--out", required = true, description = "A new or empty directory (open_clip, hf), or the bundle file.")
  Path out;

  @Override
  public Integer call() {
    Engine.ensureInitialized();
    ModelExport.Target target = ModelExport.Target.parse(to);
    ModelDescription d = ModelDescription.read(model.model, model.toLoadOptions());
    List<String> notes = ModelExport.write(d, target, out);
    System.err.printf("clip4j: wrote %s (%s as %s: %s)%n", out, d.format().id(), to, d.architecture().describe());
    notes.forEach(n -> System.err.println("clip4j: note: " + n));
    return 0;
  }
}
