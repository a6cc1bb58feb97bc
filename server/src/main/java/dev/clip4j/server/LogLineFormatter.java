package dev.clip4j.server;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.logging.Handler;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * The log line {@code clip4j serve} writes ({@code 2026-12-03T03:05:43.123Z INFO logger: message},
 * then the stack trace of a throwable): the same text as JDK logging's {@link SimpleFormatter}
 * with the format {@value #FORMAT}, made without {@link java.util.Formatter} and without
 * inferring the caller (SimpleFormatter does both for every record, and the access log writes
 * one record per request: a quarter of a request thread's CPU at one text per request).
 * Thread safety: stateless, thread-safe.
 */
public final class LogLineFormatter extends java.util.logging.Formatter {
  /** The SimpleFormatter format this formatter writes (the time is local, the Z literal). */
  public static final String FORMAT = "%1$tFT%1$tT.%1$tLZ %4$s %3$s: %5$s%6$s%n";

  private static final String PROPERTY = "java.util.logging.SimpleFormatter.format";

  /**
   * Where logging has not been configured with another format (no {@code
   * java.util.logging.SimpleFormatter.format} system or logging property), gives the root
   * logger's SimpleFormatter handlers this formatter and sets the property to {@link #FORMAT} for
   * SimpleFormatters made later. A logging configuration of the user's own stays as it is.
   */
  public static void install() {
    if (System.getProperty(PROPERTY) != null || LogManager.getLogManager().getProperty(PROPERTY) != null) {
      return;
    }
    System.setProperty(PROPERTY, FORMAT);
    for (Handler h : Logger.getLogger("").getHandlers()) {
      if (h.getFormatter() != null && h.getFormatter().getClass() == SimpleFormatter.class) {
        h.setFormatter(new LogLineFormatter());
      }
    }
  }

  @Override
  public String format(LogRecord record) {
    ZonedDateTime t = ZonedDateTime.ofInstant(record.getInstant(), ZoneId.systemDefault());
    StringBuilder b = new StringBuilder(160);
    int year = t.getYear();
    if (year < 0) {
      b.append('-');
      year = -year;
    }
    pad(b, year, 4);
    b.append('-');
    pad(b, t.getMonthValue(), 2);
    b.append('-');
    pad(b, t.getDayOfMonth(), 2);
    b.append('T');
    pad(b, t.getHour(), 2);
    b.append(':');
    pad(b, t.getMinute(), 2);
    b.append(':');
    pad(b, t.getSecond(), 2);
    b.append('.');
    pad(b, t.getNano() / 1_000_000, 3);
    b.append("Z ").append(record.getLevel().getLocalizedName()).append(' ').append(record.getLoggerName())
        .append(": ").append(formatMessage(record));
    if (record.getThrown() != null) { // as SimpleFormatter: a line break, then the stack trace
      StringWriter sw = new StringWriter();
      try (PrintWriter pw = new PrintWriter(sw)) {
        pw.println();
        record.getThrown().printStackTrace(pw);
      }
      b.append(sw);
    }
    return b.append(System.lineSeparator()).toString();
  }

  /** {@code v} in at least {@code width} digits, zero-padded (as Formatter's %tY, %tm, %tL, ...). */
  private static void pad(StringBuilder b, int v, int width) {
    String s = Integer.toString(v);
    for (int i = s.length(); i < width; i++) {
      b.append('0');
    }
    b.append(s);
  }
}
