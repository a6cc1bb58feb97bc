package dev.clip4j.internal;

import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The close-safety every shared native-backed object in clip4j needs: calls run under {@link
 * #enter()} (many at once), {@link #close(Runnable)} waits for the calls in flight, runs the
 * release exactly once, and later calls throw {@link IllegalStateException}. Thread-safe.
 */
public final class UseGuard {
  private final String what;
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  private volatile boolean closed;

  /** {@code what} names the owner in the "is closed" message. */
  public UseGuard(String what) {
    this.what = what;
  }

  /** A call in flight; close it (try-with-resources) when the call ends. */
  public interface Use extends AutoCloseable {
    @Override
    void close();
  }

  /**
   * Enters a call.
   *
   * @throws IllegalStateException if the owner is closed
   */
  public Use enter() {
    lock.readLock().lock();
    if (closed) {
      lock.readLock().unlock();
      throw new IllegalStateException(what + " is closed");
    }
    return lock.readLock()::unlock;
  }

  /** Whether {@link #close(Runnable)} has run. */
  public boolean isClosed() {
    return closed;
  }

  /** Waits for calls in flight, then runs {@code release} once; later calls do nothing. */
  public void close(Runnable release) {
    lock.writeLock().lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      release.run();
    } finally {
      lock.writeLock().unlock();
    }
  }
}
