package dev.diffusion4j.nn.vae;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code DiagonalGaussianDistribution}: the encoder's moments split into mean and log-variance (clamped to
 * [-30, 20]); {@code sample(noise) = mean + std · noise}, {@code mode() = mean}.
 */
public final class LatentDistribution {
    private final Tensor mean;
    private final Tensor logvar;
    private final Tensor std;

    LatentDistribution(Tensor mean, Tensor logvarRaw) {
        this.mean = mean;
        float[] lv = logvarRaw.toFloatArray();
        float[] sd = new float[lv.length];
        for (int i = 0; i < lv.length; i++) {
            lv[i] = Math.min(20f, Math.max(-30f, lv[i]));
            sd[i] = (float) Math.exp(0.5f * lv[i]);
        }
        int[] dims = mean.shape().dims();
        this.logvar = Tensor.of(lv, dims);
        this.std = Tensor.of(sd, dims);
    }

    /** The mean {@code [B, latent_channels, h, w]}. */
    public Tensor mean() {
        return mean;
    }

    /** The clamped log-variance. */
    public Tensor logvar() {
        return logvar;
    }

    /** {@code exp(logvar / 2)}. */
    public Tensor std() {
        return std;
    }

    /** The mode (the mean), as diffusers' {@code latent_dist.mode()}. */
    public Tensor mode() {
        return mean;
    }

    /** {@code mean + std · noise} with the caller's standard normal noise of the mean's shape. */
    public Tensor sample(Tensor noise) {
        if (!noise.shape().equals(mean.shape())) {
            throw new IllegalArgumentException("LatentDistribution.sample: noise " + noise.shape() + " does not match the latents "
                    + mean.shape());
        }
        float[] m = mean.toFloatArray();
        float[] s = std.array();
        float[] out = new float[m.length];
        for (int i = 0; i < m.length; i++) {
            out[i] = m[i] + s[i] * noise.getFlat(i);
        }
        return Tensor.of(out, mean.shape().dims());
    }
}
