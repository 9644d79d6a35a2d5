package dev.diffusion4j.nn.vae;

import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.Probe;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.Conv2d;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code AutoencoderKL}: {@link #encode} an image in [-1, 1] to a latent distribution, {@link #decode}
 * latents to an image. Scaling by {@code scaling_factor} is the caller's (the pipeline's) business, as in diffusers.
 */
public final class AutoencoderKL {
    private final AutoencoderKLConfig config;
    private final Backend backend;
    private final Encoder encoder;
    private final Decoder decoder;
    private final Conv2d quantConv;
    private final Conv2d postQuantConv;

    /** Builds the VAE, taking every weight from {@code weights} (diffusers keys) and checking its shape. */
    public AutoencoderKL(AutoencoderKLConfig config, StateDict weights, Backend backend) {
        this.config = config;
        this.backend = backend;
        this.encoder = new Encoder(backend, weights.prefixed("encoder"), config);
        this.decoder = new Decoder(backend, weights.prefixed("decoder"), config);
        int z = config.latentChannels();
        this.quantConv = new Conv2d(backend, weights, "quant_conv", 2 * z, 2 * z, 1, 1, 0);
        this.postQuantConv = new Conv2d(backend, weights, "post_quant_conv", z, z, 1, 1, 0);
    }

    /** Builds the VAE from a diffusers config. */
    public AutoencoderKL(ModelConfig config, StateDict weights, Backend backend) {
        this(AutoencoderKLConfig.from(config), weights, backend);
    }

    /** The config the model was built from. */
    public AutoencoderKLConfig config() {
        return config;
    }

    /** Image {@code [B, in_channels, H, W]} in [-1, 1] → the latent distribution {@code [B, latent_channels, H/8, W/8]}. */
    public LatentDistribution encode(Tensor image, Probe probe) {
        if (image.rank() != 4 || image.dim(1) != config.inChannels()) {
            throw new IllegalArgumentException("AutoencoderKL.encode: image must be [B, " + config.inChannels()
                    + ", H, W], got " + image.shape());
        }
        Tensor moments = quantConv.forward(encoder.forward(image, probe));
        probe.record("quant_conv", moments);
        int z = config.latentChannels();
        return new LatentDistribution(backend.sliceChannels(moments, 0, z), backend.sliceChannels(moments, z, z));
    }

    /** {@link #encode(Tensor, Probe)} without a probe. */
    public LatentDistribution encode(Tensor image) {
        return encode(image, Probe.NONE);
    }

    /** Latents {@code [B, latent_channels, h, w]} (already divided by the scaling factor) → image {@code [B, out_channels, 8h, 8w]}, not clamped. */
    public Tensor decode(Tensor latents, Probe probe) {
        if (latents.rank() != 4 || latents.dim(1) != config.latentChannels()) {
            throw new IllegalArgumentException("AutoencoderKL.decode: latents must be [B, " + config.latentChannels()
                    + ", h, w], got " + latents.shape());
        }
        Tensor h = postQuantConv.forward(latents);
        probe.record("post_quant_conv", h);
        return decoder.forward(h, probe);
    }

    /** {@link #decode(Tensor, Probe)} without a probe. */
    public Tensor decode(Tensor latents) {
        return decode(latents, Probe.NONE);
    }

    /** Latent tile size of tiled decoding: {@code sample_size / 2^(blocks − 1)} (64 for SD 1.5). */
    public int tileLatentSize() {
        return config.sampleSize() / (1 << (config.blockOutChannels().length - 1));
    }

    /**
     * {@link #decode(Tensor)} in overlapping tiles of {@link #tileLatentSize()} latents, blended (diffusers'
     * {@code enable_tiling}): memory stays bounded by one tile whatever the image size. Latents no larger than one
     * tile are decoded whole, so the result is then identical to {@link #decode(Tensor)}.
     */
    public Tensor decodeTiled(Tensor latents) {
        int tile = tileLatentSize();
        if (latents.dim(2) <= tile && latents.dim(3) <= tile) {
            return decode(latents);
        }
        int scale = 1 << (config.blockOutChannels().length - 1);
        return Tiling.apply(latents, tile, tile * scale, t -> decoder.forward(postQuantConv.forward(t), Probe.NONE));
    }

    /**
     * {@link #encode(Tensor)} in overlapping tiles of {@code sample_size} pixels, blended on the moments (diffusers'
     * {@code enable_tiling}). Images no larger than one tile are encoded whole.
     */
    public LatentDistribution encodeTiled(Tensor image) {
        int tile = config.sampleSize();
        if (image.dim(2) <= tile && image.dim(3) <= tile) {
            return encode(image);
        }
        Tensor moments = Tiling.apply(image, tile, tileLatentSize(), t -> quantConv.forward(encoder.forward(t, Probe.NONE)));
        int z = config.latentChannels();
        return new LatentDistribution(backend.sliceChannels(moments, 0, z), backend.sliceChannels(moments, z, z));
    }
}
