package dev.diffusion4j.nn.vae;

import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * diffusers' {@code AutoencoderTiny} (madebyollin's TAESD): a small, fast, deterministic VAE whose latents live in
 * the same (already scaled) space as SD's, so a pipeline uses {@code scaling_factor} 1.0: {@link #decode} takes the
 * denoised latents as they are. Used for quick final decodes and live previews.
 *
 * <p>Encoder: {@code (x + 1) / 2}, conv, [stride-2 bias-free conv, blocks]…, conv to the latent channels.
 * Decoder: {@code tanh(x / 3) · 3}, conv + ReLU, [blocks, nearest 2× up-sampling, bias-free conv]…, blocks, conv
 * to RGB, then {@code x · 2 − 1}. A block is {@code relu(conv(relu(conv(relu(conv(x))))) + skip(x))}.
 *
 * <p>Weights: diffusers keys ({@code encoder.layers.i...}, {@code decoder.layers.i...}), see
 * {@link #originalKeys} for madebyollin's files.
 */
public final class AutoencoderTiny {
    /**
     * The config keys used.
     *
     * @param latentMagnitude {@code latent_magnitude} (3), for {@link #scaleLatents}
     * @param latentShift {@code latent_shift} (0.5)
     * @param scalingFactor {@code scaling_factor} (1.0 for SD TAESDs)
     */
    public record Config(int inChannels, int outChannels, int latentChannels, int[] encoderBlockOutChannels,
                         int[] decoderBlockOutChannels, int[] numEncoderBlocks, int[] numDecoderBlocks,
                         int upsamplingScalingFactor, double latentMagnitude, double latentShift, double scalingFactor) {
        /** Reads a diffusers {@code AutoencoderTiny} config with diffusers' defaults. */
        public static Config from(ModelConfig c) {
            String act = c.getString("act_fn", "relu");
            if (!act.equals("relu")) {
                throw new IllegalArgumentException(c.source() + ": act_fn '" + act + "' is not supported (relu)");
            }
            int[] blocks = c.getInts("block_out_channels", 0, null);
            int[] enc = c.has("encoder_block_out_channels") ? c.getInts("encoder_block_out_channels", 0, null) : blocks;
            int[] dec = c.has("decoder_block_out_channels") ? c.getInts("decoder_block_out_channels", 0, null) : blocks;
            int[] nEnc = c.getInts("num_encoder_blocks", enc.length, null);
            int[] nDec = c.getInts("num_decoder_blocks", dec.length, null);
            return new Config(c.getInt("in_channels", 3), c.getInt("out_channels", 3), c.getInt("latent_channels", 4),
                    enc, dec, nEnc, nDec, c.getInt("upsampling_scaling_factor", 2), c.getDouble("latent_magnitude", 3),
                    c.getDouble("latent_shift", 0.5), c.getDouble("scaling_factor", 1.0));
        }

        /** SD 1.x/2.x TAESD's config (widths 64, blocks (1,3,3,3) / (3,3,3,1)). */
        public static Config sd() {
            int[] w = {64, 64, 64, 64};
            return new Config(3, 3, 4, w, w, new int[] {1, 3, 3, 3}, new int[] {3, 3, 3, 1}, 2, 3, 0.5, 1.0);
        }
    }

    private final Config config;
    private final Backend backend;
    private final List<UnaryOperator<Tensor>> encoder;
    private final List<UnaryOperator<Tensor>> decoder;

    /**
     * Builds the model from diffusers keys; {@code weights} may lack the whole encoder (a decoder-only model, e.g.
     * madebyollin's {@code taesd_decoder.safetensors} alone), then {@link #encode} throws.
     */
    public AutoencoderTiny(Config config, StateDict weights, Backend backend) {
        this.config = config;
        this.backend = backend;
        boolean hasEncoder = weights.find("encoder.layers.0.weight") != null;
        this.encoder = hasEncoder ? buildEncoder(weights) : null;
        this.decoder = buildDecoder(weights);
    }

    /** Builds the model from a diffusers config. */
    public AutoencoderTiny(ModelConfig config, StateDict weights, Backend backend) {
        this(Config.from(config), weights, backend);
    }

    private List<UnaryOperator<Tensor>> buildEncoder(StateDict w) {
        List<UnaryOperator<Tensor>> layers = new ArrayList<>();
        int[] ch = config.encoderBlockOutChannels();
        int prev = config.inChannels();
        for (int i = 0; i < ch.length; i++) {
            String p = "encoder.layers." + layers.size();
            layers.add(i == 0 ? conv(w, p, prev, ch[i], 1, true) : conv(w, p, prev, ch[i], 2, false));
            for (int b = 0; b < config.numEncoderBlocks()[i]; b++) {
                layers.add(block(w, "encoder.layers." + layers.size(), ch[i], ch[i]));
            }
            prev = ch[i];
        }
        layers.add(conv(w, "encoder.layers." + layers.size(), prev, config.latentChannels(), 1, true));
        return layers;
    }

    private List<UnaryOperator<Tensor>> buildDecoder(StateDict w) {
        List<UnaryOperator<Tensor>> layers = new ArrayList<>();
        int[] ch = config.decoderBlockOutChannels();
        layers.add(conv(w, "decoder.layers.0", config.latentChannels(), ch[0], 1, true));
        layers.add(backend::relu);
        int prev = ch[0];
        int f = config.upsamplingScalingFactor();
        for (int i = 0; i < ch.length; i++) {
            boolean last = i == ch.length - 1;
            for (int b = 0; b < config.numDecoderBlocks()[i]; b++) {
                layers.add(block(w, "decoder.layers." + layers.size(), prev, ch[i]));
                prev = ch[i];
            }
            if (!last) {
                layers.add(x -> backend.upsampleNearest(x, x.dim(2) * f, x.dim(3) * f));
            }
            int out = last ? config.outChannels() : ch[i];
            layers.add(conv(w, "decoder.layers." + layers.size(), prev, out, 1, last));
            prev = out;
        }
        return layers;
    }

    private UnaryOperator<Tensor> conv(StateDict w, String prefix, int in, int out, int stride, boolean bias) {
        Tensor weight = w.get(prefix + ".weight", out, in, 3, 3);
        Tensor b = bias ? w.get(prefix + ".bias", out) : null;
        return x -> backend.conv2d(x, weight, b, stride, 1);
    }

    /** diffusers' {@code AutoencoderTinyBlock}. */
    private UnaryOperator<Tensor> block(StateDict w, String prefix, int in, int out) {
        UnaryOperator<Tensor> c0 = conv(w, prefix + ".conv.0", in, out, 1, true);
        UnaryOperator<Tensor> c2 = conv(w, prefix + ".conv.2", out, out, 1, true);
        UnaryOperator<Tensor> c4 = conv(w, prefix + ".conv.4", out, out, 1, true);
        Tensor skip = in != out ? w.get(prefix + ".skip.weight", out, in, 1, 1) : null;
        return x -> {
            Tensor h = c4.apply(backend.relu(c2.apply(backend.relu(c0.apply(x)))));
            Tensor s = skip == null ? x : backend.conv2d(x, skip, null, 1, 0);
            return backend.relu(backend.add(h, s));
        };
    }

    /** The config the model was built from. */
    public Config config() {
        return config;
    }

    /** True when the encoder's weights were given. */
    public boolean hasEncoder() {
        return encoder != null;
    }

    /**
     * Image {@code [B, in_channels, H, W]} in [-1, 1] → latents {@code [B, latent_channels, H/8, W/8]} (for 4
     * blocks), already in the scaled latent space; deterministic.
     */
    public Tensor encode(Tensor image) {
        if (encoder == null) {
            throw new IllegalStateException("AutoencoderTiny: this model was loaded without encoder weights");
        }
        if (image.rank() != 4 || image.dim(1) != config.inChannels()) {
            throw new IllegalArgumentException("AutoencoderTiny.encode: image must be [B, " + config.inChannels()
                    + ", H, W], got " + image.shape());
        }
        float[] a = image.toFloatArray();
        for (int i = 0; i < a.length; i++) {
            a[i] = (a[i] + 1f) / 2f;
        }
        Tensor h = Tensor.of(a, image.shape().dims());
        for (UnaryOperator<Tensor> layer : encoder) {
            h = layer.apply(h);
        }
        return h;
    }

    /** Latents {@code [B, latent_channels, h, w]} (divided by {@code scaling_factor}, i.e. as they are for SD) → image in [-1, 1], not clamped. */
    public Tensor decode(Tensor latents) {
        if (latents.rank() != 4 || latents.dim(1) != config.latentChannels()) {
            throw new IllegalArgumentException("AutoencoderTiny.decode: latents must be [B, " + config.latentChannels()
                    + ", h, w], got " + latents.shape());
        }
        // The original's Clamp module: a soft clamp to (-3, 3).
        float[] a = latents.toFloatArray();
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) Math.tanh(a[i] / 3f) * 3f;
        }
        Tensor h = Tensor.of(a, latents.shape().dims());
        for (UnaryOperator<Tensor> layer : decoder) {
            h = layer.apply(h);
        }
        float[] o = h.toFloatArray();
        for (int i = 0; i < o.length; i++) {
            o[i] = o[i] * 2f - 1f;
        }
        return Tensor.of(o, h.shape().dims());
    }

    /** {@code clamp(x / (2 · latent_magnitude) + latent_shift, 0, 1)}: latents to [0, 1] (for storing as images). */
    public Tensor scaleLatents(Tensor latents) {
        float[] a = latents.toFloatArray();
        float mag = (float) (2 * config.latentMagnitude());
        float shift = (float) config.latentShift();
        for (int i = 0; i < a.length; i++) {
            a[i] = Math.clamp(a[i] / mag + shift, 0f, 1f);
        }
        return Tensor.of(a, latents.shape().dims());
    }

    /** {@code (x − latent_shift) · 2 · latent_magnitude}: the inverse of {@link #scaleLatents} (inside [0, 1]). */
    public Tensor unscaleLatents(Tensor scaled) {
        float[] a = scaled.toFloatArray();
        float mag = (float) (2 * config.latentMagnitude());
        float shift = (float) config.latentShift();
        for (int i = 0; i < a.length; i++) {
            a[i] = (a[i] - shift) * mag;
        }
        return Tensor.of(a, scaled.shape().dims());
    }

    /**
     * madebyollin's file layout as diffusers keys: encoder file key {@code i.rest} is {@code encoder.layers.i.rest};
     * decoder file key {@code i.rest} is {@code decoder.layers.(i-1).rest} (the original starts with a parameter-free
     * Clamp). Either may be null.
     */
    public static StateDict originalKeys(StateDict encoderFile, StateDict decoderFile) {
        return new StateDict() {
            @Override
            public Tensor find(String key) {
                if (key.startsWith("encoder.layers.") && encoderFile != null) {
                    return encoderFile.find(key.substring("encoder.layers.".length()));
                }
                if (key.startsWith("decoder.layers.") && decoderFile != null) {
                    String rest = key.substring("decoder.layers.".length());
                    int dot = rest.indexOf('.');
                    int index = Integer.parseInt(rest.substring(0, dot));
                    return decoderFile.find((index + 1) + rest.substring(dot));
                }
                return null;
            }

            @Override
            public String source() {
                return (encoderFile != null ? encoderFile.source() + " + " : "") + (decoderFile != null ? decoderFile.source() : "");
            }

            @Override
            public java.util.Set<String> keys() {
                java.util.Set<String> out = new java.util.TreeSet<>();
                if (encoderFile != null) {
                    encoderFile.keys().forEach(k -> out.add("encoder.layers." + k));
                }
                if (decoderFile != null) {
                    for (String k : decoderFile.keys()) {
                        int dot = k.indexOf('.');
                        out.add("decoder.layers." + (Integer.parseInt(k.substring(0, dot)) - 1) + k.substring(dot));
                    }
                }
                return out;
            }
        };
    }
}
