package dev.diffusion4j.examples.cli;

import dev.diffusion4j.nn.clip.CLIPTokenizer;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code sd tokenize}: the CLIP token ids and strings of a prompt, counted against the 75-token limit. */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = "Show how a prompt is tokenized: ids, token strings, and the count against the 75-token limit.")
final class TokenizeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "PATH|REPO",
            description = "A diffusers folder (its tokenizer/ is used), a tokenizer folder (vocab.json, merges.txt), or a "
                    + "Hugging Face repo id (org/name[@revision]; only its tokenizer files are downloaded).")
    Path model;

    @Parameters(paramLabel = "PROMPT", description = "The prompt.")
    String prompt;

    @Override
    public Integer call() throws Exception {
        Path local = HubModels.tokenizer(model, spec.commandLine().getErr());
        Path folder = Files.isRegularFile(local.resolve("tokenizer/vocab.json")) ? local.resolve("tokenizer") : local;
        if (!Files.isRegularFile(folder.resolve("vocab.json"))) {
            throw new IllegalArgumentException(model + " has no tokenizer (vocab.json and merges.txt, or tokenizer/ with them)");
        }
        CLIPTokenizer tok = CLIPTokenizer.load(folder);
        PrintWriter out = spec.commandLine().getOut();
        int[] ids = tok.encode(prompt);
        List<String> tokens = tok.tokens(prompt);
        int limit = tok.maxLength() - 2;
        out.println("ids:    " + join(ids));
        out.println("tokens: " + String.join(" ", tokens));
        out.printf("count:  %d of %d tokens%n", ids.length, limit);
        CLIPTokenizer.Encoded enc = tok.inputIds(prompt);
        out.println("input:  " + join(enc.inputIds()));
        if (enc.truncated()) {
            int[] dropped = java.util.Arrays.copyOfRange(ids, limit, ids.length);
            spec.commandLine().getErr().printf("sd: warning: the prompt has %d tokens, %d over the limit: \"%s\" is cut "
                    + "(chunking, as A1111 does, is available in the library: CLIPTokenizer.chunks)%n",
                    ids.length, ids.length - limit, tok.decode(dropped).strip());
        }
        return 0;
    }

    private static String join(int[] ids) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
            b.append(i == 0 ? "" : " ").append(ids[i]);
        }
        return b.toString();
    }
}
