package dev.clip4j.corpus;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Progress on stderr: a redrawn bar on a terminal (items/s, ETA, errors so far), plain log lines
 * at an interval otherwise (CI, pipes). Rates count only this run's items, not resumed ones.
 * Not thread-safe (the job's thread).
 */
public final class Progress {
  /** How progress is shown. */
  public enum Mode {
    /** A bar when stderr is a terminal ({@code System.console() != null}), else log lines. */
    AUTO,
    /** A bar redrawn in place every 0.25 s. */
    BAR,
    /** One line per interval. */
    LOG,
    /** Nothing (the final summary line is still printed). */
    OFF
  }

  private final PrintStream err;
  private final Mode mode;
  private final long total;
  private final long start;
  private final String noun;
  private final long intervalNanos;
  private final long t0 = System.nanoTime();
  private long last = t0;
  private boolean drawn;

  /**
   * @param total items in the job
   * @param alreadyDone items committed by earlier runs (resumed)
   * @param logIntervalSeconds seconds between log lines (bars redraw every 0.25 s)
   */
  public Progress(PrintStream err, Mode mode, long total, long alreadyDone, String noun, double logIntervalSeconds) {
    this.err = err;
    this.mode = mode == Mode.AUTO ? (onTerminal() ? Mode.BAR : Mode.LOG) : mode;
    this.total = total;
    this.start = alreadyDone;
    this.noun = noun;
    this.intervalNanos = this.mode == Mode.BAR ? 250_000_000L : (long) (logIntervalSeconds * 1e9);
  }

  /** Called after each item; prints when the interval has passed. */
  public void update(long done, long errors) {
    long now = System.nanoTime();
    if (mode == Mode.OFF || now - last < intervalNanos) {
      return;
    }
    last = now;
    print(done, errors, now);
  }

  /** Ends a bar line. */
  public void finish(long done, long errors) {
    if (mode == Mode.BAR) {
      print(done, errors, System.nanoTime());
      err.println();
      drawn = false;
    }
  }

  private void print(long done, long errors, long now) {
    double secs = (now - t0) / 1e9;
    double rate = secs > 0 ? (done - start) / secs : 0;
    String eta = rate > 0 ? duration((total - done) / rate) : "?";
    double pct = total > 0 ? 100.0 * done / total : 100;
    if (mode == Mode.BAR) {
      int width = 30;
      int filled = (int) Math.round(width * pct / 100);
      err.printf(Locale.ROOT, "\r[%s%s] %5.1f%% %d/%d %s  %.1f/s  ETA %s  errors %d ",
          "#".repeat(filled), ".".repeat(width - filled), pct, done, total, noun, rate, eta, errors);
      err.flush();
      drawn = true;
    } else {
      err.printf(Locale.ROOT, "clip4j: %d/%d %s (%.1f%%), %.1f/s, ETA %s, %d errors%n", done, total, noun, pct, rate, eta,
          errors);
    }
  }

  /** Whether this process talks to a terminal (JDK 22+ returns a console for pipes too: ask it). */
  private static boolean onTerminal() {
    java.io.Console c = System.console();
    if (c == null) {
      return false;
    }
    try {
      return (Boolean) java.io.Console.class.getMethod("isTerminal").invoke(c);
    } catch (ReflectiveOperationException e) {
      return true; // JDK 17-21: a console exists only on a terminal
    }
  }

  /** Whether a bar is on the current line (so a message should start on a new one). */
  boolean barDrawn() {
    return drawn;
  }

  static String duration(double seconds) {
    long s = Math.round(seconds);
    return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  }
}
