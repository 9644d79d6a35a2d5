package dev.diffusion4j.core;

import dev.diffusion4j.nn.Probe;
import dev.diffusion4j.nn.clip.CLIPTokenizer;
import dev.diffusion4j.nn.controlnet.ControlNetModel;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
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
import dev.diffusion4j.tensor.TensorScope;
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
    /** SDXL's added conditioning for the whole U-Net batch (null for SD 1.x/2.x), set with the text embeddings. */
    private UNet2DConditionModel.AddedCond added;

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

    /** The job's pool of recycled activations while {@link #run} runs. */
    private TensorScope.Retention recycled;

    GenerationResult run() {
        // One pool of recycled activations over the denoising loop: each step's U-Net call takes the buffers the
        // previous one gave back instead of allocating them again.
        try (TensorScope.Retention pool = TensorScope.retainPool()) {
            recycled = pool;
            return generate();
        } finally {
            recycled = null;
        }
    }

    private GenerationResult generate() {
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
        boolean tiling = tilingFor(width, height);
        NoiseGenerator generator = req.rng() == GenerationRequest.Rng.TORCH
                ? new TorchGenerator(req.seed()) : new FastNoiseGenerator(req.seed());

        // Text.
        long t0 = System.nanoTime();
        Tensor context;
        if (model.sdxl() != null) {
            SdxlConditioning.Conditioning c = model.sdxl().encode(model.tokenizer(), model.textEncoder(), req, cfg,
                    width, height, debug);
            context = c.context();
            added = c.added();
        } else {
            Tensor promptEmbeds = encodePrompt(req.prompt(), req.clipSkip());
            debug.record("prompt_embeds", promptEmbeds);
            context = repeat(promptEmbeds, batch);
            if (cfg) {
                // diffusers 0.27.2 encodes the negative prompt without clip skip; kept for parity.
                Tensor negativeEmbeds = encodePrompt(req.negativePrompt(), 1);
                debug.record("negative_prompt_embeds", negativeEmbeds);
                context = concatBatch(repeat(negativeEmbeds, batch), context);
            }
        }
        double textMillis = (System.nanoTime() - t0) / 1e6;
        model.weightPages().text().run();
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

        List<Control> controls = prepareControls(width, height, batch, cfg, timesteps.length);

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
            Tensor controlInput = modelInput;
            if (unetChannels != latentChannels) {
                // The mask and masked-image latents are not scaled.
                modelInput = backend.concatChannels(backend.concatChannels(modelInput, maskIn), maskedIn);
            }
            if (i == 0) {
                debug.record("step0_model_input", modelInput);
            }
            Tensor noisePred = unetWithControl(modelInput, controlInput, t, context, cfg, controls, i, timesteps.length);
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
            debug.record("noise_pred_step" + i, noisePred);
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
        int baseWidth = width;
        int baseHeight = height;
        if (!Double.isNaN(req.hiresScale())) {
            debug.record("base_final_latents", latents);
            width = (int) (width * req.hiresScale()) / 8 * 8;
            height = (int) (height * req.hiresScale()) / 8 * 8;
            if (added != null) {
                // SDXL: the hires pass is conditioned on its own size (original and target default to it).
                added = new UNet2DConditionModel.AddedCond(added.textEmbeds(),
                        SdxlConditioning.timeIdsRows(req, width, height, added.timeIds().dim(0)));
            }
            latents = hiresPass(latents, context, cfg, width, height, stepMillis);
            tiling = tilingFor(width, height);
        }
        return finish(latents, tiling, baseWidth, baseHeight, strength, init != null, textMillis, stepMillis);
    }

    /**
     * Decodes the final latents (TAESD, tiled or whole) and assembles the images, parameters and timings;
     * {@code width}/{@code height} are the requested size the parameters report.
     */
    private GenerationResult finish(Tensor latents, boolean tiling, int width, int height, double strength,
                                    boolean usesInit, double textMillis, List<Double> stepMillis) {
        debug.record("final_latents", latents);
        cancellation.check();
        float scaling = (float) model.vae().config().scalingFactor();
        model.weightPages().unet().run();
        if (recycled != null) {
            // The decode recycles block by block as before: its activations (up to 268 MB each at 512x512) kept in
            // the pool from block to block would crowd its own out of the heap and cost full collections.
            recycled.close();
        }
        long d0 = System.nanoTime();
        Tensor decoded;
        if (request.vaeDecoder() == GenerationRequest.VaeDecoder.TAESD) {
            // TAESD works in the scaled latent space: no division by the scaling factor.
            decoded = requireTaesd().decode(latents);
        } else {
            Tensor scaled = divide(latents, scaling);
            decoded = tiling ? model.vae().decodeTiled(scaled) : model.vae().decode(scaled);
        }
        double decodeMillis = (System.nanoTime() - d0) / 1e6;
        model.weightPages().vae().run();
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
            Tensor out = model.unet().forward(cfg ? concatBatch(in, in) : in, new float[] {(float) t}, context, added,
                    null, null, Probe.NONE);
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

    private dev.diffusion4j.nn.vae.AutoencoderTiny requireTaesd() {
        var taesd = model.taesd();
        if (taesd == null) {
            throw new IllegalArgumentException("the TAESD decoder was asked for but none is loaded (StableDiffusion.loadTaesd, sd --taesd)");
        }
        return taesd;
    }

    /** The request's guess mode, forced on by a globally pooled (first) ControlNet, as diffusers does. */
    private boolean guessMode() {
        List<GenerationRequest.ControlNet> nets = request.controlNets();
        return request.guessMode() || (!nets.isEmpty() && nets.getFirst().model().config().globalPoolConditions());
    }

    /** A ControlNet ready for the loop: its control image, as the guidance batch, already embedded (once per run). */
    private record Control(ControlNetModel model, Tensor embedding, float scale, double start, double end) {
        /** diffusers' {@code controlnet_keep}: 1 inside the guidance window, 0 outside. */
        float scaleAt(int i, int n) {
            boolean off = (double) i / n < start || (double) (i + 1) / n > end;
            return off ? 0f : scale;
        }
    }

    /**
     * Control images as diffusers' {@code prepare_image}: resized to the generation size when they differ, RGB
     * {@code / 255} (no [-1, 1]), repeated per image of the batch and doubled for the guidance batch (not in guess
     * mode, where the ControlNets see only the conditional half).
     */
    private List<Control> prepareControls(int width, int height, int batch, boolean cfg, int steps) {
        List<Control> out = new ArrayList<>();
        for (GenerationRequest.ControlNet c : request.controlNets()) {
            BufferedImage img = c.image();
            if (img.getWidth() != width || img.getHeight() != height) {
                img = resize(img, width, height);
            }
            int[][] rgb = Images.rgbSamples(img);
            int plane = width * height;
            float[] px = new float[3 * plane];
            for (int ch = 0; ch < 3; ch++) {
                for (int i = 0; i < plane; i++) {
                    px[ch * plane + i] = rgb[ch][i] / 255f;
                }
            }
            Tensor image = Tensor.of(px, 1, 3, height, width);
            if (out.isEmpty()) {
                debug.record("control_image_preprocessed", image);
            }
            image = repeat(image, batch);
            if (cfg && !guessMode()) {
                image = concatBatch(image, image);
            }
            out.add(new Control(c.model(), c.model().conditioningEmbedding(image), (float) c.scale(), c.start(), c.end()));
        }
        if (!out.isEmpty()) {
            float[] scales = new float[steps];
            for (int i = 0; i < scales.length; i++) {
                scales[i] = out.getFirst().scaleAt(i, scales.length);
            }
            debug.record("controlnet_scale_per_step", Tensor.of(scales, scales.length));
        }
        return out;
    }

    /**
     * The U-Net's prediction with the ControlNets' summed residuals (diffusers' MultiControlNet). A ControlNet outside
     * its window would contribute residuals × 0, so it is not run at all (adding zeros changes nothing).
     *
     * @param controlInput the scaled latents (without inpainting channels) the ControlNets see
     */
    private Tensor unetWithControl(Tensor modelInput, Tensor controlInput, double t, Tensor context, boolean cfg,
                                   List<Control> controls, int step, int steps) {
        float[] ts = {(float) t};
        List<Tensor> down = null;
        Tensor mid = null;
        boolean guess = guessMode() && cfg;
        // SDXL: in guess mode the ControlNets see the conditional half of the added conditioning too.
        UNet2DConditionModel.AddedCond controlAdded = added == null || !guess ? added
                : new UNet2DConditionModel.AddedCond(secondHalf(added.textEmbeds()), secondHalf(added.timeIds()));
        for (Control c : controls) {
            float scale = c.scaleAt(step, steps);
            if (scale == 0f) {
                continue;
            }
            ControlNetModel.Output r = guess
                    ? c.model().forwardEmbedded(secondHalf(controlInput), ts, secondHalf(context), controlAdded,
                            c.embedding(), scale, true, Probe.NONE)
                    : c.model().forwardEmbedded(controlInput, ts, context, controlAdded, c.embedding(), scale, guessMode(),
                            Probe.NONE);
            List<Tensor> d = r.downBlockResSamples();
            Tensor m = r.midBlockResSample();
            if (guess) {
                // The unconditional half gets no control.
                List<Tensor> padded = new ArrayList<>();
                for (Tensor x : d) {
                    padded.add(concatBatch(Tensor.zeros(x.shape()), x));
                }
                d = padded;
                m = concatBatch(Tensor.zeros(m.shape()), m);
            }
            if (down == null) {
                down = new ArrayList<>(d);
                mid = m;
            } else {
                for (int j = 0; j < down.size(); j++) {
                    down.set(j, backend.add(down.get(j), d.get(j)));
                }
                mid = backend.add(mid, m);
            }
        }
        return model.unet().forward(modelInput, ts, context, added, down, mid, Probe.NONE);
    }

    /**
     * A1111's hires fix second pass: enlarge the first pass's latents (bilinear in latent space, or decode / resize /
     * encode), then img2img at the new size with diffusers' img2img semantics and the pass's own generator.
     */
    private Tensor hiresPass(Tensor baseLatents, Tensor context, boolean cfg, int width, int height, List<Double> stepMillis) {
        GenerationRequest req = request;
        long seed = req.hiresSeed() != null ? req.hiresSeed() : req.seed() + 1;
        NoiseGenerator generator = req.rng() == GenerationRequest.Rng.TORCH ? new TorchGenerator(seed) : new FastNoiseGenerator(seed);
        float scaling = (float) model.vae().config().scalingFactor();
        int h = height / 8;
        int w = width / 8;
        Tensor upscaled;
        if (req.hiresUpscaler() == GenerationRequest.HiresUpscaler.LATENT) {
            upscaled = bilinear(baseLatents, h, w);
        } else {
            Tensor decoded = model.vae().decode(divide(baseLatents, scaling));
            Tensor images = null;
            for (int b = 0; b < decoded.dim(0); b++) {
                Tensor one = Images.toTensor(resize(Images.toImage(decoded, b), width, height));
                images = images == null ? one : concatBatch(images, one);
            }
            upscaled = encodeImage(images, req.latentMode() == GenerationRequest.LatentMode.SAMPLE ? generator : null, scaling,
                    tilingFor(width, height));
        }
        debug.record("upscaled_latents", upscaled);

        Scheduler scheduler = SamplerCatalog.create(req.sampler(), req.schedule(), req.spacing(), model.schedulerConfig());
        int steps = req.hiresSteps() != null ? req.hiresSteps() : req.steps();
        scheduler.setTimesteps(steps);
        double[] timesteps = scheduler.timesteps();
        int initTimestep = Math.min((int) (steps * req.hiresStrength()), steps);
        int begin = Math.max(steps - initTimestep, 0) * scheduler.order();
        timesteps = Arrays.copyOfRange(timesteps, Math.min(begin, timesteps.length), timesteps.length);
        if (timesteps.length == 0) {
            throw new IllegalArgumentException("hires strength " + req.hiresStrength() + " with " + steps
                    + " steps leaves no step to run");
        }
        scheduler.setBeginIndex(begin);
        debug.record("img2img_timesteps", doubles(timesteps));
        Tensor noise = generator.randnTensor(upscaled.shape().dims());
        debug.record("img2img_noise", noise);
        Tensor latents = scheduler.addNoise(upscaled, noise, timesteps[0]);
        debug.record("img2img_noised_init_latents", latents);

        List<Control> controls = prepareControls(width, height, upscaled.dim(0), cfg, timesteps.length);
        float g = (float) req.guidanceScale();
        for (int i = 0; i < timesteps.length; i++) {
            cancellation.check();
            long s0 = System.nanoTime();
            double t = timesteps[i];
            Tensor modelInput = scheduler.scaleModelInput(cfg ? concatBatch(latents, latents) : latents, t);
            Tensor noisePred = unetWithControl(modelInput, modelInput, t, context, cfg, controls, i, timesteps.length);
            if (cfg) {
                noisePred = guidance(firstHalf(noisePred), secondHalf(noisePred), g);
            }
            Scheduler.StepOutput out = scheduler.step(noisePred, t, latents, generator);
            latents = out.prevSample();
            debug.record("img2img_latents_after_step" + i, latents);
            double ms = (System.nanoTime() - s0) / 1e6;
            stepMillis.add(ms);
            listener.onStep(new ProgressListener.StepEvent(i, timesteps.length, t, latents, out.predOriginalSample(), ms));
        }
        return latents;
    }

    /** Bicubic resize (control images, the hires fix's image upscaler). */
    static BufferedImage resize(BufferedImage src, int width, int height) {
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        java.awt.Graphics2D g = out.createGraphics();
        try {
            g.setRenderingHint(java.awt.RenderingHints.KEY_INTERPOLATION, java.awt.RenderingHints.VALUE_INTERPOLATION_BICUBIC);
            g.setRenderingHint(java.awt.RenderingHints.KEY_RENDERING, java.awt.RenderingHints.VALUE_RENDER_QUALITY);
            g.drawImage(src, 0, 0, width, height, null);
        } finally {
            g.dispose();
        }
        return out;
    }

    /**
     * {@code F.interpolate(x, size=(outH, outW), mode="bilinear", align_corners=False)} on small latents: source
     * coordinate {@code (dst + 0.5) · in/out − 0.5}, clamped at 0, the upper neighbour clamped to the edge.
     */
    static Tensor bilinear(Tensor x, int outH, int outW) {
        int n = x.dim(0) * x.dim(1);
        int inH = x.dim(2);
        int inW = x.dim(3);
        float[] a = x.toFloatArray();
        float[] out = new float[n * outH * outW];
        float sh = (float) inH / outH;
        float sw = (float) inW / outW;
        for (int p = 0; p < n; p++) {
            int src = p * inH * inW;
            int dst = p * outH * outW;
            for (int oy = 0; oy < outH; oy++) {
                float fy = Math.max(sh * (oy + 0.5f) - 0.5f, 0f);
                int y0 = (int) fy;
                int y1 = y0 < inH - 1 ? y0 + 1 : y0;
                float ly1 = fy - y0;
                float ly0 = 1f - ly1;
                for (int ox = 0; ox < outW; ox++) {
                    float fx = Math.max(sw * (ox + 0.5f) - 0.5f, 0f);
                    int x0 = (int) fx;
                    int x1 = x0 < inW - 1 ? x0 + 1 : x0;
                    float lx1 = fx - x0;
                    float lx0 = 1f - lx1;
                    out[dst + oy * outW + ox] = ly0 * (lx0 * a[src + y0 * inW + x0] + lx1 * a[src + y0 * inW + x1])
                            + ly1 * (lx0 * a[src + y1 * inW + x0] + lx1 * a[src + y1 * inW + x1]);
                }
            }
        }
        return Tensor.of(out, x.dim(0), x.dim(1), outH, outW);
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

    /** The request's VAE tiling, or automatic: on above 1024 × 1024 pixels (diffusers never tiles by default). */
    private boolean tilingFor(int width, int height) {
        return request.vaeTiling() != null ? request.vaeTiling() : (long) width * height > 1024L * 1024;
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

    static Tensor repeat(Tensor x, int times) {
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

    static Tensor concatBatch(Tensor a, Tensor b) {
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
