package dev.clip4j.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.SimpleFormatter;
import org.junit.jupiter.api.Test;

/** The serve log line is, character for character, JDK logging's SimpleFormatter with its format. */
class LogLineFormatterTest {

  static SimpleFormatter reference() {
    String key = "java.util.logging.SimpleFormatter.format";
    String before = System.getProperty(key);
    System.setProperty(key, LogLineFormatter.FORMAT); // a SimpleFormatter reads it when it is made
    try {
      return new SimpleFormatter();
    } finally {
      if (before == null) {
        System.clearProperty(key);
      } else {
        System.setProperty(key, before);
      }
    }
  }

  @Test
  void sameTextAsSimpleFormatterWithTheServeFormat() {
    SimpleFormatter want = reference();
    LogLineFormatter got = new LogLineFormatter();
    List<LogRecord> records = new ArrayList<>();
    Instant[] times = {Instant.parse("2026-12-03T03:05:43.007Z"), Instant.parse("0999-01-02T00:00:00.000Z"),
        Instant.parse("2026-06-30T23:59:59.999Z"), Instant.EPOCH, Instant.parse("+12026-12-31T12:34:56.120Z")};
    Level[] levels = {Level.INFO, Level.WARNING, Level.SEVERE, Level.FINE, Level.parse("850")};
    for (int i = 0; i < times.length; i++) {
      LogRecord r = new LogRecord(levels[i], i % 2 == 0 ? "POST /v1/embeddings 200 items=1 3.4ms" : "model {0}: {1} s");
      r.setInstant(times[i]);
      r.setLoggerName(i == 3 ? null : "dev.clip4j.server.access");
      r.setParameters(i % 2 == 0 ? null : new Object[] {"tiny", 0.25});
      records.add(r);
    }
    LogRecord thrown = new LogRecord(Level.SEVERE, "internal error on POST /v1/embeddings");
    thrown.setLoggerName("dev.clip4j.server.EmbeddingServer");
    thrown.setThrown(new IllegalStateException("boom", new RuntimeException("cause")));
    records.add(thrown);
    for (LogRecord r : records) {
      assertThat(got.format(r)).isEqualTo(want.format(r));
    }
  }
}
