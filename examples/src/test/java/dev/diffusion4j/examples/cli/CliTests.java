package dev.diffusion4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine;

/** What the {@code sd} command tests share: the fixture folder, an in-process run, and a PNG comparison. */
final class CliTests {
    private CliTests() {
    }

    /** Exit code and what the command printed to stdout and stderr. */
    record Run(int exit, String out, String err) {
    }

    /** The {@code d4j.fixtures} folder; the calling test is skipped when it is absent. */
    static Path fixtures() {
        String p = System.getProperty("d4j.fixtures");
        Path dir = p == null ? null : Path.of(p);
        assumeTrue(dir != null && Files.isDirectory(dir), "fixtures absent: " + p);
        return dir;
    }

    /** Runs {@code sd} with {@code args} in this JVM, capturing both streams. */
    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = SdCommand.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    /** Largest difference of one 8-bit RGB channel over all pixels; the sizes must match. */
    static int maxChannelDiff(BufferedImage a, BufferedImage b) {
        assertEquals(a.getWidth(), b.getWidth());
        assertEquals(a.getHeight(), b.getHeight());
        int max = 0;
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                for (int s = 0; s <= 16; s += 8) {
                    max = Math.max(max, Math.abs(((a.getRGB(x, y) >> s) & 0xFF) - ((b.getRGB(x, y) >> s) & 0xFF)));
                }
            }
        }
        return max;
    }
}
