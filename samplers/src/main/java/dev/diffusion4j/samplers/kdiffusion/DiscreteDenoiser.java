package dev.diffusion4j.samplers.kdiffusion;

import dev.diffusion4j.samplers.DenoisingLoop;
import dev.diffusion4j.tensor.Tensor;
import java.util.Objects;

/**
 * A discrete-timestep diffusion model (a U-Net predicting eps or v at timestep t from VP-scaled input) as a
 * k-diffusion {@link Denoiser} (k-diffusion's {@code DiscreteEpsDDPMDenoiser} / {@code DiscreteVDDPMDenoiser}):
 * {@code D(x, sigma)} runs the model on {@code x / sqrt(sigma^2 + 1)} at the continuous timestep
 * {@link DiscreteSchedule#sigmaToT sigmaToT(sigma)} and turns its output into x0:
 * {@code x - sigma * eps} (epsilon) or {@code x / (sigma^2 + 1) - v * sigma / sqrt(sigma^2 + 1)} (v_prediction).
 *
 * <p>{@link #asModel} is the inverse adapter: a {@link Denoiser} as a model that diffusers-style
 * {@link dev.diffusion4j.samplers.Scheduler}s can drive (tests of schedulers on analytic denoisers).
 */
public final class DiscreteDenoiser implements Denoiser {
    private final DiscreteSchedule schedule;
    private final DenoisingLoop.Denoiser model;
    private final boolean vPrediction;

    /**
     * @param model the model (guidance applied): prediction for a VP-scaled input at a timestep
     * @param predictionType "epsilon" or "v_prediction" (diffusers' {@code prediction_type})
     */
    public DiscreteDenoiser(DiscreteSchedule schedule, DenoisingLoop.Denoiser model, String predictionType) {
        this.schedule = Objects.requireNonNull(schedule, "schedule");
        this.model = Objects.requireNonNull(model, "model");
        this.vPrediction = switch (predictionType == null ? "epsilon" : predictionType) {
            case "epsilon" -> false;
            case "v_prediction" -> true;
            default -> throw new IllegalArgumentException("DiscreteDenoiser: prediction_type '" + predictionType
                    + "' is not epsilon or v_prediction");
        };
    }

    /** The schedule converting sigma to timestep. */
    public DiscreteSchedule schedule() {
        return schedule;
    }

    @Override
    public Tensor denoise(Tensor x, double sigma) {
        double cIn = 1 / Math.sqrt(sigma * sigma + 1);
        double t = schedule.sigmaToT(sigma);
        Tensor out = Sampler.checked("DiscreteDenoiser", model.predict(Latents.scale(x, cIn), t), x, sigma);
        if (vPrediction) {
            return Latents.combine(1 / (sigma * sigma + 1), x, -sigma * cIn, out);
        }
        return Latents.addScaled(x, -sigma, out);
    }

    /**
     * {@code denoiser} as an eps-predicting model on discrete timesteps: for a VP-scaled input {@code in} at
     * timestep t, {@code sigma = tToSigma(t)}, {@code x = in * sqrt(sigma^2 + 1)} and the result is
     * {@code (x - D(x, sigma)) / sigma}. This is what a diffusers scheduler expects of a U-Net with
     * {@code prediction_type} epsilon (for every scheduler class: the sigma family scales its input, the alpha
     * family's samples are already VP-scaled).
     */
    public static DenoisingLoop.Denoiser asModel(Denoiser denoiser, DiscreteSchedule schedule) {
        Objects.requireNonNull(denoiser, "denoiser");
        Objects.requireNonNull(schedule, "schedule");
        return (in, t) -> {
            double sigma = schedule.tToSigma(t);
            Tensor x = Latents.scale(in, Math.sqrt(sigma * sigma + 1));
            return denoiser.eps(x, sigma);
        };
    }
}
