package dev.diffusion4j.samplers.kdiffusion;

import dev.diffusion4j.samplers.NoiseGenerator;
import dev.diffusion4j.tensor.Tensor;

/**
 * Heun's method (Karras et al. 2022, algorithm 1 without churn; k-diffusion's {@code sample_heun}; A1111 "Heun"):
 * an Euler predictor then the trapezoidal corrector with the derivative at the predicted point. Second order, two
 * model evaluations per step except the last step to sigma 0, which is plain Euler (the derivative is undefined
 * at 0).
 */
public final class HeunSampler implements Sampler {
    @Override
    public String name() {
        return "heun";
    }

    @Override
    public Tensor sample(Denoiser denoiser, double[] sigmas, Tensor x, NoiseGenerator noise, SamplerCallback callback) {
        Sampler.checkArguments("HeunSampler", denoiser, sigmas, x);
        for (int i = 0; i < sigmas.length - 1; i++) {
            double s = sigmas[i];
            double next = sigmas[i + 1];
            Tensor denoised = Sampler.checked("HeunSampler", denoiser.denoise(x, s), x, s);
            Tensor d = Latents.derivative(x, denoised, s);
            double dt = next - s;
            if (next == 0) {
                x = Latents.addScaled(x, dt, d);
            } else {
                Tensor predicted = Latents.addScaled(x, dt, d);
                Tensor denoised2 = Sampler.checked("HeunSampler", denoiser.denoise(predicted, next), x, next);
                Tensor d2 = Latents.derivative(predicted, denoised2, next);
                x = Latents.combine(1, x, dt / 2, d, dt / 2, d2);
            }
            SamplerCallback.report(callback, i, sigmas, x, denoised);
        }
        return x;
    }
}
