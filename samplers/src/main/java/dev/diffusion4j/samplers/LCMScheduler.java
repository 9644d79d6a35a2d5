package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code LCMScheduler} (latent consistency models): timesteps are picked from the
 * {@code original_inference_steps} (default 50) grid, each step returns the consistency-boundary
 * {@code denoised} (as {@link StepOutput#predOriginalSample()}) and re-noises it with fresh noise from the
 * generator, except after the last step. Class defaults: set_alpha_to_one true, clip_sample false,
 * timestep_scaling 10.
 */
public final class LCMScheduler extends IntegerTimestepScheduler {
    private final float finalAlphaCumprod;
    private final boolean clipSample;
    private final float clipRange;
    private final double timestepScaling;

    /** An LCM scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public LCMScheduler(SchedulerConfig config) {
        super(config);
        if (config.getBoolean("thresholding", false)) {
            throw new IllegalArgumentException(name() + ": thresholding=true is not supported");
        }
        finalAlphaCumprod = config.getBoolean("set_alpha_to_one", true) ? 1f : alphasCumprod[0];
        clipSample = config.getBoolean("clip_sample", false);
        clipRange = (float) config.getDouble("clip_sample_range", 1.0);
        timestepScaling = config.getDouble("timestep_scaling", 10.0);
    }

    @Override
    public void setTimesteps(int n) {
        int original = config.getInt("original_inference_steps", 50);
        if (original > trainSteps) {
            throw new IllegalArgumentException(name() + ": original_inference_steps " + original
                    + " exceeds num_train_timesteps " + trainSteps);
        }
        if (n < 1 || n > original) {
            throw new IllegalArgumentException(name() + ".setTimesteps: num_inference_steps " + n
                    + " must be in [1, original_inference_steps=" + original + "]");
        }
        int k = trainSteps / original;
        // lcm_origin_timesteps reversed: (original..1) * k - 1; pick floor(linspace(0, len, n, endpoint=False))
        double step = (double) original / n;
        double[] t = new double[n];
        for (int i = 0; i < n; i++) {
            int idx = (int) Math.floor(i * step);
            t[i] = (double) (original - idx) * k - 1;
        }
        timesteps = t;
        numInferenceSteps = n;
        resetIndices();
    }

    @Override
    public StepOutput step(Tensor modelOutput, double tt, Tensor sample, NoiseGenerator generator) {
        requireTimesteps();
        sameShape(name() + ".step", modelOutput, "modelOutput", sample, "sample");
        int t = trainIndex(tt, "step");
        initStepIndex(tt);
        int prevIndex = stepIndex + 1;
        int prev = prevIndex < timesteps.length ? (int) timesteps[prevIndex] : t;
        float at = alphasCumprod[t];
        float ap = prev >= 0 ? alphasCumprod[prev] : finalAlphaCumprod;
        float bt = 1f - at;
        float bp = 1f - ap;
        float scaled = (float) (t * timestepScaling);
        float cSkip = 0.25f / (scaled * scaled + 0.25f);
        float cOut = scaled / (float) Math.sqrt(scaled * scaled + 0.25f);
        float sat = (float) Math.sqrt(at);
        float sbt = (float) Math.sqrt(bt);
        float[] m = data(modelOutput);
        float[] x = data(sample);
        int n = x.length;
        float[] denoised = new float[n];
        for (int i = 0; i < n; i++) {
            float x0 = switch (predictionType) {
                case "epsilon" -> (x[i] - sbt * m[i]) / sat;
                case "sample" -> m[i];
                default -> sat * x[i] - sbt * m[i];
            };
            if (clipSample) {
                x0 = Math.max(-clipRange, Math.min(clipRange, x0));
            }
            denoised[i] = cOut * x0 + cSkip * x[i];
        }
        float[] out;
        if (stepIndex != numInferenceSteps - 1) {
            float[] z = noise(generator, modelOutput, name());
            float sap = (float) Math.sqrt(ap);
            float sbp = (float) Math.sqrt(bp);
            out = new float[n];
            for (int i = 0; i < n; i++) {
                out[i] = sap * denoised[i] + sbp * z[i];
            }
        } else {
            out = denoised.clone();
        }
        stepIndex++;
        return new StepOutput(like(sample, out), like(sample, denoised));
    }

    @Override
    public Tensor addNoise(Tensor original, Tensor noise, double t) {
        return addNoiseAlphas(original, noise, t);
    }
}
