package dev.clip4j.server;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Settings of an {@link EmbeddingServer}; {@link #defaults()} then {@code with...} copies.
 *
 * @param host address to bind (127.0.0.1 by default; a warning is logged for any other without a key)
 * @param port TCP port (0 = any free port; {@link EmbeddingServer#port()} tells which)
 * @param apiKey the bearer key clients must send, or null for none
 * @param maxQueue items (texts or images) admitted and not yet answered, over all requests and
 *     models; a request that would exceed it is refused at once with 429
 * @param maxBatch most items per forward pass
 * @param maxDelay longest an item waits for others to join its batch
 * @param requestTimeout deadline of one request, from arrival to its last embedding; 504 after it
 * @param maxBodyBytes largest request body (413 above it)
 * @param maxItems most inputs in one request (400 above it)
 * @param maxClassifyPrompts most labels x templates in one classify request (400 above it)
 * @param allowUrlFetch whether image inputs may be http(s) URLs the server fetches
 * @param urlFetchAllowHosts hosts URL fetching may reach even though they resolve to a private,
 *     loopback or link-local address (none by default: only public addresses are fetched)
 * @param urlMaxBytes largest image fetched from a URL
 * @param urlTimeout longest one URL fetch (connect + body) takes
 * @param drainTimeout how long a stop waits for requests in flight
 * @param indexDir embeddings directory served by /v1/search, or null
 * @param allowModelMismatch search an index whose manifest names other model files
 * @param threads most HTTP worker threads
 */
public record ServerConfig(
    String host,
    int port,
    String apiKey,
    int maxQueue,
    int maxBatch,
    Duration maxDelay,
    Duration requestTimeout,
    long maxBodyBytes,
    int maxItems,
    int maxClassifyPrompts,
    boolean allowUrlFetch,
    List<String> urlFetchAllowHosts,
    long urlMaxBytes,
    Duration urlTimeout,
    Duration drainTimeout,
    Path indexDir,
    boolean allowModelMismatch,
    int threads) {

  public ServerConfig {
    Objects.requireNonNull(host, "host");
    Objects.requireNonNull(maxDelay, "maxDelay");
    Objects.requireNonNull(requestTimeout, "requestTimeout");
    Objects.requireNonNull(urlTimeout, "urlTimeout");
    Objects.requireNonNull(drainTimeout, "drainTimeout");
    urlFetchAllowHosts = List.copyOf(urlFetchAllowHosts);
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("port must be 0..65535, got " + port);
    }
    if (maxQueue < 1 || maxBatch < 1 || maxItems < 1 || maxClassifyPrompts < 1 || threads < 4) {
      throw new IllegalArgumentException("maxQueue, maxBatch, maxItems, maxClassifyPrompts must be >= 1 and threads >= 4");
    }
    if (maxBodyBytes < 1 || urlMaxBytes < 1) {
      throw new IllegalArgumentException("maxBodyBytes and urlMaxBytes must be >= 1");
    }
    if (requestTimeout.isNegative() || requestTimeout.isZero() || maxDelay.isNegative()
        || urlTimeout.isNegative() || urlTimeout.isZero() || drainTimeout.isNegative()) {
      throw new IllegalArgumentException("timeouts must be positive (maxDelay and drainTimeout may be zero)");
    }
    if (apiKey != null && apiKey.isEmpty()) {
      throw new IllegalArgumentException("an empty API key");
    }
  }

  /**
   * 127.0.0.1:8080, no key, 256 items queued, batches of 32 after at most 5 ms, 30 s per request,
   * 32 MiB bodies, 2048 inputs per request (OpenAI's limit), 4096 classify prompts, URL fetching
   * off (16 MiB, 10 s when on), 30 s drain, no index, 200 threads.
   */
  public static ServerConfig defaults() {
    return new ServerConfig("127.0.0.1", 8080, null, 256, 32, Duration.ofMillis(5), Duration.ofSeconds(30),
        32L << 20, 2048, 4096, false, List.of(), 16L << 20, Duration.ofSeconds(10), Duration.ofSeconds(30), null,
        false, 200);
  }

  public ServerConfig withHost(String h) {
    return new ServerConfig(h, port, apiKey, maxQueue, maxBatch, maxDelay, requestTimeout, maxBodyBytes, maxItems,
        maxClassifyPrompts, allowUrlFetch, urlFetchAllowHosts, urlMaxBytes, urlTimeout, drainTimeout, indexDir,
        allowModelMismatch, threads);
  }

  public ServerConfig withPort(int p) {
    return new ServerConfig(host, p, apiKey, maxQueue, maxBatch, maxDelay, requestTimeout, maxBodyBytes, maxItems,
        maxClassifyPrompts, allowUrlFetch, urlFetchAllowHosts, urlMaxBytes, urlTimeout, drainTimeout, indexDir,
        allowModelMismatch, threads);
  }

  public ServerConfig withApiKey(String k) {
    return new ServerConfig(host, port, k, maxQueue, maxBatch, maxDelay, requestTimeout, maxBodyBytes, maxItems,
        maxClassifyPrompts, allowUrlFetch, urlFetchAllowHosts, urlMaxBytes, urlTimeout, drainTimeout, indexDir,
        allowModelMismatch, threads);
  }

  public ServerConfig withQueue(int maxQueue, int maxBatch, Duration maxDelay) {
    return new ServerConfig(host, port, apiKey, maxQueue, maxBatch, maxDelay, requestTimeout, maxBodyBytes, maxItems,
        maxClassifyPrompts, allowUrlFetch, urlFetchAllowHosts, urlMaxBytes, urlTimeout, drainTimeout, indexDir,
        allowModelMismatch, threads);
  }

  public ServerConfig withRequestTimeout(Duration t) {
    return new ServerConfig(host, port, apiKey, maxQueue, maxBatch, maxDelay, t, maxBodyBytes, maxItems,
        maxClassifyPrompts, allowUrlFetch, urlFetchAllowHosts, urlMaxBytes, urlTimeout, drainTimeout, indexDir,
        allowModelMismatch, threads);
  }

  public ServerConfig withLimits(long maxBodyBytes, int maxItems, int maxClassifyPrompts) {
    return new ServerConfig(host, port, apiKey, maxQueue, maxBatch, maxDelay, requestTimeout, maxBodyBytes, maxItems,
        maxClassifyPrompts, allowUrlFetch, urlFetchAllowHosts, urlMaxBytes, urlTimeout, drainTimeout, indexDir,
        allowModelMismatch, threads);
  }

  public ServerConfig withUrlFetch(boolean allow, List<String> allowHosts, long maxBytes, Duration timeout) {
    return new ServerConfig(host, port, apiKey, maxQueue, maxBatch, maxDelay, requestTimeout, maxBodyBytes, maxItems,
        maxClassifyPrompts, allow, allowHosts, maxBytes, timeout, drainTimeout, indexDir, allowModelMismatch, threads);
  }

  public ServerConfig withDrainTimeout(Duration d) {
    return new ServerConfig(host, port, apiKey, maxQueue, maxBatch, maxDelay, requestTimeout, maxBodyBytes, maxItems,
        maxClassifyPrompts, allowUrlFetch, urlFetchAllowHosts, urlMaxBytes, urlTimeout, d, indexDir,
        allowModelMismatch, threads);
  }

  public ServerConfig withIndex(Path dir, boolean allowMismatch) {
    return new ServerConfig(host, port, apiKey, maxQueue, maxBatch, maxDelay, requestTimeout, maxBodyBytes, maxItems,
        maxClassifyPrompts, allowUrlFetch, urlFetchAllowHosts, urlMaxBytes, urlTimeout, drainTimeout, dir,
        allowMismatch, threads);
  }

  public ServerConfig withThreads(int n) {
    return new ServerConfig(host, port, apiKey, maxQueue, maxBatch, maxDelay, requestTimeout, maxBodyBytes, maxItems,
        maxClassifyPrompts, allowUrlFetch, urlFetchAllowHosts, urlMaxBytes, urlTimeout, drainTimeout, indexDir,
        allowModelMismatch, n);
  }

  /** The config without the key, for logs. */
  @Override
  public String toString() {
    return "ServerConfig[host=" + host + ", port=" + port + ", apiKey=" + (apiKey == null ? "none" : "(set)")
        + ", maxQueue=" + maxQueue + ", maxBatch=" + maxBatch + ", maxDelay=" + maxDelay + ", requestTimeout="
        + requestTimeout + ", maxBodyBytes=" + maxBodyBytes + ", maxItems=" + maxItems + ", allowUrlFetch="
        + allowUrlFetch + ", indexDir=" + indexDir + "]";
  }
}
