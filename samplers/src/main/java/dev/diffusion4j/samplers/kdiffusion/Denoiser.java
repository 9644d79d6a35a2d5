package dev.diffusion4j.samplers.kdiffusion;

import dev.diffusion4j.tensor.Tensor;

/**
 * A denoiser in k-diffusion's sense: {@code D(x, sigma)}, the estimate of the clean data {@code x0} given
 * {@code x = x0 + sigma * noise}. Guidance, conditioning and the model's own input scaling are inside it, so a
 * {@link Sampler} sees only this function. The U-Net adapter is {@link DiscreteDenoiser}; a toy with an exact
 * answer is {@link GaussianDenoiser}.
 *
 * <p>{@code x} is not modified; the result has {@code x}'s shape.
 */
@FunctionalInterface
public interface Denoiser {
    /** The denoised estimate {@code x0} of {@code x} at noise level {@code sigma} (&gt; 0). */
    Tensor denoise(Tensor x, double sigma);

    /**
     * The noise estimate {@code eps = (x - D(x, sigma)) / sigma} (the ODE derivative {@code dx/dsigma}), for
     * samplers written in eps form.
     */
    default Tensor eps(Tensor x, double sigma) {
        return Latents.derivative(x, denoise(x, sigma), sigma);
    }
}
