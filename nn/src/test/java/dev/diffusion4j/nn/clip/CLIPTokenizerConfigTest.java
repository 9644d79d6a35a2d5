package dev.diffusion4j.nn.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Configuration handling: SD2-style pad token, truncation flags, small in-memory vocabularies, bad input. */
class CLIPTokenizerConfigTest {

    /** A tokenizer folder whose vocab/merges are links to the fixture files and whose config is given. */
    static Path folderWithConfig(Path dir, String tokenizerConfig) throws IOException {
        Path src = Fixtures.tokenizerFolder();
        Files.createSymbolicLink(dir.resolve("vocab.json"), src.resolve("vocab.json"));
        Files.createSymbolicLink(dir.resolve("merges.txt"), src.resolve("merges.txt"));
        Files.writeString(dir.resolve("tokenizer_config.json"), tokenizerConfig);
        return dir;
    }

    @Test
    void sd2PadTokenIsZeroAndSplitsExclamationMarksLikeTransformers(@TempDir Path dir) throws IOException {
        CLIPTokenizer tok = CLIPTokenizer.load(folderWithConfig(dir, """
                {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "!",
                 "unk_token": "<|endoftext|>", "model_max_length": 77}"""));
        assertEquals(0, tok.padId());
        assertEquals(CLIPTokenizer.Padding.ZERO, tok.defaultPadding());
        // transformers registers every special token (pad "!" included) as no-split: each '!' becomes id 0
        // (diffusers issue #4153: "! !! !!!" -> 49406, 0 x6, 49407, 0 ...).
        int[] expected = new int[77];
        expected[0] = 49406;
        expected[7] = 49407;
        assertArrayEquals(expected, tok.inputIds("! !! !!!").inputIds());
        // With the SD1 folder, the same text is ordinary BPE.
        CLIPTokenizer sd1 = CLIPTokenizer.load(Fixtures.tokenizerFolder());
        assertEquals(List.of("!</w>", "!!</w>", "!!!</w>"), sd1.tokens("! !! !!!"));
    }

    @Test
    void modelMaxLengthAndTruncation(@TempDir Path dir) throws IOException {
        CLIPTokenizer tok = CLIPTokenizer.load(folderWithConfig(dir, "{\"model_max_length\": 8}"));
        assertEquals(8, tok.maxLength());
        CLIPTokenizer.Encoded e = tok.inputIds("one two three four five six seven", CLIPTokenizer.Padding.EOS);
        assertEquals(7, e.tokenCount());
        assertTrue(e.truncated());
        assertEquals(8, e.inputIds().length);
        assertArrayEquals(Arrays.copyOf(tok.encode("one two three four five six"), 6), Arrays.copyOfRange(e.inputIds(), 1, 7));
        assertEquals(tok.eosId(), e.inputIds()[7]);
        assertEquals(7, e.eosIndex(tok.eosId()));
        CLIPTokenizer.Encoded fits = tok.inputIds("one two three four five six", CLIPTokenizer.Padding.EOS);
        assertEquals(false, fits.truncated());
    }

    @Test
    void inMemoryVocabulary() {
        Map<String, Integer> vocab = Map.of("c", 0, "a", 1, "t</w>", 2, "at</w>", 3, "cat</w>", 4,
                "<|startoftext|>", 5, "<|endoftext|>", 6);
        CLIPTokenizer tok = CLIPTokenizer.of(vocab, List.of("a t</w>", "c at</w>"), 6);
        assertEquals(List.of("cat</w>", "at</w>", "c</w>", "a</w>", "t</w>"), tok.tokens("cat at c a t"));
        assertEquals(List.of("c", "t", "a</w>"), tok.tokens("cta"));
        // "cta": no merge applies to c|t|a</w>; unknown symbols map to unk (= EOS here).
        assertArrayEquals(new int[] {0, 6, 6}, tok.encode("cta"));
        assertArrayEquals(new int[] {5, 4, 6, 6, 6, 6}, tok.inputIds("CAT", CLIPTokenizer.Padding.EOS).inputIds());
        assertArrayEquals(new int[] {5, 4, 6, 0, 0, 0}, tok.inputIds("CAT", CLIPTokenizer.Padding.ZERO).inputIds());
    }

    @Test
    void decodeGivesTheCleanedText() throws IOException {
        CLIPTokenizer tok = CLIPTokenizer.load(Fixtures.tokenizerFolder());
        for (String p : List.of("A Photograph of an Astronaut, riding a horse!", "caf\u00E9 \uD83D\uDE80 \u6771\u4EAC",
                "\u201Cquoted\u201D \uFB01ne", "")) {
            String cleaned = CLIPTokenizer.clean(p);
            // BPE output re-joined: spaces only where a word ended, so compare without spaces.
            assertEquals(cleaned.replace(" ", ""), tok.decode(tok.inputIds(p).inputIds()).replace(" ", ""), p);
        }
        assertEquals("a photograph", tok.decode(tok.encode("a photograph")));
        // What truncation dropped can be shown to the user.
        int[] ids = tok.encode("cat ".repeat(75) + "purple dragon");
        assertEquals("purple dragon", tok.decode(Arrays.copyOfRange(ids, 75, ids.length)));
    }

    @Test
    void rejectsBadArguments(@TempDir Path dir) throws IOException {
        CLIPTokenizer tok = CLIPTokenizer.load(Fixtures.tokenizerFolder());
        assertThrows(IllegalArgumentException.class, () -> tok.tokens(null));
        assertThrows(IllegalArgumentException.class, () -> tok.inputIds("a", null));
        assertThrows(IllegalArgumentException.class, () -> tok.wrap(new int[80], 0, 80, CLIPTokenizer.Padding.EOS));
        assertThrows(IllegalArgumentException.class, () -> tok.wrap(new int[3], 2, 1, CLIPTokenizer.Padding.EOS));
        assertThrows(IOException.class, () -> CLIPTokenizer.load(dir));
        assertThrows(IllegalArgumentException.class,
                () -> CLIPTokenizer.of(Map.of("a", 0), List.of(), 77));   // no special tokens in the vocab
    }
}
