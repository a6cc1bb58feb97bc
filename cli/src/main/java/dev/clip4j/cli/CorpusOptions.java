package dev.clip4j.cli;

import dev.clip4j.InvalidInputException;
import dev.clip4j.corpus.CorpusJob;
import dev.clip4j.corpus.Progress;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine.Option;

/** The output options of {@code embed-images} / {@code embed-texts} (corpus directory, JSONL, .npy). */
final class CorpusOptions {
  /** What {@code --out} is. */
  enum OutFormat {
    NPY,
    JSONL,
    DIR
  }

  @Option(names = "--out-format", description = "npy (one [N, D] file, input order), jsonl (a line per input with its"
      + " embedding or error) or dir (sharded, resumable embeddings directory). Default: npy for --out *.npy, jsonl for"
      + " *.jsonl, else dir.")
  String outFormat;

  @Option(names = "--shard-size", defaultValue = "10000", description = "Inputs per shard of an embeddings directory (default ${DEFAULT-VALUE}).")
  int shardSize;

  @Option(names = "--overwrite", description = "Start over in an --out directory that holds an earlier or different job.")
  boolean overwrite;

  @Option(names = "--max-in-flight", defaultValue = "0", description = "Inputs submitted but not yet written, at most (default: 4 x --batch-size).")
  int maxInFlight;

  @Option(names = "--progress", defaultValue = "auto", description = "auto (a bar on a terminal, log lines otherwise), bar, log or off.")
  String progress;

  @Option(names = "--progress-interval", defaultValue = "10", description = "Seconds between progress log lines (default ${DEFAULT-VALUE}).")
  double progressInterval;

  OutFormat format(Path out) {
    if (outFormat != null) {
      try {
        return OutFormat.valueOf(outFormat.toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new InvalidInputException("--out-format must be npy, jsonl or dir, got '" + outFormat + "'");
      }
    }
    String n = out.getFileName() == null ? "" : out.getFileName().toString().toLowerCase(Locale.ROOT);
    return n.endsWith(".npy") ? OutFormat.NPY : n.endsWith(".jsonl") ? OutFormat.JSONL : OutFormat.DIR;
  }

  CorpusJob.Output output(Path out) {
    return format(out) == OutFormat.DIR ? new CorpusJob.Directory(out) : new CorpusJob.JsonLines(out);
  }

  CorpusJob.Options options(int batchSize) {
    Progress.Mode mode;
    try {
      mode = Progress.Mode.valueOf(progress.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new InvalidInputException("--progress must be auto, bar, log or off, got '" + progress + "'");
    }
    if (!(progressInterval > 0)) {
      throw new InvalidInputException("--progress-interval must be > 0");
    }
    return new CorpusJob.Options(shardSize, maxInFlight > 0 ? maxInFlight : 4 * Math.max(1, batchSize), overwrite, mode,
        progressInterval);
  }
}
