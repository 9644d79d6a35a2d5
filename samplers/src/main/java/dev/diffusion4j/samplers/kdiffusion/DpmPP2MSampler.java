package dev.diffusion4j.samplers.kdiffusion;

import dev.diffusion4j.samplers.NoiseGenerator;
import dev.diffusion4j.tensor.Tensor;

/**
 * DPM-Solver++(2M) (Lu et al. 2022; k-diffusion's {@code sample_dpmpp_2m}; A1111 "DPM++ 2M"): the exponential
 * integrator in {@code lambda = -log sigma} with the data prediction extrapolated linearly from the previous step.
 * With {@code h = lambda' - lambda} and {@code r = h_prev / h}:
 * {@code x' = (s'/s) x - expm1(-h) * ((1 + 1/(2r)) D_i - 1/(2r) D_{i-1})}; the first step and the step to
 * sigma 0 are first order. Second order, one model evaluation per step, deterministic.
 */
public final class DpmPP2MSampler implements Sampler {
    @Override
    public String name() {
        return "dpm++2m";
    }

    @Override
    public Tensor sample(Denoiser denoiser, double[] sigmas, Tensor x, NoiseGenerator noise, SamplerCallback callback) {
        Sampler.checkArguments("DpmPP2MSampler", denoiser, sigmas, x);
        Tensor oldDenoised = null;
        for (int i = 0; i < sigmas.length - 1; i++) {
            double s = sigmas[i];
            double next = sigmas[i + 1];
            Tensor denoised = Sampler.checked("DpmPP2MSampler", denoiser.denoise(x, s), x, s);
            if (next == 0) {
                // lambda' = inf: the update is the data prediction itself
                x = denoised;
            } else if (next < s) {
                double h = Math.log(s) - Math.log(next);
                double c = -Math.expm1(-h);
                Tensor d = denoised;
                if (oldDenoised != null && sigmas[i - 1] > s) {
                    double r = (Math.log(sigmas[i - 1]) - Math.log(s)) / h;
                    d = Latents.combine(1 + 1 / (2 * r), denoised, -1 / (2 * r), oldDenoised);
                }
                x = Latents.combine(next / s, x, c, d);
            }
            oldDenoised = denoised;
            SamplerCallback.report(callback, i, sigmas, x, denoised);
        }
        return x;
    }
}
