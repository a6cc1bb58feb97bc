package dev.clip4j.corpus;

/**
 * Fault injection for the resume tests, at named points of a job: {@code item:I} (before input
 * I is recorded), {@code npy:K}, {@code ids:K}, {@code errors:K}, {@code manifest:K} (after that
 * step of shard K's commit). With {@code -Dclip4j.corpus.pause=POINT} the job prints a line to
 * stderr and sleeps there until killed (a child-JVM test then {@code kill -9}s it); in-process
 * tests set {@link #crashForTests} to throw {@link SimulatedCrash} there instead, which leaves
 * the directory exactly as a kill would (no cleanup runs on that path). Never set in production.
 */
final class Faults {
  private static final String PAUSE = System.getProperty("clip4j.corpus.pause");
  static volatile String crashForTests;

  /** Thrown at {@link #crashForTests}. */
  static final class SimulatedCrash extends Error {
    private static final long serialVersionUID = 1L;

    SimulatedCrash(String point) {
      super("simulated crash at " + point);
    }
  }

  private Faults() {}

  static void point(String stage, long n) {
    if (PAUSE == null && crashForTests == null) {
      return;
    }
    String here = stage + ":" + n;
    if (here.equals(crashForTests)) {
      throw new SimulatedCrash(here);
    }
    if (!here.equals(PAUSE)) {
      return;
    }
    System.err.println("clip4j-corpus: paused at " + PAUSE);
    System.err.flush();
    while (true) {
      try {
        Thread.sleep(60_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while paused at " + PAUSE);
      }
    }
  }
}
