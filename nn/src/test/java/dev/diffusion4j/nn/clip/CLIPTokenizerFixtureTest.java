package dev.diffusion4j.nn.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.jr.ob.JSON;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every prompt of {@code tokenizer/tokens.json} must tokenize exactly as HF transformers' CLIPTokenizer does. */
class CLIPTokenizerFixtureTest {
    static CLIPTokenizer tokenizer;
    static List<Map<String, Object>> cases;

    @BeforeAll
    @SuppressWarnings("unchecked")
    static void load() throws Exception {
        tokenizer = CLIPTokenizer.load(Fixtures.tokenizerFolder());
        List<Object> raw = JSON.std.listFrom(Files.readString(Fixtures.root().resolve("tokenizer/tokens.json")));
        cases = new ArrayList<>();
        for (Object o : raw) {
            cases.add((Map<String, Object>) o);
        }
    }

    static int[] ints(Object list) {
        return ((List<?>) list).stream().mapToInt(o -> ((Number) o).intValue()).toArray();
    }

    @SuppressWarnings("unchecked")
    static List<String> strings(Object list) {
        return (List<String>) list;
    }

    @Test
    void configMatchesSd1() {
        assertEquals(49408, tokenizer.vocabSize());
        assertEquals(49406, tokenizer.bosId());
        assertEquals(49407, tokenizer.eosId());
        assertEquals(49407, tokenizer.padId());
        assertEquals(77, tokenizer.maxLength());
        assertEquals(CLIPTokenizer.Padding.EOS, tokenizer.defaultPadding());
        assertEquals("<|endoftext|>", tokenizer.token(49407));
    }

    @Test
    void everyFixturePromptMatchesExactly() {
        assertEquals(40, cases.size());
        List<String> failures = new ArrayList<>();
        for (Map<String, Object> c : cases) {
            String prompt = (String) c.get("prompt");
            String label = "prompt [" + prompt.substring(0, Math.min(60, prompt.length())) + "]";
            try {
                if (!CLIPTokenizer.clean(prompt).equals(c.get("cleaned_text"))) {
                    failures.add(label + ": cleaned '" + CLIPTokenizer.clean(prompt) + "' != '" + c.get("cleaned_text") + "'");
                }
            } catch (Exception e) {
                failures.add(label + ": " + e);
            }
            List<String> toks = tokenizer.tokens(prompt);
            if (!toks.equals(strings(c.get("bpe_tokens")))) {
                failures.add(label + ": tokens " + toks + " != " + c.get("bpe_tokens"));
            }
            int[] ids = tokenizer.encode(prompt);
            if (!Arrays.equals(ids, ints(c.get("ids")))) {
                failures.add(label + ": ids " + Arrays.toString(ids) + " != " + c.get("ids"));
            }
            CLIPTokenizer.Encoded sd1 = tokenizer.inputIds(prompt, CLIPTokenizer.Padding.EOS);
            if (!Arrays.equals(sd1.inputIds(), ints(c.get("input_ids_sd1")))) {
                failures.add(label + ": input_ids_sd1 " + Arrays.toString(sd1.inputIds()));
            }
            CLIPTokenizer.Encoded pad0 = tokenizer.inputIds(prompt, CLIPTokenizer.Padding.ZERO);
            if (!Arrays.equals(pad0.inputIds(), ints(c.get("input_ids_pad0")))) {
                failures.add(label + ": input_ids_pad0 " + Arrays.toString(pad0.inputIds()));
            }
            if (sd1.truncated() != (Boolean) c.get("truncated")
                    || sd1.tokenCount() != ((Number) c.get("num_tokens")).intValue()) {
                failures.add(label + ": truncated/num_tokens " + sd1.truncated() + "/" + sd1.tokenCount());
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " mismatches:\n" + String.join("\n", failures));
    }

    @Test
    void longPromptChunksKeepEveryToken() {
        for (Map<String, Object> c : cases) {
            String prompt = (String) c.get("prompt");
            int[] ids = ints(c.get("ids"));
            List<int[]> chunks = tokenizer.chunks(prompt, CLIPTokenizer.Padding.EOS);
            int expectedChunks = Math.max(1, (ids.length + 74) / 75);
            assertEquals(expectedChunks, chunks.size(), prompt);
            for (int k = 0; k < chunks.size(); k++) {
                int from = k * 75;
                int to = Math.min(ids.length, from + 75);
                assertArrayEquals(tokenizer.wrap(ids, from, to, CLIPTokenizer.Padding.EOS), chunks.get(k), prompt + " chunk " + k);
            }
            // The first chunk of a prompt is the truncated diffusers input.
            assertArrayEquals(ints(c.get("input_ids_sd1")), chunks.getFirst(), prompt);
        }
    }

    @Test
    void concurrentUseGivesIdenticalResults() throws Exception {
        CLIPTokenizer fresh = CLIPTokenizer.load(Fixtures.tokenizerFolder());
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                final int offset = t;
                results.add(pool.submit(() -> {
                    for (int r = 0; r < 5; r++) {
                        for (int i = 0; i < cases.size(); i++) {
                            Map<String, Object> c = cases.get((i + offset) % cases.size());
                            if (!Arrays.equals(fresh.encode((String) c.get("prompt")), ints(c.get("ids")))) {
                                return false;
                            }
                        }
                    }
                    return true;
                }));
            }
            for (Future<Boolean> f : results) {
                assertTrue(f.get());
            }
        } finally {
            pool.shutdown();
        }
    }
}
