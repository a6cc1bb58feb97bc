package dev.clip4j.tokenize;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The parts of the ftfy port one at a time, on inputs whose results were computed with Python
 * 3.11 and ftfy 6.1.1's source (v6.1.1 tag): its UTF-8 decoders, byte transcoders, code pages,
 * fix_encoding and docstring examples.
 */
class FtfyPiecesTest {

  private static byte[] b(int... v) {
    byte[] out = new byte[v.length];
    for (int i = 0; i < v.length; i++) {
      out[i] = (byte) v[i];
    }
    return out;
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  private static byte[] concat(byte[] a, byte[] c) {
    byte[] out = new byte[a.length + c.length];
    System.arraycopy(a, 0, out, 0, a.length);
    System.arraycopy(c, 0, out, a.length, c.length);
    return out;
  }

  @Test
  void utf8VariantsDecodesCesu8AndJavaNull() {
    assertThat(FtfyBytes.decodeUtf8Variants(b(0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x8D)))
        .isEqualTo("\uD83D\uDE0D"); // 😍
    assertThat(FtfyBytes.decodeUtf8Variants(concat(ascii("here comes a null! "), b(0xC0, 0x80))))
        .isEqualTo("here comes a null! \u0000");
    assertThat(FtfyBytes.decodeUtf8Variants(b(0xF0, 0x9F, 0x98, 0x8D))).isEqualTo("\uD83D\uDE0D");
    assertThat(FtfyBytes.decodeUtf8Variants(b(0xED, 0x9F, 0xBF))).isEqualTo("\uD7FF");
    // Python's strict UTF-8 decoder refuses both variant forms.
    assertThat(FtfyBytes.decodeUtf8(b(0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x8D))).isNull();
    assertThat(FtfyBytes.decodeUtf8(b(0xC0, 0x80))).isNull();
  }

  @Test
  void utf8VariantsKeepsFtfysEndOfInputQuirks() {
    // ftfy's patterns use '$', which Python also matches before a final '\n'.
    assertThat(FtfyBytes.decodeUtf8Variants(b(0xC0, '\n'))).isEqualTo("\u0000");
    assertThat(FtfyBytes.decodeUtf8Variants(b('a', 0xC0, '\n'))).isEqualTo("a\u0000");
    assertThat(FtfyBytes.decodeUtf8Variants(b(0xC0, '\n', 'x'))).isNull();
    assertThat(FtfyBytes.decodeUtf8Variants(b(0xED, 0xA0, 0x80, 0xED, 0xB0, '\n')))
        .isEqualTo(new String(Character.toChars(0x1000A)));
    assertThat(FtfyBytes.decodeUtf8Variants(b(0xED, 0xA0, 0x80, 0xED, 0xB0, '\n', 'x'))).isNull();
  }

  @Test
  void utf8DecodersRejectWhatPythonRejects() {
    int[][] invalid = {
      {0xC0}, {0xC0, 0x81}, {0xED, 0xA0, 0x80, 0xED, 0xB0}, {0xED, 0xA0, 0x80}, {0xED, 0xA0, 0x80, 'x'},
      {0xED, 0xBF, 0xBF, 0xED, 0xBF, 0xBF}, {0xE0, 0x80, 0x80}, {0xF4, 0x90, 0x80, 0x80}, {0xC3},
      {0x80}, {0xFF}, {0xC1, 0xBF}, {0xF5, 0x80, 0x80, 0x80}, {0xF0, 0x8F, 0xBF, 0xBF}, {0xE2, 0x82}
    };
    for (int[] bytes : invalid) {
      assertThat(FtfyBytes.decodeUtf8Variants(b(bytes))).as(java.util.Arrays.toString(bytes)).isNull();
      assertThat(FtfyBytes.decodeUtf8(b(bytes))).as(java.util.Arrays.toString(bytes)).isNull();
    }
    assertThat(FtfyBytes.decodeUtf8(b(0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF4, 0x8F, 0xBF, 0xBF)))
        .isEqualTo("é€\uDBFF\uDFFF");
  }

  @Test
  void restoreByteA0() {
    byte[] in =
        concat(
            ascii("\u00C3 la \u00C3 s \u00C3 quelque \u00C3  x "),
            b(0xE2, ' ', 0x80, ' ', 0xF0, 0x9F, ' ', 0x8D));
    byte[] want =
        concat(
            ascii("\u00C3\u00A0 la \u00C3\u00A0s \u00C3\u00A0 quelque \u00C3\u00A0 x "),
            b(0xE2, 0xA0, 0x80, ' ', 0xF0, 0x9F, 0xA0, 0x8D));
    assertThat(FtfyBytes.restoreByteA0(in)).isEqualTo(want);
    assertThat(FtfyBytes.ALTERED_UTF8.search(ascii("plain text, \u00E9 alone"))).isFalse();
  }

  @Test
  void replaceLossySequences() {
    byte[] in =
        b(0xE2, 0x80, 0x1A, ' ', 0xC3, '?', ' ', 0xED, 0xA0, 0x1A, 0xED, 0xB0, 0x80, ' ', 0x1A, ' ',
            0xF0, 0x9F, '?', 0x8D, ' ', 0xC2, 0x1A);
    byte[] fffd = {(byte) 0xEF, (byte) 0xBF, (byte) 0xBD};
    byte[] want = new byte[0];
    for (int i = 0; i < 6; i++) {
      want = concat(want, fffd);
      if (i < 5) {
        want = concat(want, ascii(" "));
      }
    }
    assertThat(FtfyBytes.replaceLossySequences(in)).isEqualTo(want);
  }

  @Test
  void codePagesFollowPythonsCodecs() {
    FtfyCharmaps sloppy1252 = FtfyCharmaps.CHARMAP_ENCODINGS.get(1);
    assertThat(sloppy1252.name).isEqualTo("sloppy-windows-1252");
    assertThat(sloppy1252.decode(0x81)).isEqualTo(0x81); // undefined in cp1252: Latin-1 fallback
    assertThat(sloppy1252.decode(0x80)).isEqualTo(0x20AC);
    assertThat(sloppy1252.decode(0x1A)).isEqualTo(0xFFFD);
    assertThat(sloppy1252.encode("\uFFFD")).containsExactly(0x1A);
    assertThat(sloppy1252.encode("\u001A")).isNull();
    assertThat(FtfyCharmaps.WINDOWS_1252.decode(0x81)).isEqualTo(-1);
    FtfyCharmaps sloppy1251 = FtfyCharmaps.CHARMAP_ENCODINGS.get(2);
    assertThat(sloppy1251.name).isEqualTo("sloppy-windows-1251");
    assertThat(sloppy1251.decode(0x98)).isEqualTo(0x98);
    assertThat(FtfyCharmaps.CHARMAP_ENCODINGS)
        .extracting(p -> p.name)
        .containsExactly(
            "latin-1", "sloppy-windows-1252", "sloppy-windows-1251", "sloppy-windows-1250",
            "sloppy-windows-1253", "sloppy-windows-1254", "iso-8859-2", "macroman", "cp437");
    // Every code page matches TextCleaner's Windows-1252 table on C1 where it is sloppy-1252.
    for (int c = 0x80; c <= 0x9F; c++) {
      assertThat(sloppy1252.decode(c)).isEqualTo((int) TextCleaner.windows1252(c));
    }
  }

  @Test
  void fixEncodingExamples() {
    assertThat(FtfyEncoding.fixEncoding("s\u00C3\u00B3")).isEqualTo("s\u00F3");
    assertThat(FtfyEncoding.fixEncoding("voil\u00C3 le travail")).isEqualTo("voil\u00E0 le travail");
    assertThat(FtfyEncoding.fixEncoding("l'\u00C3\u00A9t\u00C3\u00A9 \u0081")).isEqualTo("l'\u00E9t\u00E9 \u0081");
    assertThat(FtfyEncoding.fixEncoding("&ATILDE;&SUP3;")).isEqualTo("&ATILDE;&SUP3;");
    // CESU-8 read as Latin-1 and as sloppy Windows-1252 (0xA0 there is a no-break space).
    assertThat(FtfyEncoding.fixEncoding("\u00ED\u00A0\u00BD\u00ED\u00B8\u008D")).isEqualTo("\uD83D\uDE0D");
    assertThat(FtfyEncoding.fixEncoding("\u00ED \u00BD\u00ED\u00B8\u008D")).isEqualTo("\u00ED \u00BD\u00ED\u00B8\u008D");
  }

  @Test
  void fixTextExamples() {
    assertThat(TextCleaner.fixText("\u00E2\u0153\u201D No problems")).isEqualTo("\u2714 No problems");
    assertThat(TextCleaner.fixText("&macr;\\_(\u00E3\u0083\u0084)_/&macr;")).isEqualTo("\u00AF\\_(\u30C4)_/\u00AF");
    assertThat(TextCleaner.fixText("\u00E2\u20AC\u0153 like this \u00E2\u20AC\uFFFD")).isEqualTo("\" like this \uFFFD");
    assertThat(TextCleaner.fixText("\u0093quoted\u0094 \u0081")).isEqualTo("\"quoted\" \u0081");
    assertThat(TextCleaner.fixText("Cafe\u0301 na\u00C3\u00AFve \u00D0\u0178\u00D1\u20AC\u00D0\u00B8\u00D0\u00B2\u00D0\u00B5\u00D1\u201A"))
        .isEqualTo("Caf\u00E9 na\u00EFve \u041F\u0440\u0438\u0432\u0435\u0442");
    assertThat(TextCleaner.fixText("The Mona Lisa doesn\u00C3\u0192\u00C2\u00A2\u00C3\u00A2\u00E2\u20AC\u0161\u00C2\u00AC\u00C3\u00A2\u00E2\u20AC\u017E\u00C2\u00A2t have eyebrows."))
        .isEqualTo("The Mona Lisa doesn't have eyebrows.");
    assertThat(TextCleaner.fixText("\u00C3\u00A2\u00E2\u201A\u00AC\u00C5\u201Cmixed\u00E2\u20AC\u009D and \u00C3\u00A9"))
        .isEqualTo("\"mixed\" and \u00E9");
    // The newline after 0xC0 is eaten by ftfy's utf-8-variants decoder, joining the lines.
    assertThat(TextCleaner.fixText("\u00C3\u00A9\u00C0\nnext")).isEqualTo("\u00E9next");
    assertThat(TextCleaner.fixText("\u00C3\u00A9\u00C0")).isEqualTo("\u00E9\u00C0");
  }
}
