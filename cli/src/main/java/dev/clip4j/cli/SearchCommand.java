package dev.clip4j.cli;

import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.clip4j.Engine;
import dev.clip4j.io.EmbeddingIndex;
import dev.clip4j.model.ClipModel;
import dev.clip4j.search.ExactSearch;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code clip4j search --model PATH --index DIR (--query TEXT | --query-image FILE)... [-k 10]
 * [--json]}: exact top-k by dot product over an embeddings directory. All queries are scored in
 * one matmul per block of rows; text queries first, then image queries, each in the order given.
 */
@Command(name = "search", mixinStandardHelpOptions = true,
    description = "Exact top-k similarity search over an embeddings directory (embed-* --out DIR).",
    footer = "Exit codes: 0 ok, 1 error (e.g. the index was made with another model), 2 usage error.")
final class SearchCommand implements Callable<Integer> {
  static final ObjectMapper JSON = JsonMapper.builder().enable(JsonWriteFeature.ESCAPE_NON_ASCII).build();

  @Mixin ModelOptions model;

  @Option(names = "--index", required = true, description = "Embeddings directory (manifest.json + shards).")
  Path indexDir;

  @Option(names = "--query", description = "A text query (repeatable).")
  List<String> queries = new ArrayList<>();

  @Option(names = "--query-image", description = "An image query (repeatable).")
  List<Path> queryImages = new ArrayList<>();

  @Option(names = {"-k", "--top-k"}, defaultValue = "10", description = "Results per query (default ${DEFAULT-VALUE}).")
  int k;

  @Option(names = "--json", description = "JSON lines, one object per result, instead of a table.")
  boolean json;

  @Option(names = "--text-model", description = "A sentence-transformers text model (modules.json) for the text queries.")
  Path textModel;

  @Option(names = "--allow-model-mismatch",
      description = "Search even if the index's manifest records other model files than --model's.")
  boolean allowModelMismatch;

  @Option(names = "--block-rows", defaultValue = "65536", description = "Rows scored per matmul (default ${DEFAULT-VALUE}).")
  int blockRows;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (queries.isEmpty() && queryImages.isEmpty()) {
      throw new ParameterException(spec.commandLine(), "give at least one --query or --query-image");
    }
    if (k < 1) {
      throw new ParameterException(spec.commandLine(), "-k must be >= 1");
    }
    if (blockRows < 1) {
      throw new ParameterException(spec.commandLine(), "--block-rows must be >= 1");
    }
    Engine.ensureInitialized();
    try (EmbeddingIndex index = EmbeddingIndex.open(indexDir);
        ClipModel m = model.load(textModel)) {
      IndexChecks.checkCompatible(m, index, allowModelMismatch, textModel, !queries.isEmpty());
      List<float[]> q = new ArrayList<>();
      List<String> labels = new ArrayList<>();
      if (!queries.isEmpty()) {
        q.addAll(List.of(m.embedTexts(queries)));
        labels.addAll(queries);
      }
      if (!queryImages.isEmpty()) {
        q.addAll(List.of(m.embedImages(queryImages)));
        queryImages.forEach(p -> labels.add(p.toString()));
      }
      List<List<ExactSearch.Hit>> hits =
          new ExactSearch(index, model.device, blockRows).search(q.toArray(new float[0][]), k);
      PrintStream out = System.out;
      for (int i = 0; i < hits.size(); i++) {
        boolean text = i < queries.size();
        if (!json) {
          out.printf(java.util.Locale.ROOT, "query %d/%d (%s): %s%n", i + 1, hits.size(), text ? "text" : "image", labels.get(i));
          out.printf(java.util.Locale.ROOT, "%6s  %10s  %10s  %s%n", "rank", "score", "row", index.kind() == EmbeddingIndex.Kind.IMAGES ? "path" : "id");
        }
        int rank = 0;
        for (ExactSearch.Hit h : hits.get(i)) {
          rank++;
          EmbeddingIndex.Entry e = index.entry(h.row());
          if (json) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("query", i);
            o.put(text ? "query_text" : "query_image", labels.get(i));
            o.put("rank", rank);
            o.put("score", h.score());
            o.put("row", h.row());
            o.put(index.kind() == EmbeddingIndex.Kind.IMAGES ? "path" : "id", e.name());
            if (e.index() >= 0) {
              o.put("index", e.index());
            }
            if (e.sha256() != null) {
              o.put("sha256", e.sha256());
            }
            if (e.text() != null) {
              o.put("text", e.text());
            }
            out.println(JSON.writeValueAsString(o));
          } else {
            out.printf(java.util.Locale.ROOT, "%6d  %10.6f  %10d  %s%n", rank, h.score(), h.row(), e.name());
          }
        }
        if (!json && i + 1 < hits.size()) {
          out.println();
        }
      }
      out.flush();
    }
    return 0;
  }
}
