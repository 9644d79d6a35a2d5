package dev.diffusion4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.cpu.VectorSupport;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Started without {@code --add-modules jdk.incubator.vector}, {@code sd} says so in one line instead of a stack trace. */
class MissingVectorApiTest {
    @Test
    void sdStopsWithOneClearLine() throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
                SdCommand.class.getName(), "selfcheck")).redirectErrorStream(true).start();
        p.getOutputStream().close();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "sd did not exit");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(2, p.exitValue(), out);
        assertEquals("sd: " + VectorSupport.MISSING_MESSAGE, out);
        assertFalse(out.contains("Exception"), out);
    }
}
