package dev.diffusion4j.examples.cli;

import dev.diffusion4j.core.GenerationParameters;
import dev.diffusion4j.core.PngFiles;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code sd info PNG}: prints the generation parameters stored in a PNG (ours or A1111's). */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Print the generation parameters stored in a PNG's 'parameters' chunk.")
final class InfoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "PNG", description = "The image.")
    Path file;

    @Override
    public Integer call() throws Exception {
        String text = PngFiles.readParameters(file);
        if (text == null) {
            throw new IllegalArgumentException(file + " has no 'parameters' chunk");
        }
        GenerationParameters.Parsed p = GenerationParameters.parse(text);
        var out = spec.commandLine().getOut();
        out.println("Prompt: " + p.prompt());
        if (!p.negativePrompt().isEmpty()) {
            out.println("Negative prompt: " + p.negativePrompt());
        }
        for (Map.Entry<String, String> e : p.fields().entrySet()) {
            out.println(e.getKey() + ": " + e.getValue());
        }
        return 0;
    }
}
