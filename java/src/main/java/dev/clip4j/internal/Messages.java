package dev.clip4j.internal;

import java.util.List;

/** Keeps error messages readable whatever the input: long lists are cut with a count. Stateless. */
public final class Messages {
  private Messages() {}

  /** Most items listed per kind of problem in a message. */
  public static final int MAX_LISTED = 40;

  /**
   * The first {@link #MAX_LISTED} items joined by {@code separator}, then "... and N more" when
   * there are more.
   */
  public static String capped(List<String> items, String separator) {
    if (items.size() <= MAX_LISTED) {
      return String.join(separator, items);
    }
    return String.join(separator, items.subList(0, MAX_LISTED)) + separator + "... and "
        + (items.size() - MAX_LISTED) + " more";
  }

  /**
   * Adds "N {@code what}: item, item, ..." ({@link #capped}) to {@code problems} when {@code items}
   * is not empty: one line of a message that lists every problem at once.
   */
  public static void addCounted(List<String> problems, List<String> items, String what, String separator) {
    if (!items.isEmpty()) {
      problems.add(items.size() + " " + what + ": " + capped(items, separator));
    }
  }
}
