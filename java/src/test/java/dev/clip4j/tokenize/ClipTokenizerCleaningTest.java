package dev.clip4j.tokenize;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * Text cleaning against documented behaviour: the examples in ftfy 6.1.1's docstrings (each also
 * re-checked by running ftfy 6.1.1's source from its v6.1.1 git tag under Python 3.11), Python's
 * html.unescape rules (HTML5 spec examples) and CPython's str.lower/str.strip/regex \s rules.
 * Needs no fixtures.
 */
class ClipTokenizerCleaningTest {

  @Test
  void ftfyDocstringExamples() {
    assertThat(TextCleaner.fixText("ＬＯＵＤ　ＮＯＩＳＥＳ")).isEqualTo("LOUD NOISES");
    assertThat(TextCleaner.fixText("Ｕﾀｰﾝ")).isEqualTo("Uターン");
    assertThat(TextCleaner.fixText("ﬂuﬃeﬆ")).isEqualTo("fluffiest");
    assertThat(TextCleaner.fixText("\u201chere\u2019s a test\u201d")).isEqualTo("\"here's a test\"");
    assertThat(TextCleaner.fixText("Broken text&hellip; it&#x2019;s ﬂubberiﬁc!"))
        .isEqualTo("Broken text\u2026 it's flubberific!");
    assertThat(TextCleaner.fixText("\u001b[36;44mI'm blue, da ba dee da ba doo...\u001b[0m"))
        .isEqualTo("I'm blue, da ba dee da ba doo...");
    assertThat(TextCleaner.fixText("This string is made of two things:\u20291. Unicode\u20282. Spite"))
        .isEqualTo("This string is made of two things:\n1. Unicode\n2. Spite");
    assertThat(TextCleaner.fixText("Content-type: text/plain\r\n\r\nHi."))
        .isEqualTo("Content-type: text/plain\n\nHi.");
    assertThat(TextCleaner.fixText("This is how Microsoft \r trolls Mac users"))
        .isEqualTo("This is how Microsoft \n trolls Mac users");
    // fix_surrogates: a lone surrogate becomes U+FFFD; a pair is one character.
    assertThat(TextCleaner.fixText("\udca9\ud83d")).isEqualTo("\ufffd\ufffd");
    assertThat(TextCleaner.fixText("\ud83d\udca9")).isEqualTo("\ud83d\udca9");
  }

  @Test
  void ftfyUnescapeHtmlDocstringExamples() {
    assertThat(HtmlEntities.ftfyUnescape("&lt;tag&gt;")).isEqualTo("<tag>");
    assertThat(HtmlEntities.ftfyUnescape("&Jscr;ohn &HilbertSpace;ancock"))
        .isEqualTo("\uD835\uDCA5ohn \u210Bancock");
    assertThat(HtmlEntities.ftfyUnescape("&checkmark;")).isEqualTo("\u2713");
    assertThat(HtmlEntities.ftfyUnescape("P&eacute;rez")).isEqualTo("Pérez");
    assertThat(HtmlEntities.ftfyUnescape("P&EACUTE;REZ")).isEqualTo("PÉREZ");
    assertThat(HtmlEntities.ftfyUnescape("BUNDESSTRA&SZLIG;E")).isEqualTo("BUNDESSTRASSE");
    assertThat(HtmlEntities.ftfyUnescape("&ntilde; &Ntilde; &NTILDE; &nTILDE;"))
        .isEqualTo("ñ Ñ Ñ &nTILDE;");
    // ftfy only decodes references that end in ';'.
    assertThat(HtmlEntities.ftfyUnescape("this&not that &amp")).isEqualTo("this&not that &amp");
  }

  @Test
  void fixTextStopsUnescapingFromTheFirstLineWithALessThanSign() {
    // "auto": a line containing '<' is taken for HTML, and the setting sticks for later lines.
    assertThat(TextCleaner.fixText("a &amp; b\n<p> &amp;\nc &amp; d"))
        .isEqualTo("a & b\n<p> &amp;\nc &amp; d");
  }

