package dev.diffusion4j.samplers.kdiffusion;

import dev.diffusion4j.samplers.NoiseGenerator;
import dev.diffusion4j.tensor.Tensor;

/**
 * A sampler in k-diffusion's form: it integrates from {@code sigmas[0]} down to {@code sigmas[n]} (usually 0)
 * with a {@link Denoiser}, starting from {@code x} (already noised to {@code sigmas[0]}, e.g. {@code randn *
 * sigmas[0]}). A new sampler is one small class implementing {@link #sample}; {@link Latents} has the
 * element-wise arithmetic and {@link #checkArguments} the argument checks.
 *
 * <p>Run it on {@link GaussianDenoiser} to test it without a model, or in a pipeline through
 * {@link DiscreteDenoiser} (core's {@code GenerationRequest.Builder.customSampler}).
 */
public interface Sampler {
    /** A short name for logs and image parameters, e.g. "euler". */
    String name();

    /**
     * Samples.
     *
     * @param denoiser the model, guidance applied
     * @param sigmas the noise levels, non-increasing, at least 2 (n steps use n + 1 sigmas); the last is usually 0
     * @param x latents at {@code sigmas[0]} (not modified)
     * @param noise the source of fresh noise for stochastic samplers (may be null for deterministic ones)
     * @param callback called after every step (may be null); it cancels the run by throwing
     *     {@link java.util.concurrent.CancellationException}
     * @return the latents at {@code sigmas[n]}
     */
    Tensor sample(Denoiser denoiser, double[] sigmas, Tensor x, NoiseGenerator noise, SamplerCallback callback);

    /**
     * Checks the common arguments of {@link #sample}.
     *
     * @throws IllegalArgumentException naming {@code who} when denoiser or x is null, fewer than 2 sigmas are
     *     given, or a sigma is negative, not finite, or larger than its predecessor
     */
    static void checkArguments(String who, Denoiser denoiser, double[] sigmas, Tensor x) {
        if (denoiser == null || x == null || sigmas == null) {
            throw new IllegalArgumentException(who + ".sample: denoiser, sigmas and x must not be null");
        }
        if (sigmas.length < 2) {
            throw new IllegalArgumentException(who + ".sample: needs at least 2 sigmas (one step), got " + sigmas.length);
        }
        for (int i = 0; i < sigmas.length; i++) {
            if (!(sigmas[i] >= 0) || Double.isInfinite(sigmas[i]) || (i > 0 && sigmas[i] > sigmas[i - 1])) {
                throw new IllegalArgumentException(who + ".sample: sigmas must be finite, >= 0 and non-increasing; sigma["
                        + i + "] = " + sigmas[i] + (i > 0 ? " after " + sigmas[i - 1] : ""));
            }
        }
        if (sigmas[0] == 0) {
            throw new IllegalArgumentException(who + ".sample: sigmas[0] must be > 0");
        }
    }

    /** Noise for a stochastic step, checking that a generator was given. */
    static Tensor requireNoise(String who, NoiseGenerator noise, Tensor like) {
        if (noise == null) {
            throw new IllegalArgumentException(who + ".sample: this sampler draws noise; the generator must not be null");
        }
        return noise.randnTensor(like.shape().dims());
    }

    /** Checks the denoiser's answer (shape) so a wrong model fails with a clear message. */
    static Tensor checked(String who, Tensor denoised, Tensor x, double sigma) {
        if (denoised == null || !denoised.shape().equals(x.shape())) {
            throw new IllegalArgumentException(who + ".sample: the denoiser returned "
                    + (denoised == null ? "null" : denoised.shape().toString()) + " for x " + x.shape() + " at sigma " + sigma);
        }
        return denoised;
    }
}
