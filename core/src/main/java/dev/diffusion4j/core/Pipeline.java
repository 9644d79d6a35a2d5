package dev.diffusion4j.core;

import dev.diffusion4j.nn.clip.CLIPTokenizer;
import dev.diffusion4j.samplers.FastNoiseGenerator;
import dev.diffusion4j.samplers.NoiseGenerator;
import dev.diffusion4j.samplers.SamplerCatalog;
import dev.diffusion4j.samplers.Scheduler;
import dev.diffusion4j.samplers.TorchGenerator;
import dev.diffusion4j.samplers.kdiffusion.DiscreteDenoiser;
import dev.diffusion4j.samplers.kdiffusion.DiscreteSchedule;
import dev.diffusion4j.samplers.kdiffusion.SamplerCallback;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One generation with the semantics of diffusers 0.27.2's {@code StableDiffusionPipeline},
 * {@code StableDiffusionImg2ImgPipeline} and {@code StableDiffusionInpaintPipeline}: the same draws from one
 * generator in the same order, the same schedules and the same latent arithmetic, so a seed gives the reference's
 * image.
 */
final class Pipeline {
    private static final System.Logger LOG = System.getLogger(Pipeline.class.getName());

    private final StableDiffusion model;
    private final GenerationRequest request;
    private final ProgressListener listener;
    private final Cancellation cancellation;
    private final Backend backend;
    private final Debug debug;

    /** Receives the pipeline's intermediate tensors by the fixtures' names (tests). */
    interface Debug {
        void record(String name, Tensor value);
    }

    Pipeline(StableDiffusion model, GenerationRequest request, ProgressListener listener, Cancellation cancellation) {
        this(model, request, listener, cancellation, (n, v) -> { });
    }

    Pipeline(StableDiffusion model, GenerationRequest request, ProgressListener listener, Cancellation cancellation, Debug debug) {
        this.model = model;
        this.request = request;
        this.listener = listener;
        this.cancellation = cancellation;
        this.backend = model.backend();
        this.debug = debug;
    }

    GenerationResult run() {
        GenerationRequest req = request;
        BufferedImage init = req.initImage();
        BufferedImage maskImage = req.mask();
        if (req.outpaint() != null) {
            Outpaint canvas = Outpaint.of(init, req.outpaint(), maskImage, req.maskBlur());
            init = canvas.image();
            maskImage = canvas.mask();
        } else if (maskImage != null && req.maskBlur() > 0) {
            maskImage = MaskBlur.blur(maskImage, req.maskBlur());
        }
        boolean inpaint = maskImage != null;
        int sampleSize = model.unet().config().sampleSize() * 8;
        int width = req.width() != null ? req.width() : init != null ? init.getWidth() / 8 * 8 : sampleSize;
        int height = req.height() != null ? req.height() : init != null ? init.getHeight() / 8 * 8 : sampleSize;
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("the init image is smaller than 8x8 pixels");
        }
        if (init != null && (init.getWidth() != width || init.getHeight() != height)) {
            throw new IllegalArgumentException("the init image is " + init.getWidth() + "x" + init.getHeight()
                    + " but the request is " + width + "x" + height + ": resize the image (or leave width/height unset)");
        }
        int unetChannels = model.unet().config().inChannels();
        int latentChannels = model.vae().config().latentChannels();
        if (unetChannels == latentChannels + latentChannels + 1 && !inpaint) {
            throw new IllegalArgumentException("this is an inpainting model (" + unetChannels
                    + "-channel U-Net): give an init image and a mask");
        }
        if (unetChannels != latentChannels && unetChannels != 2 * latentChannels + 1) {
            throw new IllegalArgumentException("U-Net in_channels " + unetChannels + " fits neither a plain ("
                    + latentChannels + ") nor an inpainting (" + (2 * latentChannels + 1) + ") model");
        }
        int batch = req.batchSize();
        int h = height / 8;
        int w = width / 8;
        int[] latentShape = {batch, latentChannels, h, w};
        boolean cfg = req.guidanceScale() > 1.0;
        float scaling = (float) model.vae().config().scalingFactor();
        int vaeSize = model.vae().config().sampleSize();
        boolean tiling = req.vaeTiling() != null ? req.vaeTiling() : (long) width * height > 2L * vaeSize * vaeSize;
        NoiseGenerator generator = req.rng() == GenerationRequest.Rng.TORCH
                ? new TorchGenerator(req.seed()) : new FastNoiseGenerator(req.seed());

