package dev.diffusion4j.examples.cli;

import dev.diffusion4j.core.Canny;
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
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code sd generate}: txt2img, img2img ({@code --init-image}), inpainting ({@code --mask}) and outpainting
 * ({@code --outpaint}); ControlNets ({@code --controlnet}/{@code --control-image} groups, {@code --canny}), the hires
 * fix ({@code --hires-scale}), TAESD decoding and previews ({@code --vae taesd}, {@code --taesd}, {@code --preview}). Defaults follow diffusers' {@code StableDiffusionPipeline}, so the same settings give the
 * reference's image.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate images with a Stable Diffusion 1.x/2.x model (diffusers folder or single-file checkpoint).")
final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "PATH|REPO",
            description = "A diffusers folder, a single-file .safetensors checkpoint, or a Hugging Face repo id "
                    + "(org/name[@revision]) downloaded into the Hugging Face cache (HF_HUB_CACHE, HF_TOKEN, HF_ENDPOINT). "
                    + "Default: the built-in demo model (models/demo: 64x64 shapes and colours, see its README).")
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
            description = "default, karras or exponential (exp(linspace(log sigma_max, log sigma_min, n)); our extension to"
                    + " diffusers, for the samplers that take karras). Default: ${DEFAULT-VALUE}.")
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

    @Option(names = "--vae-tiling", defaultValue = "auto", paramLabel = "auto|on|off",
            description = "Decode/encode in overlapping tiles (bounded memory for large images). auto: on above 1024x1024 "
                    + "pixels. Default: ${DEFAULT-VALUE}.")
    String vaeTiling;

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

    @Option(names = "--low-memory", description = "Release each stage's memory-mapped weights from resident memory once "
            + "the stage is done (text encoder, U-Net, VAE): lower peak memory, a little slower per image.")
    boolean lowMemory;

    @Option(names = "--stream-weights", description = "Release every op's memory-mapped weights from resident memory "
            + "as soon as the op is done (they wait in the page cache): the lowest peak memory, for the page faults of "
            + "reading the weights back on every step.")
    boolean streamWeights;

    @Option(names = "--quantize", paramLabel = "TYPE", description = "Hold the U-Net's weights as: none (as stored, "
            + "default) or q8_0 (8-bit blocks made at load: about half the memory of F16, a small parity error).")
    String quantize = "none";

    /** One {@code --controlnet} group: a ControlNet, its control image and settings. */
    static final class ControlGroup {
        @Option(names = "--controlnet", required = true, paramLabel = "PATH",
                description = "A ControlNet: diffusers folder, or .safetensors (diffusers keys with config.json beside it, "
                        + "or lllyasviel's original layout). Repeat the group for several ControlNets.")
        Path path;

        @Option(names = "--control-image", required = true, paramLabel = "PNG",
                description = "The control image of the preceding --controlnet (resized to the output size if it differs).")
        Path image;

        // Plain fields with initial values: picocli's defaultValue in a repeatable group fails when no group is given.
        @Option(names = "--control-scale", paramLabel = "S", description = "Conditioning scale of this ControlNet. Default: 1.0.")
        double scale = 1.0;

        @Option(names = "--control-start", paramLabel = "F",
                description = "Fraction of the steps before which this ControlNet is off. Default: 0.0.")
        double start = 0.0;

        @Option(names = "--control-end", paramLabel = "F",
                description = "Fraction of the steps after which this ControlNet is off. Default: 1.0.")
        double end = 1.0;

        @Option(names = "--canny",
                description = "Turn this control image (a photo) into a Canny edge map first (see --canny-low/--canny-high).")
        boolean canny;
    }

    @ArgGroup(exclusive = false, multiplicity = "0..*", heading = "ControlNet (repeatable group)%n")
    List<ControlGroup> controls;

    @Option(names = "--canny-low", defaultValue = "100", paramLabel = "N",
            description = "Canny low threshold (OpenCV scale: L1 Sobel magnitude). Default: ${DEFAULT-VALUE}.")
    int cannyLow;

    @Option(names = "--canny-high", defaultValue = "200", paramLabel = "N",
            description = "Canny high threshold: stronger gradients always become edges. Default: ${DEFAULT-VALUE}.")
    int cannyHigh;

    @Option(names = "--guess-mode", description = "ControlNet guess mode (control only on the conditional half, scaled 0.1..1).")
    boolean guessMode;

    @Option(names = "--vae", defaultValue = "full", paramLabel = "full|taesd",
            description = "Final decoder: the model's VAE, or TAESD (fast; needs --taesd). Default: ${DEFAULT-VALUE}.")
    String vae;

    @Option(names = "--taesd", paramLabel = "PATH",
            description = "TAESD weights: diffusers AutoencoderTiny folder, or madebyollin's taesd_decoder.safetensors. "
                    + "Used by --vae taesd and for --preview.")
    Path taesd;

    @Option(names = "--preview", paramLabel = "PNG",
            description = "Write a preview of the predicted image to this file while generating (TAESD if --taesd, else the VAE).")
    Path preview;

    @Option(names = "--preview-every", defaultValue = "5", paramLabel = "N",
            description = "Steps between previews (and after the last). Default: ${DEFAULT-VALUE}.")
    int previewEvery;

    @Option(names = "--hires-scale", paramLabel = "F",
            description = "Hires fix: generate at --width x --height, enlarge by F, then img2img at the new size.")
    Double hiresScale;

    @Option(names = "--hires-strength", defaultValue = "0.5", paramLabel = "S",
            description = "Hires pass strength in (0, 1]. Default: ${DEFAULT-VALUE}.")
    double hiresStrength;

    @Option(names = "--hires-steps", paramLabel = "N", description = "Hires pass steps before the strength cut. Default: --steps.")
    Integer hiresSteps;

    @Option(names = "--hires-upscaler", defaultValue = "latent", paramLabel = "latent|image",
            description = "Enlarge the latents (bilinear) or the decoded image (bicubic, encoded again). Default: ${DEFAULT-VALUE}.")
    String hiresUpscaler;

    @Option(names = "--lora", paramLabel = "PATH[:SCALE]",
            description = "Merge a LoRA (kohya/A1111 or diffusers/PEFT .safetensors) into the text encoder and U-Net at"
                    + " SCALE (default 1.0): W' = W + SCALE * (alpha/rank) * up @ down. Repeatable.")
    java.util.List<String> loras = new java.util.ArrayList<>();

    @Option(names = "--guidance-rescale", defaultValue = "0", paramLabel = "R",
            description = "diffusers' guidance_rescale in [0, 1] (zero-terminal-SNR models; 0.7 in the paper). Default: ${DEFAULT-VALUE}.")
    double guidanceRescale;

    @Option(names = "--original-size", split = ",", paramLabel = "W,H",
            description = "SDXL micro-conditioning: the original image size the model should assume. Default: the output size.")
    int[] originalSize;

    @Option(names = "--crop-top-left", split = ",", paramLabel = "X,Y",
            description = "SDXL micro-conditioning: the crop's top-left corner (x = left, y = top). Default: 0,0.")
    int[] cropTopLeft;

    @Option(names = "--target-size", split = ",", paramLabel = "W,H",
            description = "SDXL micro-conditioning: the target size. Default: the output size.")
    int[] targetSize;

    /** {@code PATH[:SCALE]}: the scale is the text after the last ':' when it parses as a number (paths may hold ':'). */
    static StableDiffusion.LoraSpec parseLora(String arg) {
        int colon = arg.lastIndexOf(':');
        if (colon > 0) {
            String tail = arg.substring(colon + 1);
            try {
                double scale = Double.parseDouble(tail);
                return new StableDiffusion.LoraSpec(Path.of(arg.substring(0, colon)), scale);
            } catch (NumberFormatException e) {
                // not a scale: the colon belongs to the path
            }
        }
        return new StableDiffusion.LoraSpec(Path.of(arg), 1.0);
    }

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
        model = HubModels.pipeline(model, variant, err);
        if (!Files.exists(model)) {
            throw new IllegalArgumentException("model " + model + " does not exist (a diffusers folder or a .safetensors file)");
        }
        StableDiffusion.LoadOptions options = StableDiffusion.LoadOptions.defaults()
                .withTokenizer(HubModels.tokenizerFor(model, tokenizer, config, err))
                .withUnet(unet).withVariant(variant).withConfig(config).withReleaseWeightPages(lowMemory)
                .withStreamWeights(streamWeights);
        try {
            options = options.withQuantization(dev.diffusion4j.core.Quantization.parse(quantize));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--quantize: " + e.getMessage(), e);
        }
        for (String l : loras) {
            StableDiffusion.LoraSpec ls = parseLora(l);
            if (!Files.isRegularFile(ls.path())) {
                throw new IllegalArgumentException("--lora " + l + ": no such file " + ls.path());
            }
            options = options.withLora(ls.path(), ls.scale());
        }
        ComputePool pool = threads == null ? ComputePool.shared() : new ComputePool(threads);
        options = options.withBackend(new CpuBackend(pool));
        long t0 = System.nanoTime();
        try (StableDiffusion sd = StableDiffusion.load(model, options)) {
            err.printf(Locale.ROOT, "sd: loaded %s in %.1f s%n", model, (System.nanoTime() - t0) / 1e9);
            for (StableDiffusion.LoraSpec ls : sd.loras()) {
                java.util.Map<String, String> un = sd.loraReport().unmatched().getOrDefault(ls.path(), java.util.Map.of());
                err.printf(Locale.ROOT, "sd: LoRA %s at %.2f: %d weights merged%s%n", ls.path().getFileName(), ls.scale(),
                        sd.loraReport().merged().getOrDefault(ls.path(), 0), un.isEmpty() ? "" : ", " + un.size()
                        + " key(s) match nothing:");
                un.forEach((k, why) -> err.printf("sd:   %s: %s%n", k, why));
            }
            err.flush();
            if (taesd != null) {
                sd.loadTaesd(taesd);
            } else if (request.vaeDecoder() == GenerationRequest.VaeDecoder.TAESD) {
                throw new IllegalArgumentException("--vae taesd needs --taesd PATH (the TAESD weights)");
            }
            request = withControlNets(sd, request);
            ProgressBar bar = new ProgressBar(err);
            ProgressListener listener = bar;
            if (preview != null) {
                Path previewFile = preview;
                listener = bar.andThen(ProgressListener.previews(sd, previewEvery, (e, img) -> {
                    try {
                        PngFiles.write(previewFile, img, "preview step " + (e.step() + 1) + "/" + e.totalSteps());
                    } catch (java.io.IOException ex) {
                        throw new java.io.UncheckedIOException(ex);
                    }
                }));
            }
            GenerationResult result = sd.generate(request, listener, new Cancellation());
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
                .batchSize(batch).clipSkip(clipSkip).maskBlur(maskBlur).guidanceRescale(guidanceRescale);
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
        b.vaeTiling(switch (vaeTiling) {
            case "auto" -> null;
            case "on" -> Boolean.TRUE;
            case "off" -> Boolean.FALSE;
            default -> throw new IllegalArgumentException("--vae-tiling must be auto, on or off, got '" + vaeTiling + "'");
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
        b.vaeDecoder(switch (vae) {
            case "full" -> GenerationRequest.VaeDecoder.FULL;
            case "taesd" -> GenerationRequest.VaeDecoder.TAESD;
            default -> throw new IllegalArgumentException("--vae must be full or taesd, got '" + vae + "'");
        });
        if (previewEvery < 1) {
            throw new IllegalArgumentException("--preview-every must be >= 1, got " + previewEvery);
        }
        if (hiresScale != null) {
            b.hiresScale(hiresScale).hiresStrength(hiresStrength);
            if (hiresSteps != null) {
                b.hiresSteps(hiresSteps);
            }
            b.hiresUpscaler(switch (hiresUpscaler) {
                case "latent" -> GenerationRequest.HiresUpscaler.LATENT;
                case "image" -> GenerationRequest.HiresUpscaler.IMAGE;
                default -> throw new IllegalArgumentException("--hires-upscaler must be latent or image, got '" + hiresUpscaler + "'");
            });
        }
        if (originalSize != null) {
            b.originalSize(pair("--original-size", originalSize)[0], originalSize[1]);
        }
        if (cropTopLeft != null) {
            // X,Y on the command line; diffusers' crops_coords_top_left is (top, left) = (y, x).
            b.cropTopLeft(pair("--crop-top-left", cropTopLeft)[1], cropTopLeft[0]);
        }
        if (targetSize != null) {
            b.targetSize(pair("--target-size", targetSize)[0], targetSize[1]);
        }
        for (ControlGroup g : controls()) {
            if (!java.nio.file.Files.exists(g.path)) {
                throw new IllegalArgumentException("--controlnet " + g.path + " does not exist");
            }
        }
        return b.build();
    }

    private static int[] pair(String option, int[] v) {
        if (v.length != 2) {
            throw new IllegalArgumentException(option + " takes two numbers, got " + v.length);
        }
        return v;
    }

    private List<ControlGroup> controls() {
        return controls == null ? List.of() : controls;
    }

    /** Loads the ControlNets of the {@code --controlnet} groups and adds them, with their images, to the request. */
    private GenerationRequest withControlNets(StableDiffusion sd, GenerationRequest request) throws java.io.IOException {
        if (controls().isEmpty()) {
            if (guessMode) {
                throw new IllegalArgumentException("--guess-mode needs --controlnet");
            }
            return request;
        }
        GenerationRequest.Builder b = request.toBuilder().guessMode(guessMode);
        for (ControlGroup g : controls()) {
            java.awt.image.BufferedImage image = PngFiles.readImage(g.image);
            if (g.canny) {
                image = Canny.detect(image, cannyLow, cannyHigh);
            }
            b.controlNet(new GenerationRequest.ControlNet(sd.loadControlNet(g.path), image, g.scale, g.start, g.end));
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