  @Test
  void pythonHtmlUnescapeRules() {
    assertThat(HtmlEntities.html5Size()).isEqualTo(2231);
    assertThat(HtmlEntities.unescape("&amp; &amp &AMP &lt;tag&gt;")).isEqualTo("& & & <tag>");
    // HTML5 spec example: the longest known prefix of an unknown name is decoded.
    assertThat(HtmlEntities.unescape("I'm &notit; I tell you")).isEqualTo("I'm ¬it; I tell you");
    assertThat(HtmlEntities.unescape("I'm &notin; I tell you")).isEqualTo("I'm ∉ I tell you");
    assertThat(HtmlEntities.unescape("&#65;&#x42;&#X43;&#68")).isEqualTo("ABCD");
    assertThat(HtmlEntities.unescape("&#128;&#x85;&#x81;")).isEqualTo("\u20ac\u2026\u0081");
    assertThat(HtmlEntities.unescape("&#0;|&#xD800;|&#x110000;|&#99999999999999999999;"))
        .isEqualTo("\ufffd|\ufffd|\ufffd|\ufffd");
    assertThat(HtmlEntities.unescape("a&#1;b&#x0B;c&#xFFFF;d&#13;")).isEqualTo("abcd\r");
    assertThat(HtmlEntities.unescape("&#; &#x; &; & &xyzzy;")).isEqualTo("&#; &#x; &; & &xyzzy;");
    assertThat(HtmlEntities.unescape("&amp;amp;")).isEqualTo("&amp;");
  }

  @Test
  void cleanCombinesOpenClipSteps() {
    // basic_clean: fix_text, html.unescape twice, strip; whitespace_clean; lower.
    assertThat(TextCleaner.clean("   lots   of\twhitespace \n here  ")).isEqualTo("lots of whitespace here");
    assertThat(TextCleaner.clean("&amp;amp;lt; A\u00a0B\u3000C")).isEqualTo("< a b c");
    assertThat(TextCleaner.clean("<b>&amp;amp;lt;</b>")).isEqualTo("<b>&lt;</b>");
    assertThat(TextCleaner.clean("\u201cCurly\u201d ﬁ ＦＵＬＬ")).isEqualTo("\"curly\" fi full");
    assertThat(TextCleaner.clean("Cafe\u0301")).isEqualTo("café"); // NFC
    assertThat(TextCleaner.clean("a\u0000b\u007fc\ufeffd")).isEqualTo("abcd");
  }

  @Test
  void lowerFollowsCpythonFinalSigma() {
    // CPython: cased letter before (case-ignorables skipped), no cased letter after.
    assertThat(TextCleaner.lower("ΟΔΟΣ")).isEqualTo("οδος");
    assertThat(TextCleaner.lower("ΟΔΟΣ.")).isEqualTo("οδος.");
    assertThat(TextCleaner.lower("Σ")).isEqualTo("σ");
    assertThat(TextCleaner.lower("ΑΣ0")).isEqualTo("ας0");
    assertThat(TextCleaner.lower("ΑΣ'Β")).isEqualTo("ασ'β");
    assertThat(TextCleaner.lower("İ")).isEqualTo("i\u0307");
  }

  @Test
  void whitespaceSets() {
    // regex's \s excludes U+001C..U+001F, str.strip() removes them.
    assertThat(TextCleaner.collapseWhitespace("a\u001cb")).isEqualTo("a\u001cb");
    assertThat(TextCleaner.strip("\u001c a \u001f")).isEqualTo("a");
    assertThat(TextCleaner.collapseWhitespace("a\u2028\u2029\u0085\u205f b")).isEqualTo("a b");
  }

  @Test
  void preTokenizerAlternatives() {
    assertThat(split("it's they're <start_of_text>x<end_of_text> 3.14 ab12 !!?"))
        .containsExactly("it", "'s", "they", "'re", "<start_of_text>", "x", "<end_of_text>",
            "3", ".", "1", "4", "ab", "1", "2", "!!?");
    // IGNORECASE: 'ſ' matches 's'; U+0345 matches no alternative and is dropped.
    assertThat(split("a'ſ b\u0345c")).containsExactly("a", "'ſ", "b", "c");
  }

  private static java.util.List<String> split(String s) {
    java.util.List<String> out = new java.util.ArrayList<>();
    PreTokenizer.split(s, (t, special) -> out.add(t));
    return out;
  }
}