        // Text.
        long t0 = System.nanoTime();
        Tensor promptEmbeds = encodePrompt(req.prompt(), req.clipSkip());
        debug.record("prompt_embeds", promptEmbeds);
        Tensor context = repeat(promptEmbeds, batch);
        if (cfg) {
            // diffusers 0.27.2 encodes the negative prompt without clip skip; kept for parity.
            Tensor negativeEmbeds = encodePrompt(req.negativePrompt(), 1);
            debug.record("negative_prompt_embeds", negativeEmbeds);
            context = concatBatch(repeat(negativeEmbeds, batch), context);
        }
        double textMillis = (System.nanoTime() - t0) / 1e6;
        if (req.customSampler() != null) {
            return runCustomSampler(init, context, cfg, generator, latentShape, width, height, textMillis, tiling);
        }

        // Schedule.
        Scheduler scheduler = SamplerCatalog.create(req.sampler(), req.schedule(), req.spacing(), model.schedulerConfig());
        scheduler.setTimesteps(req.steps());
        double[] timesteps = scheduler.timesteps();
        double strength = Double.isNaN(req.strength()) ? (inpaint ? 1.0 : 0.8) : req.strength();
        if (init != null) {
            debug.record("full_timesteps", doubles(timesteps));
            int steps = req.steps();
            int initTimestep = Math.min((int) (steps * strength), steps);
            int tStart = Math.max(steps - initTimestep, 0);
            int begin = tStart * scheduler.order();
            timesteps = Arrays.copyOfRange(timesteps, Math.min(begin, timesteps.length), timesteps.length);
            scheduler.setBeginIndex(begin);
            if (timesteps.length == 0) {
                throw new IllegalArgumentException("strength " + strength + " with " + steps + " steps leaves no step to run");
            }
        }
        debug.record("timesteps", doubles(timesteps));

        // Latents.
        Tensor latents;
        Tensor noise = null;
        Tensor imageLatents = null;
        Tensor maskLatent = null;
        Tensor maskedImageLatents = null;
        if (init == null) {
            noise = req.initialNoise() != null ? checkShape("initial noise", req.initialNoise(), latentShape)
                    : generator.randnTensor(latentShape);
            debug.record("initial_noise", noise);
            latents = scale(noise, scheduler.initNoiseSigma());
        } else {
            Tensor image = repeat(Images.toTensor(init), batch);
            double latentT = timesteps[0];
            if (!inpaint) {
                imageLatents = encodeImage(image, req.latentMode() == GenerationRequest.LatentMode.SAMPLE ? generator : null, scaling, tiling);
                debug.record("init_latents", imageLatents);
                noise = generator.randnTensor(latentShape);
                debug.record("noise", noise);
                latents = scheduler.addNoise(imageLatents, noise, latentT);
                debug.record("noisy_init_latents", latents);
            } else {
                boolean strengthMax = strength == 1.0;
                boolean legacy = unetChannels == latentChannels;
                if (legacy || !strengthMax) {
                    imageLatents = encodeImage(image, generator, scaling, tiling);
                    debug.record("image_latents", imageLatents);
                }
                noise = generator.randnTensor(latentShape);
                debug.record("noise", noise);
                latents = strengthMax ? scale(noise, scheduler.initNoiseSigma()) : scheduler.addNoise(imageLatents, noise, latentT);
                Tensor maskFull = repeat(Images.maskToTensor(maskImage), batch);
                Tensor maskedImage = maskImage(image, maskFull);
                debug.record("masked_image", maskedImage);
                maskLatent = backend.upsampleNearest(maskFull, h, w);
                debug.record("mask_latent", maskLatent);
                // Drawn even for a 4-channel U-Net that never uses it: the reference's generator order.
                maskedImageLatents = encodeImage(maskedImage, generator, scaling, tiling);
                debug.record("masked_image_latents", maskedImageLatents);
            }
        }
        debug.record("initial_latents", latents);

