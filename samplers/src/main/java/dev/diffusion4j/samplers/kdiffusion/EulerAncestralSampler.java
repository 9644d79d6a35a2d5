package dev.diffusion4j.samplers.kdiffusion;

import dev.diffusion4j.samplers.NoiseGenerator;
import dev.diffusion4j.tensor.Tensor;

/**
 * Ancestral Euler (k-diffusion's {@code sample_euler_ancestral}; A1111 "Euler a"): each step goes by Euler to
 * {@code sigma_down} and adds fresh noise of std {@code sigma_up}, where {@code sigma_up = min(s', eta * sqrt(s'^2
 * (s^2 - s'^2) / s^2))} and {@code sigma_down = sqrt(s'^2 - sigma_up^2)}. A first-order SDE solver; eta = 0 is
 * {@link EulerSampler}.
 */
public final class EulerAncestralSampler implements Sampler {
    private final double eta;
    private final double sNoise;

    /** eta 1, s_noise 1 (k-diffusion's defaults). */
    public EulerAncestralSampler() {
        this(1.0, 1.0);
    }

    /** @param eta amount of ancestral noise in [0, 1]; @param sNoise scale of the drawn noise */
    public EulerAncestralSampler(double eta, double sNoise) {
        if (!(eta >= 0 && eta <= 1) || !(sNoise >= 0) || Double.isInfinite(sNoise)) {
            throw new IllegalArgumentException("EulerAncestralSampler: need eta in [0, 1] and finite sNoise >= 0, got "
                    + eta + ", " + sNoise);
        }
        this.eta = eta;
        this.sNoise = sNoise;
    }

    @Override
    public String name() {
        return "euler_a";
    }

    /** k-diffusion's {@code get_ancestral_step}: {sigma_down, sigma_up} for a step from s to sNext. */
    static double[] ancestralStep(double s, double sNext, double eta) {
        if (eta == 0 || sNext == 0) {
            return new double[] {sNext, 0};
        }
        double up = Math.min(sNext, eta * Math.sqrt(sNext * sNext * (s * s - sNext * sNext) / (s * s)));
        double down = Math.sqrt(sNext * sNext - up * up);
        return new double[] {down, up};
    }

    @Override
    public Tensor sample(Denoiser denoiser, double[] sigmas, Tensor x, NoiseGenerator noise, SamplerCallback callback) {
        Sampler.checkArguments("EulerAncestralSampler", denoiser, sigmas, x);
        for (int i = 0; i < sigmas.length - 1; i++) {
            double s = sigmas[i];
            Tensor denoised = Sampler.checked("EulerAncestralSampler", denoiser.denoise(x, s), x, s);
            double[] du = ancestralStep(s, sigmas[i + 1], eta);
            double r = du[0] / s;
            x = Latents.combine(r, x, 1 - r, denoised);
            if (sigmas[i + 1] > 0 && du[1] > 0) {
                x = Latents.addScaled(x, du[1] * sNoise, Sampler.requireNoise("EulerAncestralSampler", noise, x));
            }
            SamplerCallback.report(callback, i, sigmas, x, denoised);
        }
        return x;
    }
}
