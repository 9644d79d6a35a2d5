package dev.diffusion4j.core;

import dev.diffusion4j.tensor.Tensor;
import java.awt.image.BufferedImage;
import java.util.function.BiConsumer;

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

    /**
     * A listener that decodes a preview every {@code every} steps (and after the last step) with
     * {@link StableDiffusion#preview} (TAESD when attached, else the full VAE) and hands it to {@code sink}. It decodes
     * the scheduler's predicted original (x0) when there is one, else the latents.
     */
    static ProgressListener previews(StableDiffusion model, int every, BiConsumer<StepEvent, BufferedImage> sink) {
        if (every < 1) {
            throw new IllegalArgumentException("preview interval must be >= 1 step, got " + every);
        }
        return e -> {
            if ((e.step() + 1) % every == 0 || e.step() == e.totalSteps() - 1) {
                Tensor x = e.predictedOriginal() != null ? e.predictedOriginal() : e.latents();
                sink.accept(e, model.preview(x));
            }
        };
    }

    /** This listener, then {@code next}. */
    default ProgressListener andThen(ProgressListener next) {
        return e -> {
            onStep(e);
            next.onStep(e);
        };
    }
}
