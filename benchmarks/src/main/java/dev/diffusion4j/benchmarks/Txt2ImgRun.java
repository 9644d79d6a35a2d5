package dev.diffusion4j.benchmarks;

import dev.diffusion4j.core.GenerationRequest;
import dev.diffusion4j.core.GenerationResult;
import dev.diffusion4j.core.Quantization;
import dev.diffusion4j.core.StableDiffusion;
import dev.diffusion4j.tensor.ResidentMemory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * A whole 512×512 txt2img through the library, as a user runs it: {@link StableDiffusion#load} on a diffusers folder
 * of the real SD 1.5 size with random F16 weights (memory-mapped like any checkpoint), then text encoding, guided
 * steps (batch 2) and the VAE decode. Prints the time of each stage, seconds per step, GFLOP/s and the peak RSS of
 * the process. Usage: {@code java ... Txt2ImgRun [steps (20)] [folder (/tmp/d4j-sd15-random)] [low-memory] [q8] [stream]}; the
 * folder is written first when missing (about 2.1 GB; the tokenizer comes from {@code models/demo/tokenizer});
 * {@code low-memory} releases each stage's weight pages when it is done
 * ({@link StableDiffusion.LoadOptions#releaseWeightPages}); {@code q8} holds the U-Net's weights as
 * {@link Quantization#Q8_0} ({@link StableDiffusion.LoadOptions#quantization}); {@code stream} releases every op's
 * weight pages when the op is done ({@link StableDiffusion.LoadOptions#streamWeights}).
 */
public final class Txt2ImgRun {
    /** Where the random full-size model is written by default. */
    public static final Path DEFAULT_FOLDER = Path.of(System.getProperty("java.io.tmpdir"), "d4j-sd15-random");

    private Txt2ImgRun() {
    }

    public static void main(String[] args) throws IOException {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        Path folder = args.length > 1 ? Path.of(args[1]) : DEFAULT_FOLDER;
        List<String> flags = args.length > 2 ? List.of(args).subList(2, args.length) : List.of();
        boolean lowMemory = flags.contains("low-memory");
        Quantization q = flags.contains("q8") ? Quantization.Q8_0 : Quantization.NONE;
        boolean stream = flags.contains("stream");
        ensureModel(folder);
        long t0 = System.nanoTime();
        StableDiffusion.LoadOptions options = StableDiffusion.LoadOptions.defaults()
                .withReleaseWeightPages(lowMemory).withQuantization(q).withStreamWeights(stream);
        try (StableDiffusion sd = StableDiffusion.load(folder, options)) {
            System.out.printf(Locale.ROOT, "load (%s%s%s) %6.2f s, peak RSS after load %.2f GiB%n", q,
                    lowMemory ? ", low-memory" : "", stream ? ", streamed weights" : "", (System.nanoTime() - t0) / 1e9,
                    ResidentMemory.peakBytes() / 1073741824.0);
            // The peak so far after each step (the U-Net stage), to tell it from the decode's; heap allocated per step.
            long[] allocated = {FullSizeModels.allocatedBytes()};
            GenerationResult r = generate(sd, steps, e -> {
                long now = FullSizeModels.allocatedBytes();
                System.out.printf(Locale.ROOT, "step %d/%d done, peak RSS so far %.2f GiB, %.2f GB allocated%n",
                        e.step() + 1, e.totalSteps(), ResidentMemory.peakBytes() / 1073741824.0,
                        (now - allocated[0]) / 1e9);
                allocated[0] = now;
            });
            GenerationResult.Timings t = r.timings();
            List<Double> perStep = t.stepMillis().stream().sorted().toList();
            double median = perStep.get(perStep.size() / 2) / 1000;
            System.out.printf(Locale.ROOT, "text encoder   %6.2f s%n", t.textMillis() / 1000);
            System.out.printf(Locale.ROOT, "%d steps      %6.1f s, median %.2f s/step (%.0f GFLOP/s at 1.62 TFLOP)%n", steps,
                    t.totalStepMillis() / 1000, median, 1620 / median);
            System.out.printf(Locale.ROOT, "VAE decode     %6.2f s (%.0f GFLOP/s at 2.52 TFLOP)%n", t.decodeMillis() / 1000,
                    2520 / (t.decodeMillis() / 1000));
            System.out.printf(Locale.ROOT, "peak RSS       %6.2f GiB (%.2f GB), max heap %.2f GiB%n",
                    ResidentMemory.peakBytes() / 1073741824.0, ResidentMemory.peakBytes() / 1e9,
                    Runtime.getRuntime().maxMemory() / 1073741824.0);
        }
    }

    /** One 512×512 image, guidance 7.5, {@code steps} Euler steps. */
    static GenerationResult generate(StableDiffusion sd, int steps) {
        return generate(sd, steps, dev.diffusion4j.core.ProgressListener.NONE);
    }

    private static GenerationResult generate(StableDiffusion sd, int steps, dev.diffusion4j.core.ProgressListener listener) {
        return sd.generate(GenerationRequest.builder()
                .prompt("a photograph of an astronaut riding a horse")
                .negativePrompt("blurry")
                .width(512).height(512).steps(steps).sampler("euler").seed(42)
                .build(), listener, new dev.diffusion4j.core.Cancellation());
    }

    /** Writes the random SD 1.5 folder unless it is there already. */
    static void ensureModel(Path folder) throws IOException {
        if (Files.isRegularFile(folder.resolve("unet/diffusion_pytorch_model.safetensors"))
                && Files.isRegularFile(folder.resolve("text_encoder/model.safetensors"))
                && Files.isRegularFile(folder.resolve("vae/diffusion_pytorch_model.safetensors"))) {
            return;
        }
        Path home = Path.of(System.getProperty("d4j.home", "."));
        Path tokenizer = home.resolve("models/demo/tokenizer");
        if (!Files.isRegularFile(tokenizer.resolve("vocab.json"))) {
            throw new IOException("no tokenizer at " + tokenizer.toAbsolutePath()
                    + ": run from the repository root or pass -Dd4j.home=<repository root>");
        }
        System.out.println("writing the random full-size SD 1.5 model to " + folder + " ...");
        long t0 = System.nanoTime();
        FullSizeModels.writeSd15Folder(folder, tokenizer);
        System.out.printf(Locale.ROOT, "written in %.0f s%n", (System.nanoTime() - t0) / 1e9);
    }
}
