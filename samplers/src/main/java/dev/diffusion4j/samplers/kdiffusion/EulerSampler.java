package dev.diffusion4j.samplers.kdiffusion;

import dev.diffusion4j.samplers.NoiseGenerator;
import dev.diffusion4j.tensor.Tensor;

/**
 * Euler's method on the probability-flow ODE {@code dx/dsigma = (x - D(x, sigma)) / sigma} (k-diffusion's
 * {@code sample_euler} without churn; A1111 "Euler"). First order, one model evaluation per step, deterministic.
 */
public final class EulerSampler implements Sampler {
    @Override
    public String name() {
        return "euler";
    }

    @Override
    public Tensor sample(Denoiser denoiser, double[] sigmas, Tensor x, NoiseGenerator noise, SamplerCallback callback) {
        Sampler.checkArguments("EulerSampler", denoiser, sigmas, x);
        for (int i = 0; i < sigmas.length - 1; i++) {
            double s = sigmas[i];
            Tensor denoised = Sampler.checked("EulerSampler", denoiser.denoise(x, s), x, s);
            // x + d * (s_next - s) with d = (x - denoised) / s, written so that s_next = 0 gives denoised exactly
            double r = sigmas[i + 1] / s;
            x = Latents.combine(r, x, 1 - r, denoised);
            SamplerCallback.report(callback, i, sigmas, x, denoised);
        }
        return x;
    }
}
