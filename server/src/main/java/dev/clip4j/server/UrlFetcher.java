package dev.clip4j.server;

import java.io.ByteArrayOutputStream;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;

/**
 * Fetches image URLs for {@code --allow-url-fetch}: http and https only; every hop (the URL and
 * each redirect, at most {@value #MAX_REDIRECTS}) must resolve only to public addresses (no
 * loopback, private, link-local, unique-local, multicast or unspecified ones) unless its host is
 * in the allow list; bodies above the size limit are cut off and refused; each fetch is bounded
 * by one time limit. Thread safety: thread-safe.
 *
 * <p>Limit: the address check resolves the host before the HTTP client connects, and the client
 * resolves it again, so a DNS answer that changes between the two (rebinding) is not caught.
 */
final class UrlFetcher {
  static final int MAX_REDIRECTS = 3;

  private final HttpClient client;
  private final Set<String> allowHosts;
  private final long maxBytes;
  private final Duration timeout;

  UrlFetcher(List<String> allowHosts, long maxBytes, Duration timeout) {
    this.client = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).connectTimeout(timeout).build();
    this.allowHosts = allowHosts.stream().map(h -> h.toLowerCase(Locale.ROOT)).collect(Collectors.toSet());
    this.maxBytes = maxBytes;
    this.timeout = timeout;
  }

  /** The bytes at {@code url}; {@link ApiException} 400 for every refusal or failure. */
  byte[] fetch(String url, String what) {
    long deadline = System.nanoTime() + timeout.toNanos();
    URI uri = check(parse(url, what), what);
    for (int hop = 0; ; hop++) {
      HttpRequest req = HttpRequest.newBuilder(uri).timeout(timeout).GET().header("Accept", "image/*").build();
      CompletableFuture<HttpResponse<byte[]>> f = client.sendAsync(req, info -> limited(info, what));
      HttpResponse<byte[]> resp;
      try {
        resp = f.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (TimeoutException e) {
        f.cancel(true);
        throw refused("url_fetch_failed", what + ": fetching " + uri.getHost() + " took longer than " + timeout);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw refused("url_fetch_failed", what + ": interrupted");
      } catch (ExecutionException e) {
        Throwable c = e.getCause();
        if (c instanceof ApiException a) {
          throw a;
        }
        throw refused("url_fetch_failed", what + ": fetching from " + uri.getHost() + " failed: "
            + c.getClass().getSimpleName());
      }
      int s = resp.statusCode();
      if (s >= 300 && s < 400 && resp.headers().firstValue("Location").isPresent()) {
        if (hop >= MAX_REDIRECTS) {
          throw refused("url_fetch_failed", what + ": more than " + MAX_REDIRECTS + " redirects");
        }
        uri = check(uri.resolve(resp.headers().firstValue("Location").get()), what);
        continue;
      }
      if (s != 200) {
        throw refused("url_fetch_failed", what + ": " + uri.getHost() + " answered HTTP " + s);
      }
      return requireBody(resp.body(), what);
    }
  }

  private static URI parse(String url, String what) {
    try {
      return new URI(url);
    } catch (Exception e) {
      throw refused("invalid_url", what + ": not a valid URL");
    }
  }

  /** Refuses schemes other than http(s), user info, and hosts resolving to non-public addresses. */
  private URI check(URI uri, String what) {
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw refused("url_fetch_refused", what + ": only http and https URLs are fetched");
    }
    String host = uri.getHost();
    if (host == null || host.isEmpty() || uri.getRawUserInfo() != null) {
      throw refused("invalid_url", what + ": a URL needs a host and no user info");
    }
    String h = host.toLowerCase(Locale.ROOT);
    if (h.startsWith("[") && h.endsWith("]")) {
      h = h.substring(1, h.length() - 1);
    }
    if (allowHosts.contains(h)) {
      return uri;
    }
    InetAddress[] addrs;
    try {
      addrs = InetAddress.getAllByName(h);
    } catch (UnknownHostException e) {
      throw refused("url_fetch_failed", what + ": unknown host " + host);
    }
    for (InetAddress a : addrs) {
      if (!isPublic(a)) {
        throw refused("url_fetch_refused", what + ": " + host + " resolves to a non-public address ("
            + a.getHostAddress() + "); the server fetches only public addresses");
      }
    }
    return uri;
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

  /** A body subscriber that keeps at most maxBytes and fails past them (also on a larger Content-Length). */
  private HttpResponse.BodySubscriber<byte[]> limited(HttpResponse.ResponseInfo info, String what) {
    long declared = info.headers().firstValueAsLong("Content-Length").orElse(-1);
    if (declared > maxBytes) {
      return HttpResponse.BodySubscribers.replacing(null); // answered below from the status check
    }
    return new HttpResponse.BodySubscriber<>() {
      final CompletableFuture<byte[]> result = new CompletableFuture<>();
      final ByteArrayOutputStream out = new ByteArrayOutputStream();
      Flow.Subscription sub;

      @Override
      public CompletionStage<byte[]> getBody() {
        return result;
      }

      @Override
      public void onSubscribe(Flow.Subscription s) {
        sub = s;
        s.request(Long.MAX_VALUE);
      }

      @Override
      public void onNext(List<ByteBuffer> items) {
        if (result.isDone()) {
          return;
        }
        for (ByteBuffer b : items) {
          if (out.size() + (long) b.remaining() > maxBytes) {
            sub.cancel();
            result.completeExceptionally(tooLarge(what));
            return;
          }
          byte[] chunk = new byte[b.remaining()];
          b.get(chunk);
          out.write(chunk, 0, chunk.length);
        }
      }

      @Override
      public void onError(Throwable t) {
        result.completeExceptionally(t);
      }

      @Override
      public void onComplete() {
        result.complete(out.toByteArray());
      }
    };
  }

  private ApiException tooLarge(String what) {
    return refused("image_too_large", what + ": the image is larger than " + maxBytes + " bytes (the fetch limit)");
  }

  /** Checks a completed response for the Content-Length refusal (a null body). */
  byte[] requireBody(byte[] body, String what) {
    if (body == null) {
      throw tooLarge(what);
    }
    return body;
  }
}
