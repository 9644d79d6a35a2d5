package dev.diffusion4j.nn.clip;

import java.nio.file.Path;

/** Locates the golden fixtures (skips the calling test when they are absent). */
final class Fixtures {
    private Fixtures() {
    }

    static Path root() {
        return dev.diffusion4j.nn.Fixtures.dir();
    }

    static Path tokenizerFolder() {
        return root().resolve("models/tiny-sd/tokenizer");
    }
}