        // Denoising loop.
        boolean legacyInpaint = inpaint && unetChannels == latentChannels;
        Tensor maskIn = maskLatent == null ? null : (cfg ? concatBatch(maskLatent, maskLatent) : maskLatent);
        Tensor maskedIn = maskedImageLatents == null ? null : (cfg ? concatBatch(maskedImageLatents, maskedImageLatents) : maskedImageLatents);
        float g = (float) req.guidanceScale();
        List<Double> stepMillis = new ArrayList<>();
        for (int i = 0; i < timesteps.length; i++) {
            cancellation.check();
            long s0 = System.nanoTime();
            double t = timesteps[i];
            Tensor modelInput = cfg ? concatBatch(latents, latents) : latents;
            modelInput = scheduler.scaleModelInput(modelInput, t);
            if (unetChannels != latentChannels) {
                // The mask and masked-image latents are not scaled.
                modelInput = backend.concatChannels(backend.concatChannels(modelInput, maskIn), maskedIn);
            }
            if (i == 0) {
                debug.record("step0_model_input", modelInput);
            }
            Tensor noisePred = model.unet().forward(modelInput, new float[] {(float) t}, context);
            if (cfg) {
                Tensor uncond = firstHalf(noisePred);
                Tensor text = secondHalf(noisePred);
                if (i == 0) {
                    debug.record("step0_noise_pred_uncond", uncond);
                    debug.record("step0_noise_pred_text", text);
                }
                noisePred = guidance(uncond, text, g);
                if (req.guidanceRescale() > 0) {
                    noisePred = rescaleNoiseCfg(noisePred, text, (float) req.guidanceRescale());
                }
            } else if (i == 0) {
                debug.record("step0_noise_pred", noisePred);
            }
            Scheduler.StepOutput out = scheduler.step(noisePred, t, latents, generator);
            latents = out.prevSample();
            if (legacyInpaint) {
                Tensor proper = imageLatents;
                if (i < timesteps.length - 1) {
                    proper = scheduler.addNoise(imageLatents, noise, timesteps[i + 1]);
                }
                latents = blend(maskLatent, proper, latents);
            }
            debug.record("latents_after_step" + i, latents);
            double ms = (System.nanoTime() - s0) / 1e6;
            stepMillis.add(ms);
            listener.onStep(new ProgressListener.StepEvent(i, timesteps.length, t, latents, out.predOriginalSample(), ms));
        }
        return finish(latents, tiling, width, height, strength, init != null, textMillis, stepMillis);
    }

    /** Decodes the final latents (tiled or whole) and assembles the images, parameters and timings. */
    private GenerationResult finish(Tensor latents, boolean tiling, int width, int height, double strength,
                                    boolean usesInit, double textMillis, List<Double> stepMillis) {
        debug.record("final_latents", latents);
        cancellation.check();
        float scaling = (float) model.vae().config().scalingFactor();
        long d0 = System.nanoTime();
        Tensor scaled = divide(latents, scaling);
        Tensor decoded = tiling ? model.vae().decodeTiled(scaled) : model.vae().decode(scaled);
        double decodeMillis = (System.nanoTime() - d0) / 1e6;
        debug.record("decoded", decoded);

        List<BufferedImage> images = new ArrayList<>();
        List<String> parameters = new ArrayList<>();
        for (int b = 0; b < latents.dim(0); b++) {
            images.add(Images.toImage(decoded, b));
            parameters.add(GenerationParameters.format(request, model.name(), width, height, strength, usesInit,
                    model.loras().stream().map(l -> stem(l.path()) + ":" + GenerationParameters.trimScale(l.scale())).toList()));
        }
        return new GenerationResult(List.copyOf(images), latents, decoded, List.copyOf(parameters),
                new GenerationResult.Timings(textMillis, List.copyOf(stepMillis), decodeMillis));
    }

    private static String stem(java.nio.file.Path p) {
        String n = p.getFileName().toString();
        return n.endsWith(".safetensors") ? n.substring(0, n.length() - ".safetensors".length()) : n;
    }

    /**
     * txt2img/img2img with the request's k-diffusion-style sampler: the guided U-Net as a {@link DiscreteDenoiser}
     * on the model's training schedule, sigmas from the request's schedule name, initial latents {@code noise ×
     * sigmas[0]} (txt2img) or {@code init latents + noise × sigmas[0]} (img2img, the last {@code steps × strength}
     * sigmas). Draw order: init-image latents (img2img), the noise, then the sampler's own draws.
     */
    private GenerationResult runCustomSampler(BufferedImage init, Tensor context, boolean cfg, NoiseGenerator generator,
            int[] latentShape, int width, int height, double textMillis, boolean tiling) {
        GenerationRequest req = request;
        DiscreteSchedule schedule = DiscreteSchedule.of(model.schedulerConfig());
        double[] sigmas = schedule.schedule(req.schedule(), req.steps());
        double strength = Double.isNaN(req.strength()) ? 0.8 : req.strength();
        float scaling = (float) model.vae().config().scalingFactor();
        Tensor latents;
        if (init == null) {
            Tensor noise = req.initialNoise() != null ? checkShape("initial noise", req.initialNoise(), latentShape)
                    : generator.randnTensor(latentShape);
            latents = scale(noise, (float) sigmas[0]);
        } else {
            int steps = req.steps();
            int tStart = steps - Math.min((int) (steps * strength), steps);
            if (tStart >= steps) {
                throw new IllegalArgumentException("strength " + strength + " with " + steps + " steps leaves no step to run");
            }
            sigmas = Arrays.copyOfRange(sigmas, tStart, sigmas.length);
            Tensor image = repeat(Images.toTensor(init), latentShape[0]);
            Tensor imageLatents = encodeImage(image,
                    req.latentMode() == GenerationRequest.LatentMode.SAMPLE ? generator : null, scaling, tiling);
            Tensor noise = generator.randnTensor(latentShape);
            float[] x = imageLatents.toFloatArray();
            float[] n = noise.toFloatArray();
            for (int i = 0; i < x.length; i++) {
                x[i] += n[i] * (float) sigmas[0];
            }
            latents = Tensor.of(x, latentShape);
        }
        debug.record("initial_latents", latents);
        float g = (float) req.guidanceScale();
        DiscreteDenoiser denoiser = new DiscreteDenoiser(schedule, (in, t) -> {
            Tensor out = model.unet().forward(cfg ? concatBatch(in, in) : in, new float[] {(float) t}, context);
            if (!cfg) {
                return out;
            }
            Tensor guided = guidance(firstHalf(out), secondHalf(out), g);
            return req.guidanceRescale() > 0 ? rescaleNoiseCfg(guided, secondHalf(out), (float) req.guidanceRescale()) : guided;
        }, model.schedulerConfig().getString("prediction_type", "epsilon"));
        List<Double> stepMillis = new ArrayList<>();
        long[] last = {System.nanoTime()};
        SamplerCallback callback = step -> {
            long now = System.nanoTime();
            double ms = (now - last[0]) / 1e6;
            last[0] = now;
            stepMillis.add(ms);
            debug.record("latents_after_step" + step.index(), step.latents());
            listener.onStep(new ProgressListener.StepEvent(step.index(), step.steps(), schedule.sigmaToT(step.sigma()),
                    step.latents(), step.denoised(), ms));
            cancellation.check();
        };
        cancellation.check();
        latents = req.customSampler().sample(denoiser, sigmas, latents, generator, callback);
        return finish(latents, tiling, width, height, strength, init != null, textMillis, stepMillis);
    }

    private Tensor encodePrompt(String prompt, int clipSkip) {
        CLIPTokenizer tok = model.tokenizer();
        CLIPTokenizer.Encoded enc = tok.inputIds(prompt);
        if (enc.truncated()) {
            LOG.log(System.Logger.Level.WARNING, "the prompt is longer than " + (tok.maxLength() - 2)
                    + " tokens and was cut: " + enc.tokenCount() + " tokens");
        }
        return model.textEncoder().encode(new int[][] {enc.inputIds()}, clipSkip);
    }

    /** {@code scaling_factor × latent_dist.sample(generator)}, or × the mode when {@code generator} is null. */
    private Tensor encodeImage(Tensor image, NoiseGenerator generator, float scaling, boolean tiling) {
        var dist = tiling ? model.vae().encodeTiled(image) : model.vae().encode(image);
        Tensor z = generator == null ? dist.mode() : dist.sample(generator.randnTensor(dist.mean().shape().dims()));
        return scale(z, scaling);
    }

    private static Tensor checkShape(String what, Tensor t, int[] shape) {
        if (!Arrays.equals(t.shape().dims(), shape)) {
            throw new IllegalArgumentException(what + " has shape " + t.shape() + ", expected " + Arrays.toString(shape));
        }
        return t;
    }

    private static Tensor doubles(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return Tensor.of(f, v.length);
    }

    // Small latent-space arithmetic (a few thousand elements), in float32 in the reference's operation order.

    private static Tensor scale(Tensor x, float s) {
        float[] a = x.toFloatArray();
        for (int i = 0; i < a.length; i++) {
            a[i] *= s;
        }
        return Tensor.of(a, x.shape().dims());
    }

    private static Tensor divide(Tensor x, float s) {
        float[] a = x.toFloatArray();
        for (int i = 0; i < a.length; i++) {
            a[i] /= s;
        }
        return Tensor.of(a, x.shape().dims());
    }

    /** {@code u + g · (c − u)}. */
    private static Tensor guidance(Tensor uncond, Tensor cond, float g) {
        float[] u = uncond.toFloatArray();
        float[] c = cond.toFloatArray();
        for (int i = 0; i < u.length; i++) {
            u[i] = u[i] + g * (c[i] - u[i]);
        }
        return Tensor.of(u, uncond.shape().dims());
    }

    /**
     * diffusers' {@code rescale_noise_cfg}: per sample, {@code r = cfg · std(text) / std(cfg)}, result
     * {@code φ · r + (1 − φ) · cfg}; std is torch's default unbiased std over all dims but the batch.
     */
    static Tensor rescaleNoiseCfg(Tensor cfg, Tensor text, float phi) {
        float[] c = cfg.toFloatArray();
        float[] t = text.toFloatArray();
        int b = cfg.dim(0);
        int per = c.length / b;
        float[] out = new float[c.length];
        for (int n = 0; n < b; n++) {
            int off = n * per;
            float ratio = (float) (std(t, off, per) / std(c, off, per));
            for (int i = off; i < off + per; i++) {
                float rescaled = c[i] * ratio;
                out[i] = phi * rescaled + (1f - phi) * c[i];
            }
        }
        return Tensor.of(out, cfg.shape().dims());
    }

    /** Unbiased standard deviation of {@code a[off, off + n)} (double accumulation). */
    private static double std(float[] a, int off, int n) {
        double mean = 0;
        for (int i = off; i < off + n; i++) {
            mean += a[i];
        }
        mean /= n;
        double ss = 0;
        for (int i = off; i < off + n; i++) {
            double d = a[i] - mean;
            ss += d * d;
        }
        return Math.sqrt(ss / (n - 1));
    }

    /** {@code (1 − mask) · proper + mask · latents}, mask {@code [B, 1, h, w]} broadcast over channels. */
    private static Tensor blend(Tensor mask, Tensor proper, Tensor latents) {
        int b = latents.dim(0);
        int c = latents.dim(1);
        int hw = latents.dim(2) * latents.dim(3);
        float[] m = mask.toFloatArray();
        float[] p = proper.toFloatArray();
        float[] l = latents.toFloatArray();
        float[] out = new float[l.length];
        for (int n = 0; n < b; n++) {
            for (int ch = 0; ch < c; ch++) {
                for (int i = 0; i < hw; i++) {
                    int idx = (n * c + ch) * hw + i;
                    float mv = m[n * hw + i];
                    out[idx] = (1f - mv) * p[idx] + mv * l[idx];
                }
            }
        }
        return Tensor.of(out, latents.shape().dims());
    }

    /** {@code image · (mask < 0.5)}: masked pixels become 0 (mid-grey in [-1, 1]). */
    private static Tensor maskImage(Tensor image, Tensor mask) {
        int b = image.dim(0);
        int c = image.dim(1);
        int hw = image.dim(2) * image.dim(3);
        float[] im = image.toFloatArray();
        float[] m = mask.toFloatArray();
        for (int n = 0; n < b; n++) {
            for (int ch = 0; ch < c; ch++) {
                for (int i = 0; i < hw; i++) {
                    if (!(m[n * hw + i] < 0.5f)) {
                        im[(n * c + ch) * hw + i] = 0f;
                    }
                }
            }
        }
        return Tensor.of(im, image.shape().dims());
    }

    private static Tensor repeat(Tensor x, int times) {
        if (times == 1) {
            return x;
        }
        float[] a = x.toFloatArray();
        float[] out = new float[a.length * times];
        for (int i = 0; i < times; i++) {
            System.arraycopy(a, 0, out, i * a.length, a.length);
        }
        int[] dims = x.shape().dims();
        dims[0] *= times;
        return Tensor.of(out, dims);
    }

    private static Tensor concatBatch(Tensor a, Tensor b) {
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        float[] out = Arrays.copyOf(x, x.length + y.length);
        System.arraycopy(y, 0, out, x.length, y.length);
        int[] dims = a.shape().dims();
        dims[0] += b.dim(0);
        return Tensor.of(out, dims);
    }

    private static Tensor firstHalf(Tensor x) {
        int[] dims = x.shape().dims();
        dims[0] /= 2;
        return Tensor.of(Arrays.copyOf(x.toFloatArray(), (int) (x.numel() / 2)), dims);
    }

    private static Tensor secondHalf(Tensor x) {
        int[] dims = x.shape().dims();
        dims[0] /= 2;
        float[] a = x.toFloatArray();
        return Tensor.of(Arrays.copyOfRange(a, a.length / 2, a.length), dims);
    }
}
