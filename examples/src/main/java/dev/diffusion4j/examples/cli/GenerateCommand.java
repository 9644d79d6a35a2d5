package dev.diffusion4j.examples.cli;

import dev.diffusion4j.core.Cancellation;
import dev.diffusion4j.core.GenerationRequest;
import dev.diffusion4j.core.GenerationResult;
import dev.diffusion4j.core.PngFiles;
import dev.diffusion4j.core.ProgressListener;
import dev.diffusion4j.core.StableDiffusion;
import dev.diffusion4j.samplers.SamplerCatalog;
import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import dev.diffusion4j.weights.SafeTensorsWriter;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code sd generate}: txt2img, img2img ({@code --init-image}), inpainting ({@code --mask}) and outpainting
 * ({@code --outpaint}). Defaults follow diffusers' {@code StableDiffusionPipeline}, so the same settings give the
 * reference's image.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate images with a Stable Diffusion 1.x model (diffusers folder or single-file checkpoint).")
final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "PATH",
            description = "A diffusers folder or a single-file .safetensors checkpoint. Default: the built-in demo model "
                    + "(models/demo: 64x64 shapes and colours, see its README).")
    Path model;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "What to draw.")
    String prompt;

    @Option(names = "--negative-prompt", defaultValue = "", paramLabel = "TEXT",
            description = "What to avoid (used when --cfg-scale > 1). Default: none.")
    String negativePrompt;

    @Option(names = "--width", paramLabel = "PX",
            description = "Width, a multiple of 8. Default: the init image's, else the model's sample_size x 8 (512 for SD 1.5).")
    Integer width;

    @Option(names = "--height", paramLabel = "PX",
            description = "Height, a multiple of 8. Default: the init image's, else the model's sample_size x 8.")
    Integer height;

    @Option(names = "--steps", defaultValue = "50", description = "Inference steps. Default: ${DEFAULT-VALUE}.")
    int steps;

    @Option(names = "--cfg-scale", defaultValue = "7.5",
            description = "Classifier-free guidance scale (off when <= 1). Default: ${DEFAULT-VALUE}.")
    double cfgScale;

    @Option(names = "--sampler", paramLabel = "NAME",
            description = "One of: ${COMPLETION-CANDIDATES}. Default: the model's scheduler config (PNDM for SD 1.5).",
            completionCandidates = SamplerNames.class)
    String sampler;

    @Option(names = "--schedule", defaultValue = "default", paramLabel = "NAME",
            description = "default or karras. Default: ${DEFAULT-VALUE}.")
    String schedule;

    @Option(names = "--spacing", paramLabel = "NAME",
            description = "Timestep spacing: leading, linspace or trailing. Default: the scheduler's.")
    String spacing;

    @Option(names = "--seed", paramLabel = "N", description = "Seed. Default: a random one (printed).")
    Long seed;

    @Option(names = "--rng", defaultValue = "torch", paramLabel = "torch|fast",
            description = "torch: PyTorch's CPU generator bit for bit (the reference's image); fast. Default: ${DEFAULT-VALUE}.")
    String rng;

    @Option(names = "--init-image", paramLabel = "PNG", description = "Init image for img2img / inpainting / outpainting.")
    Path initImage;

    @Option(names = "--strength", paramLabel = "S",
            description = "How much of the init image is replaced, in (0, 1]. Default: 0.8 (img2img), 1.0 (inpainting).")
    Double strength;

    @Option(names = "--init-latent", defaultValue = "sample", paramLabel = "sample|mode",
            description = "Read the init image's latents by sampling (diffusers' default) or by the mode. Default: ${DEFAULT-VALUE}.")
    String initLatent;

    @Option(names = "--mask", paramLabel = "PNG", description = "Inpainting mask, the init image's size; white = repaint.")
    Path mask;

    @Option(names = "--mask-blur", defaultValue = "0", paramLabel = "PX", description = "Blur the mask first. Default: ${DEFAULT-VALUE}.")
    int maskBlur;

    @Option(names = "--outpaint", paramLabel = "L,R,T,B", split = ",",
            description = "Outpaint: pixels to add on the left, right, top and bottom of the init image.")
    int[] outpaint;

    @Option(names = "--clip-skip", defaultValue = "1",
            description = "A1111 clip skip: 1 = last layer, 2 = penultimate. Default: ${DEFAULT-VALUE}.")
    int clipSkip;

    @Option(names = "--batch", defaultValue = "1", description = "Images per run, as one batch. Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--threads", paramLabel = "N", description = "Compute threads. Default: the available processors.")
    Integer threads;

    @Option(names = "--output", defaultValue = "output.png", paramLabel = "PATH",
            description = "Output PNG (with a parameters chunk); with --batch N, -1, -2... are added. Default: ${DEFAULT-VALUE}.")
    Path output;

    @Option(names = "--save-latents", paramLabel = "PATH.safetensors", description = "Also save the final latents.")
    Path saveLatents;

    @Option(names = "--config", paramLabel = "DIR",
            description = "A diffusers folder whose configs, tokenizer and scheduler describe a single-file checkpoint.")
    Path config;

    @Option(names = "--tokenizer", paramLabel = "DIR", description = "Tokenizer folder (vocab.json, merges.txt).")
    Path tokenizer;

    @Option(names = "--unet", paramLabel = "DIR", description = "Use this diffusers U-Net folder instead of the model's.")
    Path unet;

    @Option(names = "--variant", paramLabel = "NAME", description = "Weight file variant, e.g. fp16.")
    String variant;

    /** The sampler names for picocli's help. */
    static final class SamplerNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return SamplerCatalog.samplers().iterator();
        }
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter out = spec.commandLine().getOut();
        GenerationRequest request = request();
        if (model == null) {
            model = DemoModel.locate();
            err.println("sd: no --model given: using the built-in demo model (" + model
                    + ", 64x64 coloured shapes; see its README.md)");
        }
        if (!Files.exists(model)) {
            throw new IllegalArgumentException("model " + model + " does not exist (a diffusers folder or a .safetensors file)");
        }
        StableDiffusion.LoadOptions options = StableDiffusion.LoadOptions.defaults().withTokenizer(tokenizer)
                .withUnet(unet).withVariant(variant).withConfig(config);
        ComputePool pool = threads == null ? ComputePool.shared() : new ComputePool(threads);
        options = options.withBackend(new CpuBackend(pool));
        long t0 = System.nanoTime();
        try (StableDiffusion sd = StableDiffusion.load(model, options)) {
            err.printf(Locale.ROOT, "sd: loaded %s in %.1f s%n", model, (System.nanoTime() - t0) / 1e9);
            err.flush();
            ProgressBar bar = new ProgressBar(err);
            GenerationResult result = sd.generate(request, bar, new Cancellation());
            bar.finish();
            for (int i = 0; i < result.images().size(); i++) {
                Path file = result.images().size() == 1 ? output : numbered(output, i + 1);
                PngFiles.write(file, result.images().get(i), result.parameters().get(i));
                out.println(file);
            }
            if (saveLatents != null) {
                new SafeTensorsWriter().metadata("parameters", result.parameters().get(0))
                        .add("latents", result.latents()).write(saveLatents);
            }
            err.printf(Locale.ROOT, "sd: seed %d, text %.2f s, %d steps %.2f s (%.2f s/step), decode %.2f s%n",
                    request.seed(), result.timings().textMillis() / 1e3, result.timings().stepMillis().size(),
                    result.timings().totalStepMillis() / 1e3,
                    result.timings().totalStepMillis() / 1e3 / Math.max(1, result.timings().stepMillis().size()),
                    result.timings().decodeMillis() / 1e3);
        } finally {
            if (threads != null) {
                pool.close();
            }
        }
        return 0;
    }

    private GenerationRequest request() throws java.io.IOException {
        GenerationRequest.Builder b = GenerationRequest.builder().prompt(prompt).negativePrompt(negativePrompt)
                .steps(steps).guidanceScale(cfgScale).sampler(sampler).schedule(schedule).spacing(spacing)
                .seed(seed != null ? seed : new java.security.SecureRandom().nextLong() & 0xFFFFFFFFL)
                .batchSize(batch).clipSkip(clipSkip).maskBlur(maskBlur);
        if (sampler != null) {
            SamplerCatalog.diffusersClass(sampler);
        }
        if (width != null) {
            b.width(width);
        }
        if (height != null) {
            b.height(height);
        }
        b.rng(switch (rng) {
            case "torch" -> GenerationRequest.Rng.TORCH;
            case "fast" -> GenerationRequest.Rng.FAST;
            default -> throw new IllegalArgumentException("--rng must be torch or fast, got '" + rng + "'");
        });
        b.latentMode(switch (initLatent) {
            case "sample" -> GenerationRequest.LatentMode.SAMPLE;
            case "mode" -> GenerationRequest.LatentMode.MODE;
            default -> throw new IllegalArgumentException("--init-latent must be sample or mode, got '" + initLatent + "'");
        });
        if (initImage != null) {
            b.initImage(PngFiles.readImage(initImage));
        }
        if (mask != null) {
            if (initImage == null) {
                throw new IllegalArgumentException("--mask needs --init-image");
            }
            b.mask(PngFiles.readImage(mask));
        }
        if (outpaint != null) {
            if (outpaint.length != 4) {
                throw new IllegalArgumentException("--outpaint takes four numbers L,R,T,B, got " + outpaint.length);
            }
            if (initImage == null) {
                throw new IllegalArgumentException("--outpaint needs --init-image");
            }
            b.outpaint(outpaint[0], outpaint[1], outpaint[2], outpaint[3]);
        }
        if (strength != null) {
            if (initImage == null) {
                throw new IllegalArgumentException("--strength needs --init-image");
            }
            b.strength(strength);
        }
        return b.build();
    }

    private static Path numbered(Path p, int i) {
        String name = p.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String numbered = dot < 0 ? name + "-" + i : name.substring(0, dot) + "-" + i + name.substring(dot);
        return p.resolveSibling(numbered);
    }

    /** A one-line progress bar on stderr: step, it/s, ETA. */
    static final class ProgressBar implements ProgressListener {
        private final PrintWriter err;
        private final long start = System.nanoTime();
        private boolean drawn;

        ProgressBar(PrintWriter err) {
            this.err = err;
        }

        @Override
        public void onStep(StepEvent e) {
            double elapsed = (System.nanoTime() - start) / 1e9;
            int done = e.step() + 1;
            double rate = done / elapsed;
            double eta = (e.totalSteps() - done) / rate;
            int width = 30;
            int filled = (int) Math.round(width * (double) done / e.totalSteps());
            err.printf(Locale.ROOT, "\r[%s%s] %d/%d  %.2f it/s  ETA %.0f s ", "#".repeat(filled), ".".repeat(width - filled),
                    done, e.totalSteps(), rate, eta);
            err.flush();
            drawn = true;
        }

        void finish() {
            if (drawn) {
                err.println();
                err.flush();
            }
        }
    }
}
