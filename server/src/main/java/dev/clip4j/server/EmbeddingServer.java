package dev.clip4j.server;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.OverloadedException;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.batch.ImageSource;
import dev.clip4j.io.EmbeddingIndex;
import dev.clip4j.model.ClipModel;
import dev.clip4j.search.ExactSearch;
import dev.clip4j.zeroshot.ZeroShotClassifier;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * clip4j's HTTP embedding server: OpenAI's embeddings API ({@code POST /v1/embeddings}) for texts
 * and images, {@code POST /v1/classify} (zero-shot), {@code POST /v1/search} (exact top-k over an
 * embeddings directory), {@code GET /v1/models}, {@code GET /health} and {@code GET /metrics}
 * (Prometheus), on Jetty 12 core handlers. A thin router: every item goes through its model's
 * micro-batching {@link dev.clip4j.batch.ClipEmbedder}, so batches form across connections.
 *
 * <p>Admission: one budget of {@link ServerConfig#maxQueue()} items admitted and not yet answered,
 * over all requests; a request whose items do not fit is answered 429 with {@code Retry-After} at
 * once (all of its items or none are admitted). Each request has a deadline ({@link
 * ServerConfig#requestTimeout()}): items not run by then are dropped and the answer is 504.
 *
 * <pre>{@code
 * EmbeddingServer server = EmbeddingServer.start(ServerConfig.defaults());  // /health: 503
 * server.addModel("ViT-B-32", ClipModel.load(dir), loadSeconds);             // owned from here
 * server.ready();                                                            // /health: 200
 * ...
 * server.stop();  // stops accepting, drains requests in flight, frees the models
 * }</pre>
 *
 * <p>Lifecycle: {@link #start}, then {@link #addModel} for each model, then {@link #ready}; {@link
 * #stop} (idempotent, also {@link #close}) drains within {@link ServerConfig#drainTimeout()}.
 * Thread safety: all methods are thread-safe.
 */
public final class EmbeddingServer implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(EmbeddingServer.class.getName());
  private static final System.Logger ACCESS = System.getLogger("dev.clip4j.server.access");
  private static final Set<String> ROUTES = Set.of("/v1/embeddings", "/v1/classify", "/v1/search", "/v1/models",
      "/health", "/metrics");

  private static final Set<String> METHODS = Set.of("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH");

  private enum State { LOADING, READY, DRAINING, STOPPED }

  private final ServerConfig config;
  private final ObjectMapper json;
  private final PrometheusMeterRegistry registry;
  private final Semaphore budget;
  private final byte[] keyDigest; // SHA-256 of the API key, or null
  private final UrlFetcher fetcher;
  private final Map<String, ServedModel> models = new LinkedHashMap<>();
  private final AtomicReference<State> state = new AtomicReference<>(State.LOADING);
  private final Server jetty;
  private final ServerConnector connector;
  private volatile EmbeddingIndex index;
  private volatile ExactSearch search;
  // Meters by route, method and status (bounded: 7 routes x 8 methods x the statuses we answer),
  // made once: building and registering one per request was a tenth of a request's CPU.
  private final java.util.concurrent.ConcurrentHashMap<String, Timer> requestTimers =
      new java.util.concurrent.ConcurrentHashMap<>();
  private final java.util.concurrent.ConcurrentHashMap<String, Counter> itemCounters =
      new java.util.concurrent.ConcurrentHashMap<>();

  private EmbeddingServer(ServerConfig config) {
    this.config = config;
    this.json = JsonMapper.builder().enable(JsonWriteFeature.ESCAPE_NON_ASCII).build();
    // A base64 image may be as long as the body limit allows (Jackson's default cap is 20 M chars).
    json.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
        .maxStringLength((int) Math.min(Integer.MAX_VALUE, config.maxBodyBytes())).maxNestingDepth(32).build());
    this.registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    this.budget = new Semaphore(config.maxQueue());
    this.keyDigest = config.apiKey() == null ? null : sha256(config.apiKey());
    this.fetcher = config.allowUrlFetch()
        ? new UrlFetcher(config.urlFetchAllowHosts(), config.urlMaxBytes(), config.urlTimeout()) : null;
    Gauge.builder("clip4j.server.admitted.items", budget, b -> config.maxQueue() - b.availablePermits())
        .description("items admitted and not yet answered").register(registry);
    Gauge.builder("clip4j.server.max.queue", () -> config.maxQueue()).register(registry);
    Gauge.builder("clip4j.server.ready", state, s -> s.get() == State.READY ? 1 : 0).register(registry);

    QueuedThreadPool threads = new QueuedThreadPool(config.threads(), 4);
    threads.setName("clip4j-http");
    this.jetty = new Server(threads);
    HttpConfiguration http = new HttpConfiguration();
    http.setSendServerVersion(false);
    this.connector = new ServerConnector(jetty, new HttpConnectionFactory(http));
    connector.setHost(config.host());
    connector.setPort(config.port());
    connector.setIdleTimeout(Math.max(30_000, config.requestTimeout().toMillis() + 5_000));
    jetty.addConnector(connector);
    // GracefulHandler: on stop, requests in flight finish (up to the stop timeout), new ones get 503
    // (in OpenAI's error shape, as every refusal Jetty itself makes: JsonErrors).
    jetty.setHandler(new GracefulHandler(new Routes()) {
      @Override
      protected void handleShutdownRejection(Request request, Response response, Callback callback) {
        writeApiError(request, response, callback, ApiException.unavailable("the server is shutting down"));
      }
    });
    jetty.setErrorHandler(new JsonErrors());
    jetty.setStopTimeout(config.drainTimeout().toMillis());
    jetty.setStopAtShutdown(false); // the owner decides (clip4j serve: SIGTERM drains, then exits 0)
  }

  /**
   * Binds and starts serving: {@code /health} answers 503 and the API 503 until {@link #ready}.
   *
   * @throws UncheckedIOException if the address cannot be bound
   */
  public static EmbeddingServer start(ServerConfig config) {
    EmbeddingServer s = new EmbeddingServer(config);
    try {
      s.jetty.start();
    } catch (Exception e) {
      try {
        s.jetty.stop();
      } catch (Exception ignored) {
        // already failing
      }
      if (s.fetcher != null) {
        s.fetcher.close();
      }
      throw new UncheckedIOException(new IOException("cannot serve on " + config.host() + ":" + config.port() + ": "
          + e.getMessage(), e));
    }
    if (config.apiKey() == null && !isLoopback(config.host())) {
      LOG.log(System.Logger.Level.WARNING, "serving on " + config.host() + " without an API key: anyone who can reach"
          + " this address can use the server (set --api-key or --api-key-file, or bind 127.0.0.1)");
    }
    LOG.log(System.Logger.Level.INFO, "listening on " + config.host() + ":" + s.port() + " (" + config + ")");
    return s;
  }

  private static boolean isLoopback(String host) {
    return host.equals("localhost") || host.startsWith("127.") || host.equals("::1") || host.equals("[::1]");
  }

  /** The port bound (the chosen one when the config asked for 0). */
  public int port() {
    return connector.getLocalPort();
  }

  /** The metrics registry (Prometheus); meters are prefixed {@code clip4j_}. */
  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /**
   * Serves {@code model} as {@code name}: creates its micro-batching embedder and warms it up at
   * batch sizes 1 and {@link ServerConfig#maxBatch()}. The server owns the model from here (also
   * when this throws).
   */
  public void addModel(String name, ClipModel model, double loadSeconds) {
    try {
      if (state.get() != State.LOADING) {
        throw new IllegalStateException("models are added before ready()");
      }
      synchronized (models) {
        if (models.containsKey(name)) {
          throw new IllegalArgumentException("two models named '" + name + "'");
        }
      }
      EmbedderConfig ec = EmbedderConfig.defaults().withMaxBatchSize(config.maxBatch()).withMaxDelay(config.maxDelay())
          .withQueueCapacity(config.maxQueue()).withAdmissionTimeout(Duration.ZERO);
      ServedModel m = new ServedModel(name, model, ec, registry, loadSeconds);
      synchronized (models) {
        models.put(name, m);
      }
      Gauge.builder("clip4j.model.load.seconds", () -> loadSeconds).tag("model", name)
          .description("time to load the model").register(registry);
      long t0 = System.nanoTime();
      m.embedder.warmUp();
      double warm = (System.nanoTime() - t0) / 1e9;
      Gauge.builder("clip4j.model.warmup.seconds", () -> warm).tag("model", name).register(registry);
      LOG.log(System.Logger.Level.INFO, "model " + name + ": " + model.info().architecture() + ", " + model.embedDim()
          + "-d, loaded in " + String.format(Locale.ROOT, "%.2f", loadSeconds) + " s, warmed up in "
          + String.format(Locale.ROOT, "%.2f", warm) + " s");
    } catch (RuntimeException e) {
      synchronized (models) {
        ServedModel m = models.remove(name);
        if (m != null) {
          m.close();
        } else {
          model.close();
        }
      }
      throw e;
    }
  }

  /**
   * Opens {@link ServerConfig#indexDir()} (when set) for {@code /v1/search}, checks it against
   * the first model, and answers {@code /health} 200 from now on.
   */
  public void ready() {
    synchronized (models) {
      if (models.isEmpty()) {
        throw new IllegalStateException("no model added");
      }
      if (config.indexDir() != null && index == null) {
        EmbeddingIndex idx = EmbeddingIndex.open(config.indexDir());
        try {
          checkIndex(models.values().iterator().next().model, idx);
        } catch (RuntimeException e) {
          idx.close();
          throw e;
        }
        index = idx;
        search = new ExactSearch(idx, models.values().iterator().next().model.info().device(),
            ExactSearch.DEFAULT_BLOCK_ROWS);
      }
    }
    if (state.compareAndSet(State.LOADING, State.READY)) {
      LOG.log(System.Logger.Level.INFO, "ready: " + String.join(", ", models.keySet()));
    }
  }

  /** The width must match; the model files must be those the manifest records unless allowed. */
  private void checkIndex(ClipModel m, EmbeddingIndex idx) {
    if (idx.dim() != m.embedDim()) {
      throw new InvalidInputException(idx.directory() + ": the index holds " + idx.dim() + "-d embeddings but the model"
          + " gives " + m.embedDim() + "-d ones; embeddings from different models are not comparable");
    }
    if (!config.allowModelMismatch() && !idx.modelFileHashes().equals(m.info().fileHashes())) {
      throw new InvalidInputException(idx.directory() + ": the index was made with other model files than the first"
          + " --model's (pass --allow-model-mismatch if you know they are the same weights)");
    }
  }

  /** Whether {@code /health} answers 200. */
  public boolean isReady() {
    return state.get() == State.READY;
  }

  /**
   * Stops accepting connections, lets requests in flight finish (at most {@link
   * ServerConfig#drainTimeout()}), completes the embedders' accepted work, frees the models and
   * the index. Idempotent.
   */
  public void stop() {
    State before = state.getAndSet(State.DRAINING);
    if (before == State.DRAINING || before == State.STOPPED) {
      return;
    }
    long t0 = System.nanoTime();
    LOG.log(System.Logger.Level.INFO, "draining (at most " + config.drainTimeout().toSeconds() + " s)");
    try {
      jetty.stop();
    } catch (Exception e) {
      LOG.log(System.Logger.Level.WARNING, "HTTP server stop: " + e);
    }
    synchronized (models) {
      for (ServedModel m : models.values()) {
        try {
          m.close();
        } catch (RuntimeException e) {
          LOG.log(System.Logger.Level.WARNING, "closing model " + m.name + ": " + e);
        }
      }
      models.clear();
      if (fetcher != null) {
        fetcher.close();
      }
      if (index != null) {
        index.close();
        index = null;
      }
    }
    state.set(State.STOPPED);
    LOG.log(System.Logger.Level.INFO, String.format(Locale.ROOT, "stopped after draining for %.2f s",
        (System.nanoTime() - t0) / 1e9));
  }

  @Override
  public void close() {
    stop();
  }

  // ---------------------------------------------------------------------------------------------
  // Routing

  /** What a route answers: a status, a body and its type. */
  private record Reply(int status, ByteBuffer body, String contentType, int items) {
    Reply(int status, byte[] body, String contentType, int items) {
      this(status, ByteBuffer.wrap(body), contentType, items);
    }
  }

  /** A growable buffer whose bytes are answered in place (no copy into a new array). */
  private static final class Bytes extends ByteArrayOutputStream {
    Bytes(int size) {
      super(size);
    }

    ByteBuffer buffer() {
      return ByteBuffer.wrap(buf, 0, count);
    }
  }

  private final class Routes extends Handler.Abstract {
    @Override
    public boolean handle(Request request, Response response, Callback callback) {
      long t0 = System.nanoTime();
      String path = Request.getPathInContext(request);
      String route = ROUTES.contains(path) ? path : "other";
      Reply reply;
      int retryAfter = -1;
      try {
        reply = dispatch(route, request);
      } catch (ApiException e) {
        reply = new Reply(e.status, errorBody(e), "application/json", 0);
        retryAfter = e.retryAfterSeconds;
      } catch (RuntimeException | Error e) {
        LOG.log(System.Logger.Level.ERROR, "internal error on " + request.getMethod() + " " + route, e);
        ApiException ae = ApiException.internal("internal server error (" + e.getClass().getSimpleName() + ")");
        reply = new Reply(500, errorBody(ae), "application/json", 0);
      }
      response.setStatus(reply.status);
      response.getHeaders().put(HttpHeader.CONTENT_TYPE, reply.contentType);
      if (retryAfter >= 0) {
        response.getHeaders().put(HttpHeader.RETRY_AFTER, Integer.toString(retryAfter));
      }
      long nanos = System.nanoTime() - t0;
      String method = METHODS.contains(request.getMethod()) ? request.getMethod() : "other"; // bounded tags
      requestTimer(route, method, reply.status).record(nanos, TimeUnit.NANOSECONDS);
      if (reply.items > 0) {
        itemCounters.computeIfAbsent(route, r -> Counter.builder("clip4j.http.items").tag("route", r)
            .description("items answered (texts, images)").register(registry)).increment(reply.items);
      }
      if (ACCESS.isLoggable(System.Logger.Level.INFO)) {
        ACCESS.log(System.Logger.Level.INFO, accessLine(request.getMethod(), route, reply.status, reply.items, nanos));
      }
      // Recorded before the answer leaves, so a client that has its answer sees it counted.
      response.write(true, reply.body, callback);
      return true;
    }
  }

  /**
   * Jetty's own refusals (a malformed request line or header, a URI or headers over its limits, an
   * unsupported version, ...), which never reach {@link Routes}: OpenAI's error body with Jetty's
   * status, whatever the method or Accept header (Jetty's default is an HTML page, or nothing).
   */
  private final class JsonErrors extends ErrorHandler {
    @Override
    public boolean handle(Request request, Response response, Callback callback) {
      int status = response.getStatus();
      String message = (String) request.getAttribute(ERROR_MESSAGE);
      if (request.getAttribute(ERROR_EXCEPTION) instanceof HttpException he) {
        status = he.getCode();
        message = message != null ? message : he.getReason();
      }
      if (status < 400) {
        status = 500; // an error without an error status: say so rather than answer 200
      }
      String reason = HttpStatus.getMessage(status);
      String detail = message == null || message.equalsIgnoreCase(reason) ? "" : ": " + printable(message);
      writeApiError(request, response, callback, ApiException.forStatus(status, "the HTTP server refused the request ("
          + status + " " + reason + ")" + detail));
      return true;
    }
  }

  /** Writes {@code e} as OpenAI's error body (no body for HEAD); Retry-After where it has one. */
  private void writeApiError(Request request, Response response, Callback callback, ApiException e) {
    response.setStatus(e.status);
    response.getHeaders().put(ErrorHandler.ERROR_CACHE_CONTROL);
    if (e.retryAfterSeconds >= 0) {
      response.getHeaders().put(HttpHeader.RETRY_AFTER, Integer.toString(e.retryAfterSeconds));
    }
    if (HttpStatus.hasNoBody(e.status) || "HEAD".equals(request.getMethod())) {
      callback.succeeded();
      return;
    }
    response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
    response.write(true, ByteBuffer.wrap(errorBody(e)), callback);
  }

  /** At most 100 characters, control characters dropped (Jetty's messages may quote a bad byte). */
  private static String printable(String s) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length() && b.length() < 100; i++) {
      char c = s.charAt(i);
      b.append(c < 0x20 || c == 0x7f ? '?' : c);
    }
    return b.toString();
  }

  private Timer requestTimer(String route, String method, int status) {
    return requestTimers.computeIfAbsent(route + ' ' + method + ' ' + status, k -> Timer.builder("clip4j.http.requests")
        .tag("route", route).tag("method", method).tag("status", Integer.toString(status))
        .publishPercentileHistogram().description("HTTP requests by route and status").register(registry));
  }

  /** {@code METHOD ROUTE STATUS items=N 12.3ms}, without a Formatter (a per-request cost). */
  static String accessLine(String method, String route, int status, int items, long nanos) {
    long tenths = Math.round(nanos / 1e5);
    return new StringBuilder(64).append(method).append(' ').append(route).append(' ').append(status)
        .append(" items=").append(items).append(' ').append(tenths / 10).append('.').append(tenths % 10).append("ms")
        .toString();
  }

  private Reply dispatch(String route, Request request) {
    String method = request.getMethod();
    if (route.equals("/health")) {
      requireMethod(method, "GET", route);
      State s = state.get();
      Map<String, Object> body = new LinkedHashMap<>();
      body.put("status", switch (s) {
        case READY -> "ok";
        case LOADING -> "loading";
        default -> "draining";
      });
      if (s == State.READY) {
        synchronized (models) {
          body.put("models", new ArrayList<>(models.keySet()));
        }
      }
      return new Reply(s == State.READY ? 200 : 503, write(body), "application/json", 0);
    }
    if (route.equals("other")) {
      throw ApiException.notFound("not_found", "no such route; the API is POST /v1/embeddings, /v1/classify,"
          + " /v1/search, GET /v1/models, /health, /metrics");
    }
    authorize(request);
    if (route.equals("/metrics")) {
      requireMethod(method, "GET", route);
      return new Reply(200, registry.scrape().getBytes(StandardCharsets.UTF_8),
          "text/plain; version=0.0.4; charset=utf-8", 0);
    }
    // While draining, Jetty's GracefulHandler refuses new requests (503) and lets the ones it had
    // accepted through to here: those are served.
    if (state.get() == State.LOADING || state.get() == State.STOPPED) {
      throw ApiException.unavailable(state.get() == State.LOADING ? "the server is loading its models" : "the server"
          + " is shutting down");
    }
    if (route.equals("/v1/models")) {
      requireMethod(method, "GET", route);
      return new Reply(200, modelsBody(), "application/json", 0);
    }
    requireMethod(method, "POST", route);
    long deadline = System.nanoTime() + config.requestTimeout().toNanos();
    JsonNode body = readJson(request);
    return switch (route) {
      case "/v1/embeddings" -> embeddings(body, deadline);
      case "/v1/classify" -> classify(body, deadline);
      case "/v1/search" -> search(body, deadline);
      default -> throw new IllegalStateException(route);
    };
  }

  private static void requireMethod(String method, String want, String route) {
    if (!method.equals(want)) {
      throw ApiException.methodNotAllowed(method, route);
    }
  }

  /** Constant-time comparison of SHA-256 digests (equal length whatever the key's). */
  private void authorize(Request request) {
    if (keyDigest == null) {
      return;
    }
    String h = request.getHeaders().get(HttpHeader.AUTHORIZATION);
    String given = h != null && h.regionMatches(true, 0, "Bearer ", 0, 7) ? h.substring(7).trim() : "";
    if (!MessageDigest.isEqual(keyDigest, sha256(given))) {
      throw ApiException.unauthorized();
    }
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The body, read chunk by chunk from Jetty (a small body usually arrived with the headers: no
   * wait, no stream adapter); 413 past {@link ServerConfig#maxBodyBytes()}. The array is sized
   * from Content-Length when there is one.
   */
  private Body readBody(Request request, long declared) {
    long max = config.maxBodyBytes();
    byte[] buf = new byte[(int) Math.min(Integer.MAX_VALUE - 16, declared >= 0 ? declared : 8192)];
    int n = 0;
    while (true) {
      Content.Chunk chunk = request.read();
      if (chunk == null) {
        CompletableFuture<Void> more = new CompletableFuture<>();
        request.demand(() -> more.complete(null));
        try {
          more.get();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw ApiException.unavailable("interrupted");
        } catch (ExecutionException e) {
          throw ApiException.badRequest("invalid_body", "could not read the request body");
        }
        continue;
      }
      if (Content.Chunk.isFailure(chunk)) {
        Throwable f = chunk.getFailure();
        throw ApiException.badRequest("invalid_body", "could not read the request body: "
            + (f == null ? "failed" : f.getClass().getSimpleName()));
      }
      try {
        ByteBuffer b = chunk.getByteBuffer();
        int r = b.remaining();
        if ((long) n + r > max) {
          throw ApiException.tooLarge("the request body is larger than the limit of " + max + " bytes");
        }
        if (n + r > buf.length) {
          buf = java.util.Arrays.copyOf(buf, (int) Math.min(Integer.MAX_VALUE - 16, Math.max((long) buf.length * 2,
              (long) n + r)));
        }
        b.get(buf, n, r);
        n += r;
      } finally {
        chunk.release();
      }
      if (chunk.isLast()) {
        return new Body(buf, n);
      }
    }
  }

  /** A request body: the first {@code length} bytes of {@code bytes}. */
  private record Body(byte[] bytes, int length) {}

  private JsonNode readJson(Request request) {
    long declared = request.getLength();
    if (declared > config.maxBodyBytes()) {
      throw ApiException.tooLarge("the request body is " + declared + " bytes; the limit is " + config.maxBodyBytes());
    }
    Body body = readBody(request, declared);
    JsonNode node;
    try {
      node = json.readTree(body.bytes(), 0, body.length());
    } catch (IOException e) {
      throw ApiException.badRequest("invalid_json", "the body is not valid JSON");
    }
    if (node == null || !node.isObject()) {
      throw ApiException.badRequest("invalid_json", "the body must be a JSON object");
    }
    return node;
  }

  // ---------------------------------------------------------------------------------------------
  // Requests

  /** The model a request names: with one model served any name is accepted (and echoed). */
  private ServedModel select(JsonNode body) {
    JsonNode m = body.get("model");
    synchronized (models) {
      if (models.size() == 1) {
        return models.values().iterator().next();
      }
      if (m == null || !m.isTextual()) {
        throw ApiException.badRequest("missing_model", "'model' is required: this server serves " + models.keySet());
      }
      ServedModel s = models.get(m.asText());
      if (s == null) {
        throw ApiException.notFound("model_not_found", "the model '" + truncate(m.asText()) + "' does not exist;"
            + " this server serves " + models.keySet());
      }
      return s;
    }
  }

  private static String echoedModel(JsonNode body, ServedModel m) {
    JsonNode n = body.get("model");
    return n != null && n.isTextual() ? n.asText() : m.name;
  }

  private List<String> inputs(JsonNode body, String field) {
    JsonNode in = body.get(field);
    List<String> out = new ArrayList<>();
    if (in == null || in.isNull()) {
      throw ApiException.badRequest("missing_input", "'" + field + "' is required: a string or an array of strings");
    }
    if (in.isTextual()) {
      out.add(in.asText());
    } else if (in.isArray()) {
      if (in.size() > config.maxItems()) {
        throw ApiException.badRequest("too_many_inputs", "'" + field + "' has " + in.size() + " items; the limit is "
            + config.maxItems() + " per request");
      }
      for (JsonNode e : in) {
        if (!e.isTextual()) {
          throw ApiException.badRequest("invalid_input", "'" + field + "' must be a string or an array of strings"
              + (e.isNumber() || e.isArray() ? " (token ids are not accepted: send the text)" : ""));
        }
        out.add(e.asText());
      }
    } else {
      throw ApiException.badRequest("invalid_input", "'" + field + "' must be a string or an array of strings");
    }
    if (out.isEmpty()) {
      throw ApiException.badRequest("invalid_input", "'" + field + "' is empty");
    }
    return out;
  }

  private static String modality(JsonNode body) {
    JsonNode m = body.get("modality");
    if (m == null || m.isNull()) {
      return "text";
    }
    String s = m.isTextual() ? m.asText() : "";
    if (!s.equals("text") && !s.equals("image")) {
      throw ApiException.badRequest("invalid_modality", "'modality' must be \"text\" or \"image\"");
    }
    return s;
  }

  /** Rows in input order, and the token ids the texts became (0 for images). */
  private record Embedded(float[][] rows, long tokens) {}

  /**
   * Embeds {@code inputs} through the model's embedder: admitted all at once or refused (429).
   * Texts are tokenized once, here: the ids both go to the embedder and are counted for usage.
   */
  private Embedded embed(ServedModel m, String modality, List<String> inputs, long deadline) {
    if (modality.equals("image") && !m.model.hasImageTower()) {
      throw ApiException.badRequest("unsupported_modality", "the model '" + m.name + "' has no image tower");
    }
    if (modality.equals("text") && !m.model.hasTextTower()) {
      throw ApiException.badRequest("unsupported_modality", "the model '" + m.name + "' has no text tower");
    }
    List<ImageSource> images = null;
    long tokens = 0;
    if (modality.equals("image")) {
      images = new ArrayList<>(inputs.size());
      for (int i = 0; i < inputs.size(); i++) {
        images.add(ImageSource.of(ImageInputs.bytes(inputs.get(i), "input[" + i + "]", fetcher), "input[" + i + "]"));
      }
    }
    int n = inputs.size();
    if (n > config.maxQueue()) {
      throw ApiException.tooLarge(n + " items in one request exceed the server's queue (" + config.maxQueue()
          + " items); split the request");
    }
    if (!budget.tryAcquire(n)) {
      throw ApiException.overloaded("the server's queue is full (" + config.maxQueue() + " items); retry later");
    }
    List<CompletableFuture<float[]>> futures = new ArrayList<>(n);
    try {
      for (int i = 0; i < n; i++) {
        Duration left = Duration.ofNanos(Math.max(1, deadline - System.nanoTime()));
        CompletableFuture<float[]> f;
        try {
          if (images != null) {
            f = m.embedder.embedImage(images.get(i));
          } else {
            // Tokenized once, after admission (a refused request costs none): the ids go to the
            // embedder, their count (special tokens included, after truncation) to usage.
            ClipEmbedder.TokenizedText tt = m.embedder.tokenize(inputs.get(i));
            tokens += tt.tokenCount();
            f = m.embedder.embedText(tt, left);
          }
        } catch (RuntimeException e) {
          budget.release(n - i); // this item and the ones never submitted
          throw e;
        }
        f.whenComplete((v, t) -> budget.release());
        futures.add(f);
      }
    } catch (RuntimeException e) {
      futures.forEach(f -> f.cancel(false));
      throw mapFailure(e, -1);
    }
    return new Embedded(await(futures, deadline), tokens);
  }

  private float[][] await(List<CompletableFuture<float[]>> futures, long deadline) {
    float[][] out = new float[futures.size()][];
    try {
      CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new))
          .get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      futures.forEach(f -> f.cancel(false));
      throw ApiException.timeout("the request did not finish within " + config.requestTimeout().toMillis() + " ms");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      futures.forEach(f -> f.cancel(false));
      throw ApiException.unavailable("interrupted");
    } catch (ExecutionException | CancellationException e) {
      // one failed: find which below
    }
    for (int i = 0; i < out.length; i++) {
      try {
        out[i] = futures.get(i).getNow(null);
      } catch (RuntimeException e) {
        futures.forEach(f -> f.cancel(false));
        Throwable c = e.getCause() != null ? e.getCause() : e;
        throw mapFailure(c, i);
      }
    }
    return out;
  }

  private ApiException mapFailure(Throwable e, int index) {
    String where = index >= 0 ? "input[" + index + "]: " : "";
    if (e instanceof ApiException a) {
      return a;
    }
    if (e instanceof TimeoutException || e instanceof CancellationException) {
      return ApiException.timeout("the request did not finish within " + config.requestTimeout().toMillis() + " ms");
    }
    if (e instanceof OverloadedException) {
      return ApiException.overloaded("the server's queue is full; retry later");
    }
    if (e instanceof InvalidInputException) {
      return ApiException.badRequest("invalid_input", where + e.getMessage());
    }
    if (e instanceof Clip4jException ce && ce.code() == ErrorCode.UNSUPPORTED) {
      return ApiException.badRequest("unsupported", where + ce.getMessage());
    }
    if (e instanceof IllegalStateException) {
      return ApiException.unavailable("the server is shutting down");
    }
    LOG.log(System.Logger.Level.ERROR, "embedding failed", e);
    return ApiException.internal(where + "embedding failed (" + e.getClass().getSimpleName() + ")");
  }

  private Reply embeddings(JsonNode body, long deadline) {
    ServedModel m = select(body);
    String modality = modality(body);
    JsonNode fmt = body.get("encoding_format");
    boolean base64 = false;
    if (fmt != null && !fmt.isNull()) {
      String f = fmt.isTextual() ? fmt.asText() : "";
      if (!f.equals("float") && !f.equals("base64")) {
        throw ApiException.badRequest("invalid_encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
      }
      base64 = f.equals("base64");
    }
    JsonNode dims = body.get("dimensions");
    if (dims != null && !dims.isNull() && (!dims.canConvertToInt() || dims.asInt() != m.dim())) {
      throw ApiException.badRequest("invalid_dimensions", "this model's embeddings have " + m.dim()
          + " dimensions; 'dimensions' can only be that");
    }
    List<String> inputs = inputs(body, "input");
    Embedded e = embed(m, modality, inputs, deadline);
    float[][] rows = e.rows();
    Bytes out = new Bytes(rows.length * (base64 ? m.dim() * 6 : m.dim() * 12) + 256);
    try (JsonGenerator g = json.getFactory().createGenerator(out)) {
      g.writeStartObject();
      g.writeStringField("object", "list");
      g.writeArrayFieldStart("data");
      for (int i = 0; i < rows.length; i++) {
        g.writeStartObject();
        g.writeStringField("object", "embedding");
        g.writeNumberField("index", i);
        g.writeFieldName("embedding");
        if (base64) {
          byte[] b64 = base64Bytes(rows[i]); // ASCII: nothing to escape
          g.writeRawUTF8String(b64, 0, b64.length);
        } else {
          g.writeStartArray();
          for (float v : rows[i]) {
            g.writeNumber(v);
          }
          g.writeEndArray();
        }
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeStringField("model", echoedModel(body, m));
      writeUsage(g, e.tokens());
      g.writeEndObject();
    } catch (IOException x) {
      throw new UncheckedIOException(x);
    }
    return new Reply(200, out.buffer(), "application/json", rows.length);
  }

  /** Little-endian float32 in base64, as OpenAI's clients decode {@code encoding_format: "base64"}. */
  static byte[] base64Bytes(float[] row) {
    ByteBuffer b = ByteBuffer.allocate(row.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(row);
    return Base64.getEncoder().encode(b.array());
  }

  private static void writeUsage(JsonGenerator g, long tokens) throws IOException {
    g.writeObjectFieldStart("usage");
    g.writeNumberField("prompt_tokens", tokens);
    g.writeNumberField("total_tokens", tokens);
    g.writeEndObject();
  }

  private Reply classify(JsonNode body, long deadline) {
    ServedModel m = select(body);
    if (!m.model.hasImageTower() || !m.model.hasTextTower()) {
      throw ApiException.badRequest("unsupported", "zero-shot classification needs a model with both towers");
    }
    List<String> labels = stringList(body, "labels", true);
    List<String> templates = stringList(body, "templates", false);
    if (templates.isEmpty()) {
      templates = List.of(dev.clip4j.zeroshot.PromptTemplates.DEFAULT);
    }
    Set<String> seen = new HashSet<>();
    for (String l : labels) {
      if (l.isBlank() || !seen.add(l)) {
        throw ApiException.badRequest("invalid_labels", "labels must be non-empty and distinct");
      }
    }
    for (String t : templates) {
      if (!t.contains("{}")) {
        throw ApiException.badRequest("invalid_templates", "every template needs a {} placeholder for the label");
      }
    }
    if ((long) labels.size() * templates.size() > config.maxClassifyPrompts()) {
      throw ApiException.badRequest("too_many_prompts", labels.size() + " labels x " + templates.size()
          + " templates exceed the limit of " + config.maxClassifyPrompts() + " prompts");
    }
    int k = intField(body, "top_k", Math.min(5, labels.size()));
    List<String> images = inputs(body, "input");
    ZeroShotClassifier zs = m.cachedClassifier(labels, templates);
    long tokens = 0;
    if (zs == null) {
      List<String> tl = templates;
      List<String> prompts = new ArrayList<>();
      for (String l : labels) {
        for (String t : tl) {
          prompts.add(t.replace("{}", l));
        }
      }
      float[][] promptRows = new float[prompts.size()][];
      int chunk = Math.min(config.maxQueue(), 256);
      for (int s = 0; s < prompts.size(); s += chunk) {
        List<String> part = prompts.subList(s, Math.min(prompts.size(), s + chunk));
        Embedded r = embed(m, "text", part, deadline);
        tokens += r.tokens();
        System.arraycopy(r.rows(), 0, promptRows, s, r.rows().length);
      }
      // SigLIP scores each label on its own (sigmoid with the model's logit_bias); CLIPs use softmax.
      zs = m.model.sigmoidScoring()
          ? ZeroShotClassifier.buildSigmoid(labels, tl, texts -> promptRows, m.model.logitScale(), m.model.logitBias())
          : ZeroShotClassifier.build(labels, tl, texts -> promptRows, m.model.logitScale());
      m.cacheClassifier(labels, templates, zs);
    }
    float[][] rows = embed(m, "image", images, deadline).rows();
    Bytes out = new Bytes(1024);
    try (JsonGenerator g = json.getFactory().createGenerator(out)) {
      g.writeStartObject();
      g.writeStringField("object", "list");
      g.writeArrayFieldStart("data");
      for (int i = 0; i < rows.length; i++) {
        g.writeStartObject();
        g.writeStringField("object", "classification");
        g.writeNumberField("index", i);
        g.writeArrayFieldStart("labels");
        for (ZeroShotClassifier.Prediction p : zs.topK(rows[i], k)) {
          g.writeStartObject();
          g.writeStringField("label", p.label());
          g.writeNumberField("probability", p.probability());
          g.writeNumberField("logit", p.logit());
          g.writeEndObject();
        }
        g.writeEndArray();
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeStringField("scoring", zs.scoring() == ZeroShotClassifier.Scoring.SIGMOID ? "sigmoid" : "softmax");
      g.writeStringField("model", echoedModel(body, m));
      writeUsage(g, tokens);
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return new Reply(200, out.buffer(), "application/json", rows.length);
  }

  private Reply search(JsonNode body, long deadline) {
    ExactSearch s = search;
    EmbeddingIndex idx = index;
    if (s == null || idx == null) {
      throw ApiException.notFound("no_index", "this server has no index: start it with --index DIR");
    }
    ServedModel m = select(body);
    String modality = modality(body);
    List<String> inputs = inputs(body, "input");
    int k = intField(body, "top_k", 10);
    Embedded emb = embed(m, modality, inputs, deadline);
    float[][] q = emb.rows();
    long tokens = emb.tokens();
    List<List<ExactSearch.Hit>> hits = s.search(q, k);
    Bytes out = new Bytes(1024);
    boolean images = idx.kind() == EmbeddingIndex.Kind.IMAGES;
    try (JsonGenerator g = json.getFactory().createGenerator(out)) {
      g.writeStartObject();
      g.writeStringField("object", "list");
      g.writeArrayFieldStart("data");
      for (int i = 0; i < hits.size(); i++) {
        g.writeStartObject();
        g.writeStringField("object", "search_result");
        g.writeNumberField("index", i);
        g.writeArrayFieldStart("hits");
        int rank = 0;
        for (ExactSearch.Hit h : hits.get(i)) {
          EmbeddingIndex.Entry e = idx.entry(h.row());
          g.writeStartObject();
          g.writeNumberField("rank", ++rank);
          g.writeNumberField("score", h.score());
          g.writeNumberField("row", h.row());
          g.writeStringField(images ? "path" : "id", e.name());
          if (e.index() >= 0) {
            g.writeNumberField("input_index", e.index());
          }
          if (e.sha256() != null) {
            g.writeStringField("sha256", e.sha256());
          }
          if (e.text() != null) {
            g.writeStringField("text", e.text());
          }
          g.writeEndObject();
        }
        g.writeEndArray();
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeStringField("model", echoedModel(body, m));
      writeUsage(g, tokens);
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return new Reply(200, out.buffer(), "application/json", q.length);
  }

  private static List<String> stringList(JsonNode body, String field, boolean required) {
    JsonNode n = body.get(field);
    List<String> out = new ArrayList<>();
    if (n == null || n.isNull()) {
      if (required) {
        throw ApiException.badRequest("missing_" + field, "'" + field + "' is required: an array of strings");
      }
      return out;
    }
    if (!n.isArray()) {
      throw ApiException.badRequest("invalid_" + field, "'" + field + "' must be an array of strings");
    }
    for (JsonNode e : n) {
      if (!e.isTextual()) {
        throw ApiException.badRequest("invalid_" + field, "'" + field + "' must be an array of strings");
      }
      out.add(e.asText());
    }
    if (required && out.isEmpty()) {
      throw ApiException.badRequest("invalid_" + field, "'" + field + "' is empty");
    }
    return out;
  }

  private static int intField(JsonNode body, String field, int dflt) {
    JsonNode n = body.get(field);
    if (n == null || n.isNull()) {
      return dflt;
    }
    if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 1) {
      throw ApiException.badRequest("invalid_" + field, "'" + field + "' must be a positive integer");
    }
    return n.asInt();
  }

  private byte[] modelsBody() {
    List<Map<String, Object>> data = new ArrayList<>();
    synchronized (models) {
      for (ServedModel m : models.values()) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("id", m.name);
        o.put("object", "model");
        o.put("created", 0);
        o.put("owned_by", "clip4j");
        o.put("dimensions", m.dim());
        o.put("modalities", m.model.hasImageTower() && m.model.hasTextTower() ? List.of("text", "image")
            : m.model.hasImageTower() ? List.of("image") : List.of("text"));
        data.add(o);
      }
    }
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("object", "list");
    body.put("data", data);
    return write(body);
  }

  private byte[] errorBody(ApiException e) {
    Map<String, Object> err = new LinkedHashMap<>();
    err.put("message", e.getMessage());
    err.put("type", e.type);
    err.put("code", e.code);
    return write(Map.of("error", err));
  }

  private byte[] write(Object o) {
    try {
      return json.writeValueAsBytes(o);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String truncate(String s) {
    return s.length() <= 100 ? s : s.substring(0, 100) + "...";
  }
}
