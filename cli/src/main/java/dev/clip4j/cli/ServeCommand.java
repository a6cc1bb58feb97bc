package dev.clip4j.cli;

import dev.clip4j.Engine;
import dev.clip4j.head.Activation;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.LoadOptions;
import dev.clip4j.model.Precision;
import dev.clip4j.server.EmbeddingServer;
import dev.clip4j.server.ServerConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code clip4j serve --model [NAME=]PATH ...}: the HTTP embedding server ({@link EmbeddingServer}:
 * OpenAI's embeddings API, zero-shot classify, search, health, Prometheus metrics). Binds first
 * (so /health answers 503 while loading), loads and warms each model, then serves until SIGTERM
 * or SIGINT: stops accepting, drains requests in flight within --drain-timeout, exits 0.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = "Serve embeddings over HTTP: OpenAI's POST /v1/embeddings (texts and images), /v1/classify,"
        + " /v1/search, /health, /metrics.",
    footer = {"SIGTERM/SIGINT: stop accepting, finish requests in flight (--drain-timeout), exit 0.",
        "Exit codes: 0 stopped by a signal, 1 fatal error (a model or the index could not be loaded, the port is"
            + " taken), 2 usage error."})
final class ServeCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "A model to serve: PATH (named after its file name) or"
      + " NAME=PATH (repeatable; with several, requests select one by \"model\", unknown names get 404).")
  List<String> models = new ArrayList<>();

  @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to bind (default ${DEFAULT-VALUE};"
      + " any other without an API key is warned about).")
  String host;

  @Option(names = "--port", defaultValue = "8080", description = "TCP port (default ${DEFAULT-VALUE}; 0 = any free).")
  int port;

  @Option(names = "--api-key", defaultValue = "${env:CLIP4J_API_KEY}", description = "Require 'Authorization: Bearer"
      + " KEY' (default: $CLIP4J_API_KEY; prefer --api-key-file: a command line is visible to other users).")
  String apiKey;

  @Option(names = "--api-key-file", description = "A file holding the API key (first line).")
  Path apiKeyFile;

  @Option(names = "--max-queue", defaultValue = "256", description = "Items (texts, images) admitted and not yet"
      + " answered, over all requests; beyond it requests get 429 at once (default ${DEFAULT-VALUE}).")
  int maxQueue;

  @Option(names = "--max-batch", defaultValue = "32", description = "Items per forward pass (default ${DEFAULT-VALUE}).")
  int maxBatch;

  @Option(names = "--max-delay-ms", defaultValue = "5", description = "Longest an item waits for others to join its"
      + " batch (default ${DEFAULT-VALUE}).")
  long maxDelayMs;

  @Option(names = "--request-timeout", defaultValue = "30", description = "Seconds one request may take; 504 after"
      + " (default ${DEFAULT-VALUE}).")
  double requestTimeout;

  @Option(names = "--max-body-bytes", defaultValue = "33554432", description = "Largest request body; 413 above"
      + " (default ${DEFAULT-VALUE}).")
  long maxBodyBytes;

  @Option(names = "--max-items", defaultValue = "2048", description = "Most inputs in one request; 400 above"
      + " (default ${DEFAULT-VALUE}).")
  int maxItems;

  @Option(names = "--allow-url-fetch", description = "Let image inputs be http(s) URLs the server fetches (off: no"
      + " server-side request forgery). Only public addresses, at most 3 redirects, each checked.")
  boolean allowUrlFetch;

  @Option(names = "--url-fetch-allow-host", description = "A host URL fetching may reach although it resolves to a"
      + " private or loopback address (repeatable).")
  List<String> urlAllowHosts = new ArrayList<>();

  @Option(names = "--url-max-bytes", defaultValue = "16777216", description = "Largest fetched image (default ${DEFAULT-VALUE}).")
  long urlMaxBytes;

  @Option(names = "--url-timeout", defaultValue = "10", description = "Seconds per URL fetch (default ${DEFAULT-VALUE}).")
  double urlTimeout;

  @Option(names = "--drain-timeout", defaultValue = "30", description = "Seconds a stop waits for requests in flight"
      + " (default ${DEFAULT-VALUE}).")
  double drainTimeout;

  @Option(names = "--index", description = "An embeddings directory (embed-* --out DIR) served by POST /v1/search.")
  Path index;

  @Option(names = "--allow-model-mismatch", description = "Serve --index although its manifest names other model files.")
  boolean allowModelMismatch;

  @Option(names = "--device", defaultValue = "cpu", description = "LibTorch device: cpu, cuda, cuda:N (default ${DEFAULT-VALUE}).")
  String device;

  @Option(names = "--precision", defaultValue = "fp32", description = "fp32 (default), bf16, fp16, pure_fp16, pure_bf16.")
  String precision;

  @Option(names = "--activation", description = "State the MLP activation (quick_gelu or gelu) for checkpoints whose"
      + " metadata does not.")
  String activation;

  @Option(names = "--throughput", description = "Throughput mode (one GEMM per batch; not batch-invariant).")
  boolean throughput;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    // One line per record, "%1$tFT%1$tT.%1$tLZ %4$s %3$s: %5$s%6$s%n", made without a Formatter (the
    // access log writes one per request); a logging configuration of the user's own is kept.
    dev.clip4j.server.LogLineFormatter.install();
    Map<String, Path> named = parseModels();
    ServerConfig cfg = config();
    Engine.ensureInitialized();
    CountDownLatch stop = new CountDownLatch(1);
    installSignals(stop);
    EmbeddingServer server = EmbeddingServer.start(cfg);
    try {
      for (Map.Entry<String, Path> e : named.entrySet()) {
        long t0 = System.nanoTime();
        ClipModel m = ClipModel.load(e.getValue(), loadOptions());
        server.addModel(e.getKey(), m, (System.nanoTime() - t0) / 1e9);
      }
      server.ready();
      System.err.println("clip4j: serving " + String.join(", ", named.keySet()) + " on http://" + host + ":"
          + server.port() + " (POST /v1/embeddings; SIGTERM to stop)");
      stop.await();
    } finally {
      server.stop();
    }
    return 0;
  }

  /** SIGTERM and SIGINT release {@code stop}: the server drains and the command returns 0. */
  @SuppressWarnings("restriction")
  private static void installSignals(CountDownLatch stop) {
    for (String name : new String[] {"TERM", "INT"}) {
      try {
        sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> stop.countDown());
      } catch (IllegalArgumentException e) {
        // the signal is not available here (e.g. INT under some launchers): the other one still works
      }
    }
  }

  private Map<String, Path> parseModels() {
    Map<String, Path> out = new LinkedHashMap<>();
    for (String spec : models) {
      int eq = spec.indexOf('=');
      String name;
      Path path;
      if (eq > 0 && !spec.substring(0, eq).contains("/")) {
        name = spec.substring(0, eq);
        path = Path.of(spec.substring(eq + 1));
      } else {
        path = Path.of(spec);
        Path fn = path.toAbsolutePath().normalize().getFileName();
        name = fn == null ? spec : fn.toString();
      }
      if (out.put(name, path) != null) {
        throw usage("two models are named '" + name + "': name them with NAME=PATH");
      }
    }
    return out;
  }

  private LoadOptions loadOptions() {
    return LoadOptions.builder().device(device).precision(Precision.parse(precision))
        .activation(activation == null ? null : Activation.fromId(activation)).batchInvariant(!throughput).build();
  }

  private ServerConfig config() throws IOException {
    String key = apiKey;
    if (apiKeyFile != null) {
      if (key != null && !key.isEmpty() && !key.equals(System.getenv("CLIP4J_API_KEY"))) {
        throw usage("give --api-key or --api-key-file, not both");
      }
      List<String> lines = Files.readAllLines(apiKeyFile, StandardCharsets.UTF_8);
      key = lines.isEmpty() ? "" : lines.get(0).strip();
      if (key.isEmpty()) {
        throw usage("--api-key-file " + apiKeyFile + " is empty");
      }
    }
    if (key != null && key.isEmpty()) {
      key = null;
    }
    try {
      return ServerConfig.defaults().withHost(host).withPort(port).withApiKey(key)
          .withQueue(maxQueue, maxBatch, Duration.ofMillis(maxDelayMs))
          .withRequestTimeout(seconds(requestTimeout)).withLimits(maxBodyBytes, maxItems, 4096)
          .withUrlFetch(allowUrlFetch, urlAllowHosts, urlMaxBytes, seconds(urlTimeout))
          .withDrainTimeout(seconds(drainTimeout)).withIndex(index, allowModelMismatch);
    } catch (IllegalArgumentException e) {
      throw usage(e.getMessage());
    }
  }

  private static Duration seconds(double s) {
    return Duration.ofNanos((long) (s * 1e9));
  }

  private ParameterException usage(String message) {
    return new ParameterException(spec.commandLine(), message);
  }
}
