package dev.diffusion4j.examples.cli;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds the built-in demo model: the small diffusers folder {@code models/demo/} at the repository root, trained by
 * {@code tools/demo-model/train.py} (see its model card, {@code models/demo/README.md}). It is an ordinary diffusers
 * folder, loaded like any other checkpoint; this class only decides where it is.
 *
 * <p>Looked up, in order: the system property {@code d4j.demo.model} (the folder itself); {@code d4j.home} (set by
 * the {@code ./sd} launcher to the repository root) + {@code models/demo}; the folders above the jar or class folder
 * this class was loaded from (so tests and {@code java -jar examples/target/sd.jar} find it too).
 */
public final class DemoModel {
    /** The folder below the repository root. */
    public static final String RELATIVE = "models/demo";

    private DemoModel() {
    }

    /**
     * The demo model folder.
     *
     * @return a folder containing {@code model_index.json}
     * @throws IllegalArgumentException if it cannot be found (the message lists where it looked)
     */
    public static Path locate() {
        List<Path> tried = new ArrayList<>();
        String explicit = System.getProperty("d4j.demo.model");
        if (explicit != null && !explicit.isBlank()) {
            Path p = Path.of(explicit);
            if (isModel(p)) {
                return p;
            }
            tried.add(p);
        }
        String home = System.getProperty("d4j.home");
        if (home != null && !home.isBlank()) {
            Path p = Path.of(home).resolve(RELATIVE);
            if (isModel(p)) {
                return p;
            }
            tried.add(p);
        }
        Path start = codeLocation();
        for (Path dir = start; dir != null; dir = dir.getParent()) {
            Path p = dir.resolve(RELATIVE);
            if (isModel(p)) {
                return p;
            }
        }
        if (start != null) {
            tried.add(start.resolve("…").resolve(RELATIVE));
        }
        throw new IllegalArgumentException("no --model given and the built-in demo model was not found (looked in "
                + tried + "); pass --model PATH");
    }

    private static boolean isModel(Path p) {
        return Files.isRegularFile(p.resolve("model_index.json"));
    }

    /** The jar or class folder this class came from, or null when unknown. */
    private static Path codeLocation() {
        try {
            var source = DemoModel.class.getProtectionDomain().getCodeSource();
            return source == null ? null : Path.of(source.getLocation().toURI()).toAbsolutePath();
        } catch (URISyntaxException | SecurityException | IllegalArgumentException e) {
            return null;
        }
    }
}
