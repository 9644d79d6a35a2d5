package dev.diffusion4j.samplers.kdiffusion;

import dev.diffusion4j.tensor.Tensor;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;

/**
 * Receives one {@link Step} after every sampler step (progress, previews, recording trajectories). To cancel a
 * run, throw {@link CancellationException}: samplers do not catch it, so the run stops before the next model
 * evaluation. Called on the sampling thread.
 */
@FunctionalInterface
public interface SamplerCallback {
    /** A callback that does nothing. */
    SamplerCallback NONE = s -> { };

    /**
     * One finished step.
     *
     * @param index the step, from 0
     * @param steps the number of steps of the run ({@code sigmas.length - 1})
     * @param sigma the step's starting noise level
     * @param sigmaNext the noise level it stepped to
     * @param latents the latents after the step (at {@code sigmaNext})
     * @param denoised the denoiser's x0 prediction at {@code sigma} (first evaluation of the step)
     */
    record Step(int index, int steps, double sigma, double sigmaNext, Tensor latents, Tensor denoised) {
    }

    /** Called after every step. */
    void onStep(Step step);

    /** Calls {@code callback} (may be null) after each step, then throws {@link CancellationException} once {@code cancelled} says so. */
    static SamplerCallback cancellable(SamplerCallback callback, BooleanSupplier cancelled) {
        return s -> {
            if (callback != null) {
                callback.onStep(s);
            }
            if (cancelled.getAsBoolean()) {
                throw new CancellationException("sampling cancelled after step " + s.index());
            }
        };
    }

    /** Calls the callback when it is not null (for sampler implementations). */
    static void report(SamplerCallback callback, int index, double[] sigmas, Tensor latents, Tensor denoised) {
        if (callback != null) {
            callback.onStep(new Step(index, sigmas.length - 1, sigmas[index], sigmas[index + 1], latents, denoised));
        }
    }
}
