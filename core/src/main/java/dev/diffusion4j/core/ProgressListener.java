package dev.diffusion4j.core;

import dev.diffusion4j.tensor.Tensor;

/** Receives one event per denoising step (for progress bars and previews). Called on the generating thread. */
@FunctionalInterface
public interface ProgressListener {
    /** A listener that does nothing. */
    ProgressListener NONE = e -> { };

    /**
     * A finished step.
     *
     * @param step index of the step, from 0
     * @param totalSteps steps this generation runs
     * @param timestep the step's timestep
     * @param latents latents after the step
     * @param predictedOriginal the scheduler's predicted denoised latents (x0), or null when it has none; decode it
     *     (divided by the VAE scaling factor) for a preview
     * @param stepMillis wall time of the step
     */
    record StepEvent(int step, int totalSteps, double timestep, Tensor latents, Tensor predictedOriginal, double stepMillis) {
    }

    /** Called after every step. */
    void onStep(StepEvent event);
}
