package dev.diffusion4j.core;

import dev.diffusion4j.samplers.kdiffusion.Sampler;
import dev.diffusion4j.nn.controlnet.ControlNetModel;
import dev.diffusion4j.tensor.Tensor;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What to generate: an immutable request, built with {@link #builder()}. Unset values take the defaults of
 * diffusers' {@code StableDiffusionPipeline} (see each builder method), so the same request gives the same image
 * as the reference.
 *
 * <p>txt2img by default; with an {@linkplain Builder#initImage init image}, img2img; with an init image and a
 * {@linkplain Builder#mask mask}, inpainting; with {@linkplain Builder#outpaint outpaint} margins, the init image is
 * placed on a larger canvas and the margins are inpainted.
 */
public final class GenerationRequest {
    /** Which random number generator draws the noise. */
    public enum Rng {
        /** Bit-exact with {@code torch.Generator().manual_seed(seed)} on the CPU: the reference's images. */
        TORCH,
        /** A fast generator; images differ from the reference's. */
        FAST
    }

    /** How the init image's latent distribution is read in img2img. */
    public enum LatentMode {
        /** {@code latent_dist.sample(generator)}: diffusers' default, draws from the request's generator. */
        SAMPLE,
        /** {@code latent_dist.mode()}: the mean, no draw. */
        MODE
    }

    /**
     * One ControlNet and its control image (diffusers' {@code StableDiffusionControlNetPipeline} arguments).
     *
     * @param model the ControlNet ({@link StableDiffusion#loadControlNet})
     * @param image the control image (edges, depth...); resized to the generation size when it differs, then read as
     *     RGB {@code / 255} (no [-1, 1] normalisation)
     * @param scale {@code controlnet_conditioning_scale}: multiplies the ControlNet's residuals (1.0 usual)
     * @param start {@code control_guidance_start}: the fraction of steps before which the ControlNet is off
     * @param end {@code control_guidance_end}: the fraction of steps after which it is off again; step {@code i} of
     *     {@code N} uses it when {@code i/N >= start} and {@code (i+1)/N <= end}
     */
    public record ControlNet(ControlNetModel model, BufferedImage image, double scale, double start, double end) {
        /** Checks the arguments: a model and an image, a finite scale, {@code 0 <= start < end <= 1}. */
        public ControlNet {
            Objects.requireNonNull(model, "ControlNet model");
            Objects.requireNonNull(image, "control image");
            if (!Double.isFinite(scale)) {
                throw new IllegalArgumentException("control scale must be finite, got " + scale);
            }
            if (!(start >= 0 && start < end && end <= 1)) {
                throw new IllegalArgumentException("control start/end must satisfy 0 <= start < end <= 1, got "
                        + start + ", " + end);
            }
        }

        /** A ControlNet used at {@code scale} over every step. */
        public ControlNet(ControlNetModel model, BufferedImage image, double scale) {
            this(model, image, scale, 0, 1);
        }
    }

    /** Which decoder turns the final latents into the image. */
    public enum VaeDecoder {
        /** The model's own VAE ({@code AutoencoderKL}): the reference's image. */
        FULL,
        /** TAESD ({@link StableDiffusion#loadTaesd}): much faster, slightly softer. */
        TAESD
    }

    /** How the hires fix enlarges the first pass. */
    public enum HiresUpscaler {
        /** Bilinear interpolation of the latents ({@code F.interpolate(mode="bilinear")}, A1111's "Latent"). */
        LATENT,
        /** Decode, bicubic image resize, encode again (sharper, one VAE round trip more). */
        IMAGE
    }

    private final String prompt;
    private final String negativePrompt;
    private final Integer width;
    private final Integer height;
    private final int steps;
    private final double guidanceScale;
    private final String sampler;
    private final String schedule;
    private final String spacing;
    private final long seed;
    private final Rng rng;
    private final int batchSize;
    private final int clipSkip;
    private final BufferedImage initImage;
    private final double strength;
    private final LatentMode latentMode;
    private final BufferedImage mask;
    private final int maskBlur;
    private final int[] outpaint;
    private final Tensor initialNoise;
    private final double guidanceRescale;
    private final Boolean vaeTiling;
    private final Sampler customSampler;
    private final List<ControlNet> controlNets;
    private final boolean guessMode;
    private final VaeDecoder vaeDecoder;
    private final double hiresScale;
    private final double hiresStrength;
    private final Integer hiresSteps;
    private final Long hiresSeed;
    private final HiresUpscaler hiresUpscaler;

    private GenerationRequest(Builder b) {
        this.prompt = b.prompt;
        this.negativePrompt = b.negativePrompt;
        this.width = b.width;
        this.height = b.height;
        this.steps = b.steps;
        this.guidanceScale = b.guidanceScale;
        this.sampler = b.sampler;
        this.schedule = b.schedule;
        this.spacing = b.spacing;
        this.seed = b.seed;
        this.rng = b.rng;
        this.batchSize = b.batchSize;
        this.clipSkip = b.clipSkip;
        this.initImage = b.initImage;
        this.strength = b.strength;
        this.latentMode = b.latentMode;
        this.mask = b.mask;
        this.maskBlur = b.maskBlur;
        this.outpaint = b.outpaint == null ? null : b.outpaint.clone();
        this.initialNoise = b.initialNoise;
        this.guidanceRescale = b.guidanceRescale;
        this.vaeTiling = b.vaeTiling;
        this.customSampler = b.customSampler;
        this.controlNets = List.copyOf(b.controlNets);
        this.guessMode = b.guessMode;
        this.vaeDecoder = b.vaeDecoder;
        this.hiresScale = b.hiresScale;
        this.hiresStrength = b.hiresStrength;
        this.hiresSteps = b.hiresSteps;
        this.hiresSeed = b.hiresSeed;
        this.hiresUpscaler = b.hiresUpscaler;
    }

    /** A builder with every value at its default. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this request's values. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.prompt = prompt;
        b.negativePrompt = negativePrompt;
        b.width = width;
        b.height = height;
        b.steps = steps;
        b.guidanceScale = guidanceScale;
        b.sampler = sampler;
        b.schedule = schedule;
        b.spacing = spacing;
        b.seed = seed;
        b.rng = rng;
        b.batchSize = batchSize;
        b.clipSkip = clipSkip;
        b.initImage = initImage;
        b.strength = strength;
        b.latentMode = latentMode;
        b.mask = mask;
        b.maskBlur = maskBlur;
        b.outpaint = outpaint == null ? null : outpaint.clone();
        b.initialNoise = initialNoise;
        b.guidanceRescale = guidanceRescale;
        b.vaeTiling = vaeTiling;
        b.customSampler = customSampler;
        b.controlNets = new ArrayList<>(controlNets);
        b.guessMode = guessMode;
        b.vaeDecoder = vaeDecoder;
        b.hiresScale = hiresScale;
        b.hiresStrength = hiresStrength;
        b.hiresSteps = hiresSteps;
        b.hiresSeed = hiresSeed;
        b.hiresUpscaler = hiresUpscaler;
        return b;
    }

    /**
     * diffusers' {@code guidance_rescale} φ in [0, 1] (0 = off): after classifier-free guidance the noise prediction
     * becomes {@code φ · cfg · std(text)/std(cfg) + (1 − φ) · cfg} (Lin et al. 2023, "Common Diffusion Noise
     * Schedules and Sample Steps are Flawed"), std = unbiased std over C, H, W per sample.
     */
    public double guidanceRescale() {
        return guidanceRescale;
    }

    public String prompt() {
        return prompt;
    }

    /** The negative prompt ("" when none). */
    public String negativePrompt() {
        return negativePrompt;
    }

    /** The width, or null for the model's default (its {@code sample_size} × 8, or the init image's). */
    public Integer width() {
        return width;
    }

    /** The height, or null for the model's default. */
    public Integer height() {
        return height;
    }

    public int steps() {
        return steps;
    }

    public double guidanceScale() {
        return guidanceScale;
    }

    /** The sampler name ({@code SamplerCatalog}), or null for the model's own scheduler. */
    public String sampler() {
        return sampler;
    }

    /** The schedule name, or null for "default". */
    public String schedule() {
        return schedule;
    }

    /** The timestep spacing override, or null. */
    public String spacing() {
        return spacing;
    }

    public long seed() {
        return seed;
    }

    public Rng rng() {
        return rng;
    }

    public int batchSize() {
        return batchSize;
    }

    /** A1111's clip skip: 1 = the last layer (default), 2 = the penultimate. */
    public int clipSkip() {
        return clipSkip;
    }

    /** The init image (img2img, inpainting), or null. */
    public BufferedImage initImage() {
        return initImage;
    }

    public double strength() {
        return strength;
    }

    public LatentMode latentMode() {
        return latentMode;
    }

    /** The inpainting mask (white = repaint), or null. */
    public BufferedImage mask() {
        return mask;
    }

    public int maskBlur() {
        return maskBlur;
    }

    /** Outpainting margins {left, right, top, bottom} in pixels, or null. */
    public int[] outpaint() {
        return outpaint == null ? null : outpaint.clone();
    }

    /** Caller-supplied initial noise (then no draw is made for it), or null. */
    public Tensor initialNoise() {
        return initialNoise;
    }

    /** VAE tiling: true, false, or null for automatic (on above 1024 × 1024 pixels). */
    public Boolean vaeTiling() {
        return vaeTiling;
    }

    /** The research sampler that replaces the diffusers scheduler, or null. */
    public Sampler customSampler() {
        return customSampler;
    }

    /** The ControlNets, in the order given (empty: none). */
    public List<ControlNet> controlNets() {
        return controlNets;
    }

    /** diffusers' ControlNet guess mode (see {@link Builder#guessMode}). */
    public boolean guessMode() {
        return guessMode;
    }

    /** The decoder of the final image. */
    public VaeDecoder vaeDecoder() {
        return vaeDecoder;
    }

    /** The hires fix's enlargement factor, or NaN when the hires fix is off. */
    public double hiresScale() {
        return hiresScale;
    }

    /** The hires pass's img2img strength. */
    public double hiresStrength() {
        return hiresStrength;
    }

    /** The hires pass's step count before the strength cut, or null for {@link #steps()}. */
    public Integer hiresSteps() {
        return hiresSteps;
    }

    /** The hires pass's seed (its own generator), or null for {@code seed + 1}. */
    public Long hiresSeed() {
        return hiresSeed;
    }

    /** How the hires fix enlarges the first pass. */
    public HiresUpscaler hiresUpscaler() {
        return hiresUpscaler;
    }

    /** The kind of generation this request asks for. */
    public String mode() {
        if (outpaint != null) {
            return "outpaint";
        }
        if (mask != null) {
            return "inpaint";
        }
        return initImage != null ? "img2img" : "txt2img";
    }

    /** Builds a {@link GenerationRequest}; every setter validates its argument at once. */
    public static final class Builder {
        private String prompt = "";
        private String negativePrompt = "";
        private Integer width;
        private Integer height;
        private int steps = 50;
        private double guidanceScale = 7.5;
        private String sampler;
        private String schedule;
        private String spacing;
        private long seed;
        private Rng rng = Rng.TORCH;
        private int batchSize = 1;
        private int clipSkip = 1;
        private BufferedImage initImage;
        private double strength = Double.NaN;
        private LatentMode latentMode = LatentMode.SAMPLE;
        private BufferedImage mask;
        private int maskBlur;
        private int[] outpaint;
        private Tensor initialNoise;
        private double guidanceRescale;
        private Boolean vaeTiling;
        private Sampler customSampler;
        private List<ControlNet> controlNets = new ArrayList<>();
        private boolean guessMode;
        private VaeDecoder vaeDecoder = VaeDecoder.FULL;
        private double hiresScale = Double.NaN;
        private double hiresStrength = 0.5;
        private Integer hiresSteps;
        private Long hiresSeed;
        private HiresUpscaler hiresUpscaler = HiresUpscaler.LATENT;

        private Builder() {
        }

        /** The prompt (default ""). */
        public Builder prompt(String v) {
            this.prompt = Objects.requireNonNull(v, "prompt");
            return this;
        }

        /** The negative prompt (default ""; used only with guidance scale > 1). */
        public Builder negativePrompt(String v) {
            this.negativePrompt = v == null ? "" : v;
            return this;
        }

        /** Width in pixels, a positive multiple of 8 (default: the model's {@code sample_size} × 8). */
        public Builder width(int v) {
            this.width = checkSize("width", v);
            return this;
        }

        /** Height in pixels, a positive multiple of 8 (default: the model's {@code sample_size} × 8). */
        public Builder height(int v) {
            this.height = checkSize("height", v);
            return this;
        }

        private static int checkSize(String what, int v) {
            if (v <= 0 || v % 8 != 0) {
                throw new IllegalArgumentException(what + " must be a positive multiple of 8, got " + v);
            }
            return v;
        }

        /** Inference steps (default 50). */
        public Builder steps(int v) {
            if (v < 1) {
                throw new IllegalArgumentException("steps must be >= 1, got " + v);
            }
            this.steps = v;
            return this;
        }

        /** Classifier-free guidance scale (default 7.5; guidance is off when ≤ 1). */
        public Builder guidanceScale(double v) {
            if (!Double.isFinite(v)) {
                throw new IllegalArgumentException("guidance scale must be finite, got " + v);
            }
            this.guidanceScale = v;
            return this;
        }

        /** Sampler name (default: the model's scheduler config). */
        public Builder sampler(String v) {
            this.sampler = v;
            return this;
        }

        /** Schedule name: "default", "karras" or "exponential" (default "default"). */
        public Builder schedule(String v) {
            this.schedule = v;
            return this;
        }

        /** Timestep spacing override: leading, linspace or trailing (default: the scheduler's). */
        public Builder spacing(String v) {
            this.spacing = v;
            return this;
        }

        /** Seed of the generator (default 0). */
        public Builder seed(long v) {
            this.seed = v;
            return this;
        }

        /** The generator kind (default {@link Rng#TORCH}). */
        public Builder rng(Rng v) {
            this.rng = Objects.requireNonNull(v, "rng");
            return this;
        }

        /** Images per request (default 1), generated as one batch. */
        public Builder batchSize(int v) {
            if (v < 1) {
                throw new IllegalArgumentException("batch size must be >= 1, got " + v);
            }
            this.batchSize = v;
            return this;
        }

        /** A1111's clip skip (default 1 = last layer; 2 = penultimate, diffusers' {@code clip_skip=1}). */
        public Builder clipSkip(int v) {
            if (v < 1) {
                throw new IllegalArgumentException("clip skip must be >= 1, got " + v);
            }
            this.clipSkip = v;
            return this;
        }

        /** Init image for img2img or inpainting. */
        public Builder initImage(BufferedImage v) {
            this.initImage = v;
            return this;
        }

        /** How much of the init image is replaced, in (0, 1] (default 0.8 for img2img, 1.0 for inpainting). */
        public Builder strength(double v) {
            if (!(v > 0 && v <= 1)) {
                throw new IllegalArgumentException("strength must be in (0, 1], got " + v);
            }
            this.strength = v;
            return this;
        }

        /** How the init image's latents are read (default {@link LatentMode#SAMPLE}, as diffusers). */
        public Builder latentMode(LatentMode v) {
            this.latentMode = Objects.requireNonNull(v, "latentMode");
            return this;
        }

        /** Inpainting mask, the init image's size; white (≥ 50 % grey) = repaint. */
        public Builder mask(BufferedImage v) {
            this.mask = v;
            return this;
        }

        /** Gaussian blur radius in pixels applied to the mask before binarising (default 0). */
        public Builder maskBlur(int v) {
            if (v < 0) {
                throw new IllegalArgumentException("mask blur must be >= 0, got " + v);
            }
            this.maskBlur = v;
            return this;
        }

        /** Outpainting: pixels to add on the left, right, top and bottom (each ≥ 0, the new size a multiple of 8). */
        public Builder outpaint(int left, int right, int top, int bottom) {
            if (left < 0 || right < 0 || top < 0 || bottom < 0 || left + right + top + bottom == 0) {
                throw new IllegalArgumentException("outpaint margins must be >= 0 and not all 0, got "
                        + left + "," + right + "," + top + "," + bottom);
            }
            this.outpaint = new int[] {left, right, top, bottom};
            return this;
        }

        /** Caller-supplied initial noise {@code [batch, 4, h/8, w/8]} instead of drawing it. */
        public Builder initialNoise(Tensor v) {
            this.initialNoise = v;
            return this;
        }

        /** Guidance rescale φ in [0, 1] (default 0 = off), see {@link GenerationRequest#guidanceRescale()}. */
        public Builder guidanceRescale(double v) {
            if (!(v >= 0 && v <= 1)) {
                throw new IllegalArgumentException("guidance rescale must be in [0, 1], got " + v);
            }
            this.guidanceRescale = v;
            return this;
        }

        /**
         * Decode (and encode) with the VAE in overlapping tiles, for bounded memory at large sizes: true, false, or
         * null (default) for automatic: on when the image has more than 1024 × 1024 pixels (below that the whole
         * decode fits comfortably, and diffusers, which never tiles by default, gives the same image). Tiles change the
         * image slightly near the seams.
         */
        public Builder vaeTiling(Boolean v) {
            this.vaeTiling = v;
            return this;
        }

        /** Adds a ControlNet; several are summed, each with its own scale and step window (diffusers' MultiControlNet). */
        public Builder controlNet(ControlNet v) {
            this.controlNets.add(Objects.requireNonNull(v, "controlNet"));
            return this;
        }

        /** Removes every ControlNet. */
        public Builder clearControlNets() {
            this.controlNets.clear();
            return this;
        }

        /**
         * Runs this k-diffusion-style {@link Sampler} instead of a diffusers scheduler (null: none, the default).
         * The U-Net becomes a {@link dev.diffusion4j.samplers.kdiffusion.DiscreteDenoiser} over the model's
         * training schedule, guidance applied; the sigmas are the {@linkplain #schedule schedule}'s ("default" =
         * k-diffusion's {@code get_sigmas}, "karras", "exponential") over {@linkplain #steps steps}; the sampler
         * name and spacing are ignored. txt2img and img2img (the last {@code steps × strength} sigmas, the init
         * latents noised to the first of them); not inpainting.
         */
        public Builder customSampler(Sampler v) {
            this.customSampler = v;
            return this;
        }

        /**
         * diffusers' guess mode (default false): the ControlNets see only the conditional half of the guidance batch,
         * the unconditional half gets no residuals, and the residuals are scaled from ×0.1 (first skip) to ×1 (mid).
         */
        public Builder guessMode(boolean v) {
            this.guessMode = v;
            return this;
        }

        /** The final decoder (default {@link VaeDecoder#FULL}); TAESD needs {@link StableDiffusion#loadTaesd}. */
        public Builder vaeDecoder(VaeDecoder v) {
            this.vaeDecoder = Objects.requireNonNull(v, "vaeDecoder");
            return this;
        }

        /**
         * Turns on A1111's hires fix: generate at width × height, enlarge by {@code v} (the new size rounded down to a
         * multiple of 8), then img2img at the new size with {@link #hiresStrength}. {@code v} must be > 1.
         */
        public Builder hiresScale(double v) {
            if (!(v > 1 && v <= 8)) {
                throw new IllegalArgumentException("hires scale must be in (1, 8], got " + v);
            }
            this.hiresScale = v;
            return this;
        }

        /** The hires pass's strength in (0, 1] (default 0.5). */
        public Builder hiresStrength(double v) {
            if (!(v > 0 && v <= 1)) {
                throw new IllegalArgumentException("hires strength must be in (0, 1], got " + v);
            }
            this.hiresStrength = v;
            return this;
        }

        /** The hires pass's step count before the strength cut (default: {@link #steps}). */
        public Builder hiresSteps(int v) {
            if (v < 1) {
                throw new IllegalArgumentException("hires steps must be >= 1, got " + v);
            }
            this.hiresSteps = v;
            return this;
        }

        /** The hires pass's seed (default: seed + 1); the pass draws its noise from its own generator. */
        public Builder hiresSeed(long v) {
            this.hiresSeed = v;
            return this;
        }

        /** How the hires fix enlarges the first pass (default {@link HiresUpscaler#LATENT}). */
        public Builder hiresUpscaler(HiresUpscaler v) {
            this.hiresUpscaler = Objects.requireNonNull(v, "hiresUpscaler");
            return this;
        }

        /** The request. */
        public GenerationRequest build() {
            if (mask != null && initImage == null) {
                throw new IllegalArgumentException("a mask needs an init image");
            }
            if (outpaint != null && initImage == null) {
                throw new IllegalArgumentException("outpainting needs an init image");
            }
            if (mask != null && (mask.getWidth() != initImage.getWidth() || mask.getHeight() != initImage.getHeight())) {
                throw new IllegalArgumentException("the mask is " + mask.getWidth() + "x" + mask.getHeight()
                        + " but the init image is " + initImage.getWidth() + "x" + initImage.getHeight());
            }
            if (customSampler != null && (mask != null || outpaint != null)) {
                throw new IllegalArgumentException("a custom sampler supports txt2img and img2img, not inpainting or outpainting");
            }
            if (!Double.isNaN(hiresScale) && initImage != null) {
                throw new IllegalArgumentException("the hires fix is for txt2img: it cannot be combined with an init image");
            }
            return new GenerationRequest(this);
        }
    }
}
