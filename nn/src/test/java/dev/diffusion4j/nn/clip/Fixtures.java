package dev.diffusion4j.nn.clip;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the golden fixtures (skips the calling test when they are absent). */
final class Fixtures {
    private Fixtures() {
    }

    static Path root() {
        String p = System.getProperty("d4j.fixtures");
        Path dir = p == null ? null : Path.of(p);
        assumeTrue(dir != null && Files.isDirectory(dir), "fixtures absent: " + p);
        return dir;
    }

    static Path tokenizerFolder() {
        return root().resolve("models/tiny-sd/tokenizer");
    }
}
