package dev.clip4j.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * DNS rebinding: the fetcher looks a name up once, checks every address of that answer, and
 * connects to exactly those addresses with the URL's host in the Host header. A test DNS stands
 * in for a rebinding one (first answer one address, then another); the image host listens on
 * 127.0.0.1 only, which the tests' address check treats as the one "public" address.
 */
class UrlFetcherTest {
  static HttpServer host;
  static int port;
  static final byte[] IMAGE = {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3, 4};
  static final List<String> hostHeaders = new CopyOnWriteArrayList<>();
  /** 127.0.0.1 plays a public address; everything else is judged as in production. */
  static final Predicate<InetAddress> PUBLIC = a -> a.getHostAddress().equals("127.0.0.1") || UrlFetcher.isPublic(a);

  @BeforeAll
  static void start() throws Exception {
    host = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    host.createContext("/img", ex -> {
      hostHeaders.add(ex.getRequestHeaders().getFirst("Host"));
      ex.sendResponseHeaders(200, IMAGE.length);
      ex.getResponseBody().write(IMAGE);
      ex.close();
    });
    host.createContext("/to-private", ex -> {
      ex.getResponseHeaders().add("Location", "http://private.test:" + port + "/img");
      ex.sendResponseHeaders(302, -1);
      ex.close();
    });
    host.start();
    port = host.getAddress().getPort();
  }

  @AfterAll
  static void stop() {
    host.stop(0);
  }

  /** Answers each name from its list of answers, one per lookup (the last one repeats); counts lookups. */
  static final class RebindingDns implements UrlFetcher.Dns {
    final Map<String, List<String[]>> answers;
    final Map<String, AtomicInteger> lookups = new ConcurrentHashMap<>();

    RebindingDns(Map<String, List<String[]>> answers) {
      this.answers = answers;
    }

    @Override
    public InetAddress[] lookup(String name) throws UnknownHostException {
      List<String[]> a = answers.get(name);
      if (a == null) {
        throw new UnknownHostException(name);
      }
      int n = lookups.computeIfAbsent(name, k -> new AtomicInteger()).getAndIncrement();
      String[] ips = a.get(Math.min(n, a.size() - 1));
      InetAddress[] out = new InetAddress[ips.length];
      for (int i = 0; i < ips.length; i++) {
        out[i] = InetAddress.getByName(ips[i]); // literals: no real lookup
      }
      return out;
    }

    int lookups(String name) {
      AtomicInteger n = lookups.get(name);
      return n == null ? 0 : n.get();
    }
  }

  static UrlFetcher fetcher(UrlFetcher.Dns dns) {
    return new UrlFetcher(List.of(), 1 << 20, Duration.ofSeconds(5), dns, PUBLIC);
  }

  static void assertRefused(UrlFetcher f, String url, String code, String mentions) {
    assertThatThrownBy(() -> f.fetch(url, "input[0]")).isInstanceOfSatisfying(ApiException.class, e -> {
      assertThat(e.status).isEqualTo(400);
      assertThat(e.code).isEqualTo(code);
      assertThat(e.getMessage()).startsWith("input[0]: ").contains(mentions);
    });
  }

  @Test
  void theAddressCheckedIsTheAddressConnectedToWithTheUrlsHost() {
    // A rebinding name: first the checked "public" address, then a loopback one nothing listens on.
    RebindingDns dns = new RebindingDns(Map.of("rebind.test", List.of(new String[] {"127.0.0.1"},
        new String[] {"127.0.0.2"})));
    hostHeaders.clear();
    try (UrlFetcher f = fetcher(dns)) {
      assertThat(f.fetch("http://rebind.test:" + port + "/img", "input[0]")).isEqualTo(IMAGE);
      assertThat(dns.lookups("rebind.test")).as("one lookup: the client does not resolve again").isEqualTo(1);
      assertThat(hostHeaders).containsExactly("rebind.test:" + port);
    }
  }

  @Test
  void everyAddressOfTheAnswerIsCheckedAndTheFirstAnswerCounts() {
    RebindingDns dns = new RebindingDns(Map.of(
        "mixed.test", List.<String[]>of(new String[] {"127.0.0.1", "10.1.2.3"}),
        "private-first.test", List.of(new String[] {"169.254.169.254"}, new String[] {"127.0.0.1"}),
        "v6.test", List.<String[]>of(new String[] {"127.0.0.1", "fd00::1"})));
    try (UrlFetcher f = fetcher(dns)) {
      assertRefused(f, "http://mixed.test:" + port + "/img", "url_fetch_refused", "10.1.2.3");
      assertRefused(f, "http://private-first.test:" + port + "/img", "url_fetch_refused", "169.254.169.254");
      assertRefused(f, "http://v6.test:" + port + "/img", "url_fetch_refused", "fd00:0:0:0:0:0:0:1");
      assertRefused(f, "http://unknown.test:" + port + "/img", "url_fetch_failed", "unknown host");
    }
  }

  @Test
  void aRedirectIsCheckedAgainAtItsOwnConnection() {
    RebindingDns dns = new RebindingDns(Map.of("start.test", List.<String[]>of(new String[] {"127.0.0.1"}),
        "private.test", List.<String[]>of(new String[] {"192.168.7.7"})));
    try (UrlFetcher f = fetcher(dns)) {
      assertRefused(f, "http://start.test:" + port + "/to-private", "url_fetch_refused", "192.168.7.7");
      assertThat(dns.lookups("private.test")).isEqualTo(1);
    }
  }

  @Test
  void aRealNameForLoopbackIsRefusedUnlessAllowed() {
    try (UrlFetcher f = new UrlFetcher(List.of(), 1 << 20, Duration.ofSeconds(5))) {
      assertRefused(f, "http://localhost:" + port + "/img", "url_fetch_refused", "non-public address");
      assertRefused(f, "http://127.0.0.1:" + port + "/img", "url_fetch_refused", "127.0.0.1");
    }
    try (UrlFetcher f = new UrlFetcher(List.of("LOCALHOST"), 1 << 20, Duration.ofSeconds(5))) {
      assertThat(f.fetch("http://localhost:" + port + "/img", "input[0]")).isEqualTo(IMAGE);
    }
  }
}
