package dev.clip4j.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.clip4j.InvalidInputException;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Cost of the ftfy port on megabyte inputs built to be expensive. The structural property
 * checked is the work counter of {@link FtfyBudget} (characters passed over by all rounds and
 * steps): on texts where ftfy's own cost is linear it must stay a small multiple of the length
 * (at most 16 passes; 11.6 is the most seen, on random mojibake). The timeouts only catch a hang
 * and are minutes long; speed is measured by the tokenizer benchmark, not here.
 */
class FtfyAdversarialTest {
  private static final int MB = 1 << 20;
  private static final Duration HANG = Duration.ofMinutes(4);

  /** Characters that occur in mojibake: every class of ftfy's heuristic and detector. */
  private static final String MOJIBAKE_ALPHABET =
      "ÃÂÎÐØÙ×à√≈‚ÄâóäåæçèéêëìíîïвЂВГРСўΒΓΞΟβ€ŸŠ®°µ»ŒœΆ©¢£¥¦§¨ª«¬\u00AD¯±²³´¶·¸¹º¼½¾¿"
          + "ÀÁÈÉÊËÌÍÏÑÒÓÔÕÖÚÛÜÝÞßðñòôõö÷øùúûüýþÿ\u0080\u0081\u0090\u009D\u00A0‘’“”•–—˜™šœžƒˆ‰‹›"
          + "ĄąĽľŁłŚśŞşŤťŹźŻżŽž┌┐└┘│─═║╔╗\uFFFD";

  static String repeat(String unit, int length) {
    StringBuilder b = new StringBuilder(length + unit.length());
    while (b.length() < length) {
      b.append(unit);
    }
    return b.substring(0, length);
  }

  static String random(String alphabet, int length, long seed) {
    Random r = new Random(seed);
    StringBuilder b = new StringBuilder(length);
    for (int i = 0; i < length; i++) {
      b.append(alphabet.charAt(r.nextInt(alphabet.length())));
    }
    return b.toString();
  }

  /** Fixes the text and returns the work per character. */
  private static double passes(String text) {
    FtfyBudget budget = FtfyBudget.forText(text.length());
    assertTimeoutPreemptively(HANG, () -> TextCleaner.fixText(text, budget));
    return budget.spent() / (double) text.length();
  }

  @Test
  void megabytesOfMojibakeTakeAFewPassesEach() {
    String[] inputs = {
      random(MOJIBAKE_ALPHABET, 2 * MB, 1),
      random(MOJIBAKE_ALPHABET + "abcdefgh      \n", 2 * MB, 2),
      random("日本語テキスト" + MOJIBAKE_ALPHABET, MB, 3),
      repeat("Ã©", 2 * MB), // one segment of 1,000,000 code points, then the rest
      repeat("Ã ", MB),
      repeat("Ã", MB),
      repeat("жÃ©", MB), // no code page holds both: many small inconsistent runs
      repeat("Ã©Šx", MB), // runs kept apart by a strict continuation character
      repeat("ÃƒÂ©", MB), // doubly encoded
      repeat("Ã© Ã©\n", MB), // many segments
      repeat("â€œ like this â€\uFFFD ", MB), // lossy
      repeat("í\u00A0½í¸\u008D", MB), // CESU-8
      repeat("\u0093x\u0094\u0081", MB), // C1 controls
      repeat("&eacute;&#233;&amp;", MB),
    };
    for (String s : inputs) {
      double passes = passes(s);
      assertThat(passes).as("work per char on " + FtfyReferenceTest.escape(s.substring(0, 12)))
          .isLessThanOrEqualTo(16.0);
    }
  }

  @Test
  void linearInputsGiveFtfysResults() {
    // Results checked with Python: fix_text("Ã©" * 5000) == "é" * 5000 and for the segments here.
    String fixed = TextCleaner.fixText(repeat("Ã©", 2 * MB));
    assertThat(fixed).isEqualTo(repeat("\u00E9", MB));
    assertThat(TextCleaner.fixText(repeat("Ã©Šx", 12))).isEqualTo(repeat("éŠx", 9));
  }

  @Test
  void chainedMojibakeIsExactWhileShortAndRefusedWhenHuge() {
    // Each round of ftfy fixes one more "Ãƒ©" unit: ftfy's cost is quadratic (Python: 14 s for
    // 12,000 characters). Short chains are fixed exactly (Python: "é" * 1000) ...
    assertThat(TextCleaner.fixText(repeat("Ãƒ©", 3000))).isEqualTo(repeat("é", 1000));
    // ... a megabyte is refused with a typed error once the work budget is spent.
    String huge = repeat("Ãƒ©", MB);
    FtfyBudget budget = FtfyBudget.forText(huge.length());
    assertTimeoutPreemptively(
        HANG,
        () ->
            assertThatThrownBy(() -> TextCleaner.fixText(huge, budget))
                .isInstanceOf(InvalidInputException.class)
                .hasMessageContaining("quadratic"));
    assertThat(budget.spent()).isGreaterThan(FtfyBudget.limitFor(huge.length()));
    assertThat(budget.spent()).isLessThan(FtfyBudget.limitFor(huge.length()) + 2L * huge.length());
  }

  @Test
  void deeplyNestedHtmlEscapesAreRefusedWhenHuge() {
    // "&amp;amp;...lt;": one level per round in ftfy. Small depths are exact ...
    assertThat(TextCleaner.fixText("&" + "amp;".repeat(50) + "lt;")).isEqualTo("<");
    // ... a quarter megabyte of levels is refused.
    String huge = "&" + "amp;".repeat(MB / 16) + "lt;";
    assertTimeoutPreemptively(
        HANG,
        () -> assertThatThrownBy(() -> TextCleaner.clean(huge)).isInstanceOf(InvalidInputException.class));
  }
}
