package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;
import java.util.Objects;

/**
 * The scheduler side of a diffusers denoising loop, with the model behind a {@link Denoiser} (this module
 * never sees a U-Net): {@code in = scaleModelInput(x, t); out = denoiser(in, t); x = step(out, t, x, g)}
 * for every timestep. Classifier-free guidance, masks and callbacks beyond {@link StepListener} belong to
 * the pipelines.
 */
public final class DenoisingLoop {
    private DenoisingLoop() {
    }

    /** The model: its prediction (noise, v or x0, as the scheduler's prediction_type says) for an input. */
    @FunctionalInterface
    public interface Denoiser {
        Tensor predict(Tensor modelInput, double timestep);
    }

    /** Called after every step with its index, timestep and result. */
    @FunctionalInterface
    public interface StepListener {
        void afterStep(int index, double timestep, Scheduler.StepOutput output);
    }

    /**
     * Initial txt2img latents as diffusers' {@code prepare_latents}: {@code randn(shape) * initNoiseSigma()}
     * (one draw from {@code generator}; call after {@code setTimesteps}).
     */
    public static Tensor initialLatents(Scheduler scheduler, NoiseGenerator generator, int... shape) {
        Objects.requireNonNull(generator, "generator");
        float[] x = generator.randn(shape);
        float sigma = scheduler.initNoiseSigma();
        for (int i = 0; i < x.length; i++) {
            x[i] *= sigma;
        }
        return Tensor.of(x, shape);
    }

    /**
     * Runs the scheduler over {@code timesteps} (all of {@link Scheduler#timesteps()}, or the tail an img2img
     * pipeline keeps after {@link Scheduler#setBeginIndex}) from {@code latents}, returning the final latents.
     *
     * @param listener may be null
     */
    public static Tensor run(Scheduler scheduler, Tensor latents, double[] timesteps, Denoiser denoiser,
            NoiseGenerator generator, StepListener listener) {
        Objects.requireNonNull(denoiser, "denoiser");
        Tensor x = latents;
        for (int i = 0; i < timesteps.length; i++) {
            double t = timesteps[i];
            Tensor in = scheduler.scaleModelInput(x, t);
            Tensor out = denoiser.predict(in, t);
            if (out == null || !out.shape().equals(x.shape())) {
                throw new IllegalArgumentException("DenoisingLoop.run: the denoiser returned "
                        + (out == null ? "null" : out.shape().toString()) + " for latents " + x.shape()
                        + " at step " + i + " (t=" + t + ")");
            }
            Scheduler.StepOutput step = scheduler.step(out, t, x, generator);
            if (listener != null) {
                listener.afterStep(i, t, step);
            }
            x = step.prevSample();
        }
        return x;
    }
}
