package dev.diffusion4j.samplers.kdiffusion;

import dev.diffusion4j.samplers.NoiseGenerator;
import dev.diffusion4j.tensor.Tensor;

/**
 * Ancestral DPM-Solver++(2S) (k-diffusion's {@code sample_dpmpp_2s_ancestral}; A1111 "DPM++ 2S a", sd.cpp
 * {@code dpm++2s_a}): each step goes to {@code sigma_down} with the second-order singlestep data-prediction solver
 * (a half step in {@code lambda = -log sigma} to {@code sigma_mid = sqrt(s * sigma_down)}, then the full step with the
 * midpoint's denoised value) and adds fresh noise of std {@code sigma_up} (see {@link EulerAncestralSampler}). Two
 * model evaluations per step (one for the last step to 0, which is Euler). With eta = 0 it is the deterministic
 * DPM-Solver++(2S), second order.
 */
public final class DpmPP2SAncestralSampler implements Sampler {
    private final double eta;
    private final double sNoise;

    /** eta 1, s_noise 1 (k-diffusion's defaults). */
    public DpmPP2SAncestralSampler() {
        this(1.0, 1.0);
    }

    /** @param eta amount of ancestral noise in [0, 1] (0: deterministic DPM++ 2S); @param sNoise scale of the noise */
    public DpmPP2SAncestralSampler(double eta, double sNoise) {
        if (!(eta >= 0 && eta <= 1) || !(sNoise >= 0) || Double.isInfinite(sNoise)) {
            throw new IllegalArgumentException("DpmPP2SAncestralSampler: need eta in [0, 1] and finite sNoise >= 0, got "
                    + eta + ", " + sNoise);
        }
        this.eta = eta;
        this.sNoise = sNoise;
    }

    @Override
    public String name() {
        return eta == 0 ? "dpm++2s" : "dpm++2s_a";
    }

    @Override
    public Tensor sample(Denoiser denoiser, double[] sigmas, Tensor x, NoiseGenerator noise, SamplerCallback callback) {
        String who = "DpmPP2SAncestralSampler";
        Sampler.checkArguments(who, denoiser, sigmas, x);
        for (int i = 0; i < sigmas.length - 1; i++) {
            double s = sigmas[i];
            Tensor denoised = Sampler.checked(who, denoiser.denoise(x, s), x, s);
            double[] du = EulerAncestralSampler.ancestralStep(s, sigmas[i + 1], eta);
            double down = du[0];
            if (down == 0) {
                x = denoised;
            } else if (down < s) {
                // lambda = -log sigma; half step r = 1/2: sigma_mid = sigma * exp(-h/2) = sqrt(s * down)
                double mid = Math.sqrt(s * down);
                Tensor x2 = Latents.combine(mid / s, x, 1 - mid / s, denoised);
                Tensor denoised2 = Sampler.checked(who, denoiser.denoise(x2, mid), x, mid);
                x = Latents.combine(down / s, x, 1 - down / s, denoised2);
            }
            if (sigmas[i + 1] > 0 && du[1] > 0) {
                x = Latents.addScaled(x, du[1] * sNoise, Sampler.requireNoise(who, noise, x));
            }
            SamplerCallback.report(callback, i, sigmas, x, denoised);
        }
        return x;
    }
}
