package dev.diffusion4j.nn.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.clip.PromptWeighting.Segment;
import dev.diffusion4j.nn.clip.PromptWeighting.WeightedChunk;
import dev.diffusion4j.tensor.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class PromptWeightingTest {
    static CLIPTokenizer tokenizer;

    @BeforeAll
    static void load() throws Exception {
        tokenizer = CLIPTokenizer.load(Fixtures.tokenizerFolder());
    }

    static void assertSegments(String prompt, Object... textWeight) {
        List<Segment> segs = PromptWeighting.parse(prompt);
        assertEquals(textWeight.length / 2, segs.size(), prompt + " -> " + segs);
        for (int i = 0; i < segs.size(); i++) {
            Object text = textWeight[2 * i];
            if (text == null) {
                assertTrue(segs.get(i).isBreak(), prompt + " segment " + i);
                continue;
            }
            assertEquals(text, segs.get(i).text(), prompt + " segment " + i);
            assertEquals((float) (double) (Double) textWeight[2 * i + 1], segs.get(i).weight(), 0f, prompt + " segment " + i);
        }
    }

    @Test
    void parsesA1111Syntax() {
        assertSegments("normal text", "normal text", 1.0);
        assertSegments("an (important) word", "an ", 1.0, "important", 1.1, " word", 1.0);
        assertSegments("(unbalanced", "unbalanced", 1.1);
        assertSegments("\\(literal\\]", "(literal]", 1.0);
        assertSegments("(unnecessary)(parens)", "unnecessaryparens", 1.1);
        assertSegments("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
                "a ", 1.0, "house", 1.3 * 1.1 * 1.1, " ", 1.1, "on", 1.0, " a ", 1.1, "hill", 0.55,
                ", sun, ", 1.1, "sky", 1.1 * 1.1 * 1.1 * 1.1, ".", 1.1);
        assertSegments("[low quality]", "low quality", 1 / 1.1);
        assertSegments("[[a]]", "a", 1 / 1.1 / 1.1);
        assertSegments("(word: -0.5 )", "word", -0.5);
        assertSegments("a: b) c]", "a: b) c]", 1.0);   // stray ':' ')' ']' are text
        assertSegments("", "", 1.0);
    }

    @Test
    void parsesBreak() {
        assertSegments("a cat BREAK a dog", "a cat", 1.0, null, 0.0, "a dog", 1.0);
        assertSegments("(a cat BREAK a dog)", "a cat", 1.1, null, 0.0, "a dog", 1.1);
        assertSegments("BREAKFAST", "BREAKFAST", 1.0);
    }

    @Test
    void tokenWeightsAlignWithIds() {
        List<WeightedChunk> chunks = PromptWeighting.encode(tokenizer, "an (important:1.5) word, [ugly]",
                CLIPTokenizer.Padding.EOS, false);
        assertEquals(1, chunks.size());
        WeightedChunk c = chunks.getFirst();
        int[] ids = tokenizer.encode("an important word, ugly");
        assertArrayEquals(tokenizer.wrap(ids, 0, ids.length, CLIPTokenizer.Padding.EOS), c.ids());
        float[] expected = new float[77];
        Arrays.fill(expected, 1f);
        expected[2] = 1.5f;                  // BOS, an, important, word, ",", ugly
        expected[5] = (float) (1 / 1.1);
        assertArrayEquals(expected, c.weights(), 0f);
    }

    @Test
    void chunksHonourBreakAndLength() {
        String longText = "cat ".repeat(80).strip();
        List<WeightedChunk> chunks = PromptWeighting.encode(tokenizer, "(" + longText + ") BREAK dog",
                CLIPTokenizer.Padding.ZERO, true);
        assertEquals(3, chunks.size());
        int cat = tokenizer.tokenId("cat</w>");
        int dog = tokenizer.tokenId("dog</w>");
        assertEquals(cat, chunks.get(0).ids()[75]);
        assertEquals(tokenizer.eosId(), chunks.get(0).ids()[76]);
        assertEquals(1.1f, chunks.get(0).weights()[75], 0f);
        assertEquals(1f, chunks.get(0).weights()[76], 0f);
        assertEquals(cat, chunks.get(1).ids()[5]);
        assertEquals(tokenizer.eosId(), chunks.get(1).ids()[6]);
        assertEquals(0, chunks.get(1).ids()[7]);
        assertArrayEquals(tokenizer.wrap(new int[] {dog}, 0, 1, CLIPTokenizer.Padding.ZERO), chunks.get(2).ids());
        // Truncating mode drops tokens beyond 75 and ignores BREAK.
        List<WeightedChunk> one = PromptWeighting.encode(tokenizer, "(" + longText + ") BREAK dog",
                CLIPTokenizer.Padding.ZERO, false);
        assertEquals(1, one.size());
        assertArrayEquals(chunks.getFirst().ids(), one.getFirst().ids());
        // Plain chunking on the tokenizer.
        List<int[]> plain = tokenizer.chunks("a cat BREAK a dog", CLIPTokenizer.Padding.EOS);
        assertEquals(2, plain.size());
        assertArrayEquals(tokenizer.inputIds("a cat", CLIPTokenizer.Padding.EOS).inputIds(), plain.get(0));
        assertArrayEquals(tokenizer.inputIds("a dog", CLIPTokenizer.Padding.EOS).inputIds(), plain.get(1));
        assertEquals(1, tokenizer.chunks("", CLIPTokenizer.Padding.EOS).size());
    }

    @Test
    void commaBacktrackMovesTailToNextChunk() {
        String prompt = "cat ".repeat(70) + ", " + "dog ".repeat(10);
        List<WeightedChunk> plain = PromptWeighting.chunk(tokenizer, PromptWeighting.splitBreaks(prompt),
                CLIPTokenizer.Padding.EOS, 0);
        assertEquals(tokenizer.tokenId("dog</w>"), plain.get(0).ids()[75]);
        List<WeightedChunk> back = PromptWeighting.chunk(tokenizer, PromptWeighting.splitBreaks(prompt),
                CLIPTokenizer.Padding.EOS, 20);
        assertEquals(2, back.size());
        assertEquals(tokenizer.tokenId(",</w>"), back.get(0).ids()[71]);
        assertEquals(tokenizer.eosId(), back.get(0).ids()[72]);
        int dogs = 0;
        for (int id : back.get(1).ids()) {
            if (id == tokenizer.tokenId("dog</w>")) {
                dogs++;
            }
        }
        assertEquals(10, dogs);
        assertThrows(IllegalArgumentException.class, () -> PromptWeighting.chunk(tokenizer, List.of(), CLIPTokenizer.Padding.EOS, -1));
    }

    @Test
    void applyWeightsScalesTokensAndKeepsMean() {
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        int tokens = 7;
        int dim = 5;
        float[] z = new float[tokens * dim];
        for (int i = 0; i < z.length; i++) {
            z[i] = (float) (rnd.nextGaussian() + 0.5);
        }
        float[] w = {1f, 1.5f, 0.5f, 1f, 1.21f, 1f, 1f};
        Tensor out = PromptWeighting.applyWeights(Tensor.of(z, 1, tokens, dim), w);
        float[] o = out.toFloatArray();
        double m0 = 0;
        double m1 = 0;
        for (int i = 0; i < z.length; i++) {
            m0 += z[i];
            m1 += o[i];
        }
        assertEquals(m0 / z.length, m1 / z.length, 1e-5, "mean, seed " + seed);
        double s = o[0] / z[0];
        for (int t = 0; t < tokens; t++) {
            for (int c = 0; c < dim; c++) {
                int i = t * dim + c;
                assertEquals(z[i] * w[t] * s, o[i], 1e-5 * Math.max(1, Math.abs(o[i])), "token " + t + ", seed " + seed);
            }
        }
        assertFalse(Arrays.equals(z, o));
        assertThrows(IllegalArgumentException.class, () -> PromptWeighting.applyWeights(Tensor.of(z, tokens, dim), new float[3]));
        assertThrows(IllegalArgumentException.class, () -> PromptWeighting.applyWeights(Tensor.of(z, 35), w));
    }
}
