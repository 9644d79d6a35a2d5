package dev.diffusion4j.nn.clip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** ftfy rules that matter for prompts (expected values follow ftfy 6.x defaults). */
class TextFixerTest {
    @Test
    void uncurlsQuotes() {
        assertEquals("\"a\" 'b' it's", TextFixer.fixText("\u201Ca\u201D \u2018b\u2019 it\u02BCs"));
        assertEquals("'\"", TextFixer.fixText("\u201B\u201F"));
    }

    @Test
    void splitsLatinLigatures() {
        assertEquals("fine flow office waffle ij", TextFixer.fixText("\uFB01ne \uFB02ow o\uFB03ce wa\uFB04e \u0133"));
    }

    @Test
    void narrowsFullWidthForms() {
        assertEquals("FULL 123!", TextFixer.fixText("\uFF26\uFF35\uFF2C\uFF2C\u3000\uFF11\uFF12\uFF13\uFF01"));
        // Half-width katakana widen (NFKC of the U+FF61..U+FFEF block).
        assertEquals("\u30AB", TextFixer.fixText("\uFF76"));
    }

    @Test
    void unescapesHtmlEntitiesOnlyWithoutLessThan() {
        assertEquals("Tom & Jerry \u00E9 \u00E9 \u00C9 \u00E9 \u00A0", TextFixer.fixText("Tom &amp; Jerry &eacute; &#233; &EACUTE; &#xe9; &nbsp;"));
        assertEquals("x < y &amp; z", TextFixer.fixText("x < y &amp; z"));
        // Unknown entities and malformed numbers stay as they are.
        assertEquals("&bogus; &#xZZ;", TextFixer.fixText("&bogus; &#xZZ;"));
        // Numeric references follow HTML5: C1 range = windows-1252, 0 = U+FFFD.
        assertEquals("\u20AC\uFFFD", TextFixer.fixText("&#128;&#0;"));
        // Once a line contains '<', later lines are not unescaped either (ftfy's fix_text behaviour).
        assertEquals("a & b\n<i> &amp;\nc &amp; d", TextFixer.fixText("a &amp; b\n<i> &amp;\nc &amp; d"));
    }

    @Test
    void repairsWholeSegmentMojibake() {
        assertEquals("caf\u00E9 na\u00EFve", TextFixer.fixText("caf\u00C3\u00A9 na\u00C3\u00AFve"));
        // UTF-8 curly quotes read as windows-1252 (the closing one contains the undefined byte 0x9D) → straight.
        assertEquals("\"hello\"", TextFixer.fixText("\u00E2\u20AC\u0153hello\u00E2\u20AC\u009D"));
        // Two layers.
        assertEquals("caf\u00E9", TextFixer.fixText("caf\u00C3\u0192\u00C2\u00A9"));
        // Correct text is left alone.
        assertEquals("caf\u00E9 na\u00EFve \u00C5ngstr\u00F6m", TextFixer.fixText("caf\u00E9 na\u00EFve \u00C5ngstr\u00F6m"));
        assertEquals("\u00A9 2024 \u00AE", TextFixer.fixText("\u00A9 2024 \u00AE"));
    }

    @Test
    void replacesC1ControlsAndRemovesOtherControls() {
        assertEquals("\u20AC5 \u2122", TextFixer.fixText("\u00805 \u0099"));
        assertEquals("ab\tc\nd", TextFixer.fixText("a\u0000b\tc\r\nd\u007F\uFEFF\u000B"));
        assertEquals("red text", TextFixer.fixText("\u001B[31mred\u001B[0m text"));
        assertEquals("tag", TextFixer.fixText("t\uDB40\uDC41ag"));   // U+E0041 TAG LATIN CAPITAL LETTER A
    }

    @Test
    void normalisesToNfcAndFixesLoneSurrogates() {
        assertEquals("caf\u00E9", TextFixer.fixText("cafe\u0301"));
        assertEquals("a\uFFFDb", TextFixer.fixText("a\uD800b"));
        assertEquals("\uD83D\uDE80", TextFixer.fixText("\uD83D\uDE80"));
    }

    @Test
    void whitespaceCleanUsesPythonWhitespace() {
        assertEquals("a b c d e", TextFixer.whitespaceClean(" \t a\u00A0\u00A0b\u2003c\u001Fd\u3000 e \n"));
        assertEquals("a\u200Bb", TextFixer.whitespaceClean("a\u200Bb"));   // zero-width space is not whitespace
        assertEquals("", TextFixer.whitespaceClean("   "));
    }

    @Test
    void rejectsNull() {
        assertThrows(IllegalArgumentException.class, () -> TextFixer.fixText(null));
    }
}
