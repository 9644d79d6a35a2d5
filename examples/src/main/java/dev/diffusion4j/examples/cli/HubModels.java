package dev.diffusion4j.examples.cli;

import dev.diffusion4j.core.StableDiffusion;
import dev.diffusion4j.weights.HubDownloadListener;
import dev.diffusion4j.weights.HuggingFaceHub;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * Hugging Face repo ids where the commands take a model path: {@code --model org/name} (or {@code org/name@revision})
 * that is not a local path is downloaded into the Hugging Face cache, with progress on stderr, and its snapshot
 * folder used; files already in the cache are reused.
 */
final class HubModels {
    /** The Hub the commands use: the environment's ({@code HF_ENDPOINT}, {@code HF_HUB_CACHE}...); tests replace it. */
    static Supplier<HuggingFaceHub> hub = HuggingFaceHub::fromEnvironment;

    private HubModels() {
    }

    /** Whether {@code model} names a repo: no such local path, and the form {@code org/name[@revision]}. */
    static boolean isRepoId(Path model) {
        return model != null && !Files.exists(model) && HuggingFaceHub.looksLikeRepoId(repo(model.toString()));
    }

    private static String repo(String s) {
        int at = s.indexOf('@');
        return at < 0 ? s : s.substring(0, at);
    }

    private static String revision(String s) {
        int at = s.indexOf('@');
        return at < 0 || at == s.length() - 1 ? "main" : s.substring(at + 1);
    }

    /** The Hub with progress lines on {@code err}. */
    static HuggingFaceHub hub(PrintWriter err) {
        return hub.get().withListener(HubDownloadListener.console(err, "sd: ",
                System.console() != null && System.console().isTerminal(), 1000));
    }

    /** A local path as it is; a repo id → the snapshot folder of its diffusers pipeline ({@code variant} weights). */
    static Path pipeline(Path model, String variant, PrintWriter err) throws IOException {
        if (!isRepoId(model)) {
            return model;
        }
        String s = model.toString();
        Path snap;
        try {
            snap = hub(err).downloadPipeline(repo(s), revision(s), variant);
        } catch (HuggingFaceHub.AccessException e) {
            // "models/tiny-sd" may be a mistyped local folder rather than a repo: say both.
            throw new IOException("no local file or folder " + model.toAbsolutePath() + ", and " + e.getMessage(), e);
        }
        err.println("sd: " + repo(s) + " is in " + snap);
        err.flush();
        return snap;
    }

    /** A local path as it is; a repo id → its tokenizer folder ({@code tokenizer/} of a pipeline, or the repo root). */
    static Path tokenizer(Path model, PrintWriter err) throws IOException {
        if (!isRepoId(model)) {
            return model;
        }
        String s = model.toString();
        return hub(err).downloadTokenizer(repo(s), revision(s));
    }

    /**
     * The tokenizer folder for {@code model}: {@code explicit}, the model's own, the cached or downloaded SD 1.x
     * tokenizer for a single file (with progress); null when the model or {@code config} has a {@code tokenizer/}.
     */
    static Path tokenizerFor(Path model, Path explicit, Path config, PrintWriter err) throws IOException {
        if (explicit != null || !Files.isRegularFile(model)
                || config != null && Files.isRegularFile(config.resolve("tokenizer/vocab.json"))) {
            return explicit;
        }
        // Only an SD 1.x single file uses CLIP ViT-L's tokenizer; SD 2.x/SDXL files and files that are no model at all
        // (a LoRA, a ControlNet) are left to StableDiffusion.load, which looks up the right one or says what the file is.
        dev.diffusion4j.weights.ModelFamily family;
        try (dev.diffusion4j.weights.SafeTensors st = dev.diffusion4j.weights.SafeTensors.open(model)) {
            family = dev.diffusion4j.weights.Checkpoint.singleFileFamily(st);
        }
        if (family != dev.diffusion4j.weights.ModelFamily.SD1 && family != dev.diffusion4j.weights.ModelFamily.SD1_INPAINT) {
            return explicit;
        }
        return StableDiffusion.tokenizerFolder(model, null, hub(err));
    }
}
