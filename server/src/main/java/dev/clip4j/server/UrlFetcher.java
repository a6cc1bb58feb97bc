package dev.clip4j.server;

import java.io.ByteArrayOutputStream;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.client.Result;
import org.eclipse.jetty.client.transport.HttpClientTransportOverHTTP;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ScheduledExecutorScheduler;

/**
 * Fetches image URLs for {@code --allow-url-fetch}: http and https only; every hop (the URL and
 * each redirect, at most {@value #MAX_REDIRECTS}) must resolve only to public addresses (no
 * loopback, private, link-local, unique-local, multicast or unspecified ones) unless its host is
 * in the allow list; bodies above the size limit are cut off and refused; each fetch is bounded
 * by one time limit. Thread safety: thread-safe. Owns an HTTP client: {@link #close()} it.
 *
 * <p>DNS rebinding: a host name is resolved once, when the client connects (Jetty's client calls
 * {@link #resolve} for the addresses to connect to): every address of that one answer is checked
 * and the client connects to exactly those, so no second lookup can swap in another address. The
 * request still carries the URL's host (Host header, TLS SNI and certificate name check).
 */
final class UrlFetcher implements AutoCloseable {
  static final int MAX_REDIRECTS = 3;

  /** Name resolution, replaceable by tests (a rebinding DNS). */
  interface Dns {
    InetAddress[] lookup(String host) throws UnknownHostException;
  }

  private final HttpClient client;
  private final Set<String> allowHosts;
  private final long maxBytes;
  private final Duration timeout;
  private final Dns dns;
  private final Predicate<InetAddress> isPublic;

  UrlFetcher(List<String> allowHosts, long maxBytes, Duration timeout) {
    this(allowHosts, maxBytes, timeout, InetAddress::getAllByName, UrlFetcher::isPublic);
  }

  /** With {@code dns} and a public-address test of the caller's (tests). */
  UrlFetcher(List<String> allowHosts, long maxBytes, Duration timeout, Dns dns, Predicate<InetAddress> isPublic) {
    this.allowHosts = allowHosts.stream().map(h -> h.toLowerCase(Locale.ROOT)).collect(Collectors.toSet());
    this.maxBytes = maxBytes;
    this.timeout = timeout;
    this.dns = dns;
    this.isPublic = isPublic;
    SslContextFactory.Client tls = new SslContextFactory.Client();
    tls.setEndpointIdentificationAlgorithm("HTTPS"); // the certificate must name the URL's host
    ClientConnector connector = new ClientConnector();
    connector.setSslContextFactory(tls);
    QueuedThreadPool threads = new QueuedThreadPool(8, 1);
    threads.setName("clip4j-url-fetch");
    threads.setDaemon(true);
    connector.setExecutor(threads);
    HttpClient c = new HttpClient(new HttpClientTransportOverHTTP(connector));
    c.setExecutor(threads);
    c.setScheduler(new ScheduledExecutorScheduler("clip4j-url-fetch-timer", true)); // daemon, as the pool
    c.setFollowRedirects(false); // each hop is checked here
    c.setConnectTimeout(timeout.toMillis());
    c.setSocketAddressResolver(this::resolve);
    c.setUserAgentField(new HttpField(HttpHeader.USER_AGENT, "clip4j-serve"));
    try {
      c.start();
    } catch (Exception e) {
      throw new IllegalStateException("cannot start the URL fetcher's HTTP client: " + e, e);
    }
    this.client = c;
  }

