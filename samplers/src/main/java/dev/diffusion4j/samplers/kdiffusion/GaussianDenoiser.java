package dev.diffusion4j.samplers.kdiffusion;

import dev.diffusion4j.samplers.NoiseGenerator;
import dev.diffusion4j.tensor.Tensor;

/**
 * The exact denoiser of Gaussian data: every element of x0 is independently N(mean, std^2), so at noise level
 * sigma {@code x ~ N(mean, std^2 + sigma^2)} and {@code E[x0 | x] = mean + std^2 / (std^2 + sigma^2) * (x - mean)}.
 * A sampler that solves the diffusion ODE/SDE exactly turns {@link #initialLatents} into samples with exactly this
 * mean and variance, so the error of a sampler's sample moments measures its discretisation error, with no model.
 */
public final class GaussianDenoiser implements Denoiser {
    private final double mean;
    private final double std;

    /** Data N(mean, std^2), std &gt; 0. */
    public GaussianDenoiser(double mean, double std) {
        if (!(std > 0) || !Double.isFinite(mean) || Double.isInfinite(std)) {
            throw new IllegalArgumentException("GaussianDenoiser: need a finite mean and std > 0, got " + mean + ", " + std);
        }
        this.mean = mean;
        this.std = std;
    }

    public double mean() {
        return mean;
    }

    public double std() {
        return std;
    }

    /** The data variance {@code std^2}: what a perfect sampler's sample variance converges to. */
    public double variance() {
        return std * std;
    }

    @Override
    public Tensor denoise(Tensor x, double sigma) {
        double k = std * std / (std * std + sigma * sigma);
        float[] v = x.toFloatArray();
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (mean + k * (v[i] - mean));
        }
        return Tensor.of(v, x.shape().dims());
    }

    /**
     * Exact samples of the noisy marginal at {@code sigma}: {@code mean + sqrt(std^2 + sigma^2) * randn(shape)}
     * (a sampler's correct starting point; {@code randn * sigma} alone is only approximately right).
     */
    public Tensor initialLatents(double sigma, NoiseGenerator noise, int... shape) {
        float[] z = noise.randn(shape);
        double s = Math.sqrt(std * std + sigma * sigma);
        for (int i = 0; i < z.length; i++) {
            z[i] = (float) (mean + s * z[i]);
        }
        return Tensor.of(z, shape);
    }
}
