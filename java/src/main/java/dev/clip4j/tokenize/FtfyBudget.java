package dev.clip4j.tokenize;

import dev.clip4j.InvalidInputException;

/**
 * The work one {@code fix_text} call may do, counted in characters passed over: each round of
 * ftfy's segment loop and each step of {@code fix_encoding} spends the length of the text it
 * works on. ftfy repeats both loops until the text stops changing, and on some inputs each
 * round fixes only a little: chained mojibake, where every repair exposes the next one ("Ãƒ©"
 * repeated), or HTML escaped thousands of times over. There ftfy itself takes time quadratic in
 * the length (Python needs 14 s for 12,000 characters of "Ãƒ©", about a day for a megabyte by
 * extrapolation). Rather than hang on such a text, clip4j refuses it once the work exceeds
 * {@link #limitFor} of its length: 2^22 characters plus 64 per character of the text. Texts on
 * which ftfy's cost is linear need a few passes of their length (at most about 12 seen, on
 * megabytes of random mojibake); chains are followed to the end up to a few thousand
 * characters; spending the whole allowance on a megabyte takes about ten seconds.
 *
 * <p>One instance per {@code fix_text} call; not thread-safe.
 */
final class FtfyBudget {
  /** Fixed allowance, so that short texts may take as many rounds as ftfy takes on them. */
  static final long BASE = 1L << 22;
  /** Passes over the whole text allowed on top of BASE. */
  static final long PER_CHAR = 64;

  private final long limit;
  private final int textLength;
  private long spent;

  private FtfyBudget(long limit, int textLength) {
    this.limit = limit;
    this.textLength = textLength;
  }

  /** The budget for a fix_text call on a text of this many chars. */
  static FtfyBudget forText(int length) {
    return new FtfyBudget(limitFor(length), length);
  }

  /** A budget that never runs out (tests of single steps). */
  static FtfyBudget unlimited() {
    return new FtfyBudget(Long.MAX_VALUE, -1);
  }

  static long limitFor(int length) {
    return BASE + PER_CHAR * (long) length;
  }

  /** Spends {@code chars}; throws once the total exceeds the limit. */
  void spend(int chars) {
    spent += chars;
    if (spent > limit) {
      throw new InvalidInputException(
          "text of "
              + textLength
              + " characters needs more repair rounds than clip4j allows (over "
              + limit
              + " characters of work): every round of ftfy's mojibake/HTML repair exposes another"
              + " (e.g. chained mojibake or HTML escaped thousands of times), on which open_clip's"
              + " ftfy takes time quadratic in the length");
    }
  }

  /** Characters of work spent so far. */
  long spent() {
    return spent;
  }
}
