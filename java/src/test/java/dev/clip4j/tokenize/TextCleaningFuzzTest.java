package dev.clip4j.tokenize;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.clip4j.InvalidInputException;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;

/**
 * Jazzer fuzz target for open_clip's text cleaning ({@link TextCleaner#clean}, ftfy's fix_text
 * with its mojibake repair). Contract: every text is cleaned or refused with an {@link
 * InvalidInputException} (the ftfy work budget); anything else (an unexpected exception, a hang,
 * an output that breaks one of the invariants below) is a finding.
 *
 * <p>The first input byte picks how the rest becomes a text, so the fuzzer reaches the mojibake
 * paths: UTF-8 (malformed bytes replaced), one char per byte through one of ftfy's single-byte
 * code pages (mojibake of whatever the bytes were), or UTF-16 code units (any char, lone
 * surrogates included). Invariants of fix_text's output, which ends with a round of fixes that
 * changed nothing: no control character ftfy removes, no CR/U+2028/U+2029, no lone surrogate,
 * no Latin ligature, no curly quote, no C1 control but the five Windows-1252 leaves undefined,
 * and NFC. Seeds/crashers: {@code
 * src/test/resources/dev/clip4j/tokenize/TextCleaningFuzzTestInputs/fixText/}; see
 * ParserFuzzTest and ci/fuzz.sh.
 */
class TextCleaningFuzzTest {

  static String text(byte[] data) {
    if (data.length == 0) {
      return "";
    }
    int mode = (data[0] & 0xFF) % 11;
    if (mode == 0) {
      return new String(data, 1, data.length - 1, StandardCharsets.UTF_8);
    }
    if (mode == 10) {
      char[] chars = new char[(data.length - 1) / 2];
      for (int i = 0; i < chars.length; i++) {
        chars[i] = (char) (((data[1 + 2 * i] & 0xFF) << 8) | (data[2 + 2 * i] & 0xFF));
      }
      return new String(chars);
    }
    FtfyCharmaps page =
        mode <= 9 && mode - 1 < FtfyCharmaps.CHARMAP_ENCODINGS.size()
            ? FtfyCharmaps.CHARMAP_ENCODINGS.get(mode - 1)
            : FtfyCharmaps.WINDOWS_1252;
    StringBuilder b = new StringBuilder(data.length);
    for (int i = 1; i < data.length; i++) {
      int cp = page.decode(data[i]);
      b.append((char) (cp < 0 ? data[i] & 0xFF : cp));
    }
    return b.toString();
  }

  @FuzzTest(maxDuration = "10s")
  void fixText(byte[] data) {
    String text = text(data);
    String fixed;
    try {
      fixed = TextCleaner.fixText(text);
      TextCleaner.clean(text);
    } catch (InvalidInputException expected) {
      return; // refused by the work budget: typed, fine
    }
    check(fixed);
  }

  static void check(String fixed) {
    for (int i = 0; i < fixed.length(); i++) {
      char c = fixed.charAt(i);
      boolean removedControl =
          c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F
              || (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
      boolean lineBreak = c == '\r' || c == 0x2028 || c == 0x2029;
      boolean ligature = (c >= 0xFB00 && c <= 0xFB06) || c == 0x0132 || c == 0x0133
          || c == 0x0149 || (c >= 0x01C4 && c <= 0x01CC) || (c >= 0x01F1 && c <= 0x01F3);
      boolean curly = c == 0x02BC || (c >= 0x2018 && c <= 0x201F);
      boolean c1 = c >= 0x80 && c <= 0x9F && "\u0081\u008D\u008F\u0090\u009D".indexOf(c) < 0;
      boolean loneSurrogate =
          Character.isHighSurrogate(c)
              ? i + 1 >= fixed.length() || !Character.isLowSurrogate(fixed.charAt(i + 1))
              : Character.isLowSurrogate(c)
                  && (i == 0 || !Character.isHighSurrogate(fixed.charAt(i - 1)));
      if (removedControl || lineBreak || ligature || curly || c1 || loneSurrogate) {
        throw new AssertionError(
            "fix_text left U+" + Integer.toHexString(c) + " at " + i + " in "
                + FtfyReferenceTest.escape(fixed));
      }
    }
    if (!Normalizer.isNormalized(fixed, Normalizer.Form.NFC)) {
      throw new AssertionError("fix_text output is not NFC: " + FtfyReferenceTest.escape(fixed));
    }
  }
}
