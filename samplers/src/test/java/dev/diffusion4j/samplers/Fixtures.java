package dev.diffusion4j.samplers;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.jr.ob.JSON;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Locates the golden fixtures; tests skip only when the folder is absent. */
final class Fixtures {
    private Fixtures() {
    }

    static Path dir() {
        String p = System.getProperty("d4j.fixtures");
        Path dir = p == null ? null : Path.of(p);
        assumeTrue(dir != null && Files.isDirectory(dir), "fixtures absent: " + p);
        return dir;
    }

    static Map<String, Object> json(Path file) throws IOException {
        return JSON.std.mapFrom(Files.readString(file));
    }
}
