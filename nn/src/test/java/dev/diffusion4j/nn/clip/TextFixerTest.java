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

    /** Expected values are ftfy 6.3.1's {@code fix_text} output. */
    @Test
    void repairsMojibake() {
        assertEquals("caf\u00E9 na\u00EFve", TextFixer.fixText("caf\u00C3\u00A9 na\u00C3\u00AFve"));
        // UTF-8 curly quotes read as windows-1252 (the closing one contains the undefined byte 0x9D) → straight.
        assertEquals("\"hello\"", TextFixer.fixText("\u00E2\u20AC\u0153hello\u00E2\u20AC\u009D"));
        // Two layers.
        assertEquals("caf\u00E9", TextFixer.fixText("caf\u00C3\u0192\u00C2\u00A9"));
        // Inside otherwise correct text (which has characters Windows-1252 cannot encode).
        assertEquals("caf\u00E9 in Paris, caf\u00E9 au lait \uD83D\uDE80",
                TextFixer.fixText("caf\u00E9 in Paris, caf\u00C3\u00A9 au lait \uD83D\uDE80"));
        assertEquals("it's \u6771\u4EAC", TextFixer.fixText("it\u00E2\u20AC\u2122s \u6771\u4EAC"));
        assertEquals("\u041F\u0440\u0438\u0432\u0435\u0442",
                TextFixer.fixText("\u00D0\u0178\u00D1\u20AC\u00D0\u00B8\u00D0\u00B2\u00D0\u00B5\u00D1\u201A"));
        assertEquals("100\u00B0C", TextFixer.fixText("100\u00C2\u00B0C"));
        // restore_byte_a0: a no-break space byte that became a plain space.
        assertEquals("voil\u00E0 le travail", TextFixer.fixText("voil\u00C3 le travail"));
        assertEquals("foo\u00A0bar", TextFixer.fixText("foo\u00C2 bar"));
        // Correct text is left alone, including pairs that merely look like UTF-8 bytes.
        for (String ok : new String[] {"caf\u00E9 na\u00EFve \u00C5ngstr\u00F6m", "\u00A9 2024 \u00AE", "hei\u00DF\"",
                "\u00C9\u20AC", "IRM\u00C3 E", "A\u00D1O\u2026", "\u00C5\u2013"}) {
            assertEquals(ok, TextFixer.fixText(ok.replace("\"", "\u201C")).replace("\u201C", "\""), ok);
        }
    }

    @Test
    void replacesC1ControlsAndRemovesOtherControls() {
        assertEquals("\u20AC5 \u2122", TextFixer.fixText("\u00805 \u0099"));
        assertEquals("ab\tc\nd", TextFixer.fixText("a\u0000b\tc\r\nd\u007F\uFEFF\u000B"));
        assertEquals("red text", TextFixer.fixText("\u001B[31mred\u001B[0m text"));
        // Tag characters stay (ftfy 6): the Scotland flag is U+1F3F4 + tags "gbsct" + cancel tag.
        String scotland = "\uD83C\uDFF4\uDB40\uDC67\uDB40\uDC62\uDB40\uDC73\uDB40\uDC63\uDB40\uDC74\uDB40\uDC7F";
        assertEquals(scotland, TextFixer.fixText(scotland));
        assertEquals("ab", TextFixer.fixText("a\u206Ab\uFFF9"));
    }

    @Test
    void normalisesToNfcAndFixesLoneSurrogates() {
        assertEquals("caf\u00E9", TextFixer.fixText("cafe\u0301"));
        assertEquals("a\uFFFDb", TextFixer.fixText("a\uD800b"));
        assertEquals("\uD83D\uDE80", TextFixer.fixText("\uD83D\uDE80"));
    }

    @Test
    void lowerCasesLikePython() {
        // Python's Final_Sigma rule (Java's toLowerCase uses word boundaries and gives σ for the first two).
        assertEquals("\u03BF\u03B4\u03BF\u03C22", TextFixer.pythonLower("\u039F\u0394\u039F\u03A32"));
        assertEquals("\u03BF\u03B4\u03BF\u03C2\"x", TextFixer.pythonLower("\u039F\u0394\u039F\u03A3\"X"));
        assertEquals("\u03C3\u03B1\u03C2 \u03C3", TextFixer.pythonLower("\u03A3\u0391\u03A3 \u03A3"));
        assertEquals("\u03BF\u03C3\u03BF", TextFixer.pythonLower("\u039F\u03A3\u039F"));
        assertEquals("\u03BF\u03C3'\u03BF", TextFixer.pythonLower("\u039F\u03A3'\u039F"));   // ' is case-ignorable
        assertEquals("i\u0307stanbul stra\u00DFe", TextFixer.pythonLower("\u0130STANBUL STRA\u00DFE"));
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