  /** The bytes at {@code url}; {@link ApiException} 400 for every refusal or failure. */
  byte[] fetch(String url, String what) {
    long deadline = System.nanoTime() + timeout.toNanos();
    URI uri = check(parse(url, what), what);
    for (int hop = 0; ; hop++) {
      Limited body = new Limited(what);
      Request req = client.newRequest(uri).method(HttpMethod.GET).headers(h -> h.put(HttpHeader.ACCEPT, "image/*"))
          .timeout(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())), TimeUnit.MILLISECONDS);
      req.send(body);
      Fetched resp;
      try {
        resp = body.result.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (TimeoutException e) {
        req.abort(e);
        throw refused("url_fetch_failed", what + ": fetching " + uri.getHost() + " took longer than " + timeout);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        req.abort(e);
        throw refused("url_fetch_failed", what + ": interrupted");
      } catch (ExecutionException e) {
        for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
          if (c instanceof ApiException a) { // a refused address (its message names the host only), a body too large
            throw a.getMessage().startsWith(what) ? a
                : new ApiException(a.status, a.type, a.code, what + ": " + a.getMessage());
          }
          if (c instanceof TimeoutException) {
            throw refused("url_fetch_failed", what + ": fetching " + uri.getHost() + " took longer than " + timeout);
          }
        }
        throw refused("url_fetch_failed", what + ": fetching from " + uri.getHost() + " failed: "
            + e.getCause().getClass().getSimpleName());
      }
      int s = resp.status;
      if (s >= 300 && s < 400 && resp.location != null) {
        if (hop >= MAX_REDIRECTS) {
          throw refused("url_fetch_failed", what + ": more than " + MAX_REDIRECTS + " redirects");
        }
        URI next;
        try {
          next = uri.resolve(resp.location);
        } catch (IllegalArgumentException e) {
          throw refused("url_fetch_failed", what + ": a redirect to an invalid URL");
        }
        uri = check(next, what);
        continue;
      }
      if (s != 200) {
        throw refused("url_fetch_failed", what + ": " + uri.getHost() + " answered HTTP " + s);
      }
      return resp.body;
    }
  }

  private static URI parse(String url, String what) {
    try {
      return new URI(url);
    } catch (Exception e) {
      throw refused("invalid_url", what + ": not a valid URL");
    }
  }

  /** Refuses schemes other than http(s), user info and URLs without a host (addresses: {@link #resolve}). */
  private static URI check(URI uri, String what) {
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw refused("url_fetch_refused", what + ": only http and https URLs are fetched");
    }
    String host = uri.getHost();
    if (host == null || host.isEmpty() || uri.getRawUserInfo() != null) {
      throw refused("invalid_url", what + ": a URL needs a host and no user info");
    }
    return uri;
  }

  /**
   * The addresses the client connects to for {@code host}: one lookup, every address checked
   * (refused if any is not public, unless the host is allowed), handed over resolved, so the
   * client does not look the name up again.
   */
  private void resolve(String host, int port, Map<String, Object> context, Promise<List<InetSocketAddress>> promise) {
    String h = host.toLowerCase(Locale.ROOT);
    if (h.startsWith("[") && h.endsWith("]")) {
      h = h.substring(1, h.length() - 1);
    }
    InetAddress[] addrs;
    try {
      addrs = dns.lookup(h);
    } catch (UnknownHostException e) {
      promise.failed(refused("url_fetch_failed", "unknown host " + host));
      return;
    } catch (RuntimeException e) {
      promise.failed(refused("url_fetch_failed", "resolving " + host + " failed: " + e.getClass().getSimpleName()));
      return;
    }
    if (addrs == null || addrs.length == 0) {
      promise.failed(refused("url_fetch_failed", "unknown host " + host));
      return;
    }
    List<InetSocketAddress> out = new ArrayList<>(addrs.length);
    for (InetAddress a : addrs) {
      if (!allowHosts.contains(h) && !isPublic.test(a)) {
        promise.failed(refused("url_fetch_refused", host + " resolves to a non-public address (" + a.getHostAddress()
            + "); the server fetches only public addresses"));
        return;
      }
      out.add(new InetSocketAddress(a, port));
    }
    promise.succeeded(out);
  }

  @Override
  public void close() {
    try {
      client.stop();
    } catch (Exception e) {
      // stopping: nothing left to do
    }
  }

  /** Whether {@code a} is a public unicast address. */
  static boolean isPublic(InetAddress a) {
    if (a.isLoopbackAddress() || a.isAnyLocalAddress() || a.isLinkLocalAddress() || a.isSiteLocalAddress()
        || a.isMulticastAddress()) {
      return false;
    }
    byte[] b = a.getAddress();
    if (a instanceof Inet4Address) {
      int b0 = b[0] & 0xff;
      int b1 = b[1] & 0xff;
      return !(b0 == 0 || (b0 == 100 && b1 >= 64 && b1 < 128) // this network, carrier-grade NAT
          || (b0 == 192 && b1 == 0 && (b[2] & 0xff) == 0) || (b0 == 198 && (b1 == 18 || b1 == 19)) // IETF, benchmarking
          || b0 >= 240); // reserved, broadcast
    }
    if (a instanceof Inet6Address) {
      int b0 = b[0] & 0xff;
      if ((b0 & 0xfe) == 0xfc) {
        return false; // fc00::/7 unique local
      }
      boolean v4mapped = true;
      for (int i = 0; i < 10; i++) {
        v4mapped &= b[i] == 0;
      }
      if (v4mapped && (b[10] & 0xff) == 0xff && (b[11] & 0xff) == 0xff) {
        try {
          return isPublic(InetAddress.getByAddress(java.util.Arrays.copyOfRange(b, 12, 16)));
        } catch (UnknownHostException e) {
          return false;
        }
      }
    }
    return true;
  }

  private static ApiException refused(String code, String message) {
    return ApiException.badRequest(code, message);
  }

  /** What one hop answered: its status, its Location, its body (at most maxBytes). */
  private record Fetched(int status, String location, byte[] body) {}

  /** Keeps at most maxBytes of the body and aborts past them (also on a larger Content-Length). */
  private final class Limited implements Response.Listener {
    final CompletableFuture<Fetched> result = new CompletableFuture<>();
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final String what;

    Limited(String what) {
      this.what = what;
    }

    @Override
    public void onHeaders(Response response) {
      long declared = response.getHeaders().getLongField(HttpHeader.CONTENT_LENGTH);
      if (declared > maxBytes) {
        response.abort(tooLarge(what));
      }
    }

    @Override
    public void onContent(Response response, ByteBuffer content) {
      if (out.size() + (long) content.remaining() > maxBytes) {
        response.abort(tooLarge(what));
        return;
      }
      byte[] chunk = new byte[content.remaining()];
      content.get(chunk);
      out.write(chunk, 0, chunk.length);
    }

    @Override
    public void onComplete(Result r) {
      if (r.isFailed()) {
        result.completeExceptionally(r.getFailure());
      } else {
        Response resp = r.getResponse();
        result.complete(new Fetched(resp.getStatus(), resp.getHeaders().get(HttpHeader.LOCATION), out.toByteArray()));
      }
    }
  }

  private ApiException tooLarge(String what) {
    return refused("image_too_large", what + ": the image is larger than " + maxBytes + " bytes (the fetch limit)");
  }
}
