package dev.diffusion4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class TokenizeCommandTest {
    private static Path model() {
        return CliTests.fixtures().resolve("models/tiny-sd");
    }

    private static String[] run(String... args) {
        CliTests.Run r = CliTests.run(args);
        return new String[] {Integer.toString(r.exit()), r.out(), r.err()};
    }

    @Test
    void printsIdsTokensAndTheCount() {
        String[] r = run("tokenize", "--model", model().toString(), "a photograph of an astronaut riding a horse");
        assertEquals("0", r[0], r[2]);
        // The CLIP vocabulary: "a</w>" is 320, "photograph</w>" 8853, "horse</w>" 4558.
        assertTrue(r[1].contains("ids:    320 8853 539 550 18376 6765 320 4558"), r[1]);
        assertTrue(r[1].contains("tokens: a</w> photograph</w> of</w> an</w> astronaut</w> riding</w> a</w> horse</w>"), r[1]);
        assertTrue(r[1].contains("count:  8 of 75 tokens"), r[1]);
        assertTrue(r[1].contains("input:  49406 320 8853"), r[1]);
        assertTrue(r[2].isEmpty(), r[2]);
    }

    @Test
    void warnsWhenTheTextIsCut() {
        String prompt = "red ".repeat(80) + "blue green";
        String[] r = run("tokenize", "--model", model().toString(), prompt);
        assertEquals("0", r[0]);
        assertTrue(r[1].contains("count:  82 of 75 tokens"), r[1]);
        assertTrue(r[2].contains("7 over the limit") && r[2].contains("blue green"), r[2]);
    }
}
