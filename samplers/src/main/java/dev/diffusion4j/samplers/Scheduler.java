package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * A diffusion scheduler with diffusers' semantics (one implementation per diffusers class).
 *
 * <p>Latents are F32 {@link Tensor}s of any shape (typically NCHW); every method returns new heap tensors and
 * never modifies its arguments. Timesteps are doubles holding exactly the values diffusers holds: integers
 * for int64 schedules ({@link #integerTimesteps()}), float32 values otherwise; pass back the values of
 * {@link #timesteps()} to {@link #scaleModelInput}, {@link #step} and {@link #addNoise}.
 *
 * <p>Typical loop: {@code setTimesteps(n)}; {@code latents = noise * initNoiseSigma()}; for each {@code t} of
 * {@code timesteps()}: {@code in = scaleModelInput(latents, t)}, run the model, {@code latents =
 * step(out, t, latents, generator).prevSample()}. A scheduler is stateful and not thread-safe.
 */
public interface Scheduler {
    /** The diffusers class name this scheduler reproduces, e.g. "EulerDiscreteScheduler". */
    String name();

    /** The configuration it was built from. */
    SchedulerConfig config();

    /** Computes the schedule for {@code numInferenceSteps} steps and resets the stepping state. */
    void setTimesteps(int numInferenceSteps);

    /** The timesteps of the schedule, in the order the model is evaluated (a copy). */
    double[] timesteps();

    /** True when diffusers holds the timesteps as int64, false when float32. */
    boolean integerTimesteps();

    /** The sigmas of the schedule (float32, a copy), or an empty array for schedulers without sigmas. */
    float[] sigmas();

    /** Standard deviation of the initial noise: initial latents are {@code randn * initNoiseSigma()}. */
    float initNoiseSigma();

    /** The model input for {@code sample} at timestep {@code t} (identity for most schedulers). */
    Tensor scaleModelInput(Tensor sample, double t);

    /**
     * One denoising step from {@code t}. Stochastic schedulers draw their noise from {@code generator}
     * (which may be null only for deterministic ones).
     */
    StepOutput step(Tensor modelOutput, double t, Tensor sample, NoiseGenerator generator);

    /** {@code original} noised to timestep {@code t} with {@code noise} (img2img, inpainting). */
    Tensor addNoise(Tensor original, Tensor noise, double t);

    /** Index in {@link #timesteps()} of the first step that will run (img2img: {@code t_start * order}). */
    void setBeginIndex(int beginIndex);

    /** Number of model evaluations per step as diffusers counts it (2 for Heun and KDPM2). */
    int order();

    /** The result of {@link #step}: the next latents and, when the scheduler defines it, the predicted x0. */
    record StepOutput(Tensor prevSample, Tensor predOriginalSample) {
    }
}
