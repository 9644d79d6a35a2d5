package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code DDPMScheduler} (ancestral sampling of Ho et al.): every step with {@code t > 0} draws
 * one noise tensor from the generator. Variance types fixed_small (default), fixed_small_log, fixed_large,
 * fixed_large_log. Class defaults: timestep_spacing "leading", steps_offset 0, clip_sample true (range 1).
 */
public final class DDPMScheduler extends IntegerTimestepScheduler {
    private final String varianceType;
    private final boolean clipSample;
    private final float clipRange;

    /** A DDPM scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public DDPMScheduler(SchedulerConfig config) {
        super(config);
        varianceType = config.getString("variance_type", "fixed_small");
        switch (varianceType) {
            case "fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log" -> {
            }
            default -> throw new IllegalArgumentException(name() + ": variance_type '" + varianceType
                    + "' (only fixed_small, fixed_small_log, fixed_large, fixed_large_log)");
        }
        if (config.getBoolean("thresholding", false)) {
            throw new IllegalArgumentException(name() + ": thresholding=true is not supported");
        }
        clipSample = config.getBoolean("clip_sample", true);
        clipRange = (float) config.getDouble("clip_sample_range", 1.0);
    }

    @Override
    public void setTimesteps(int n) {
        Schedules.checkSteps(name(), n, trainSteps);
        timesteps = Schedules.discreteTimesteps(spacing("leading"), trainSteps, n, config.getInt("steps_offset", 0), name());
        numInferenceSteps = n;
        resetIndices();
    }

    private int previousTimestep(int t) {
        int n = numInferenceSteps > 0 ? numInferenceSteps : trainSteps;
        return t - trainSteps / n;
    }

    @Override
    public StepOutput step(Tensor modelOutput, double tt, Tensor sample, NoiseGenerator generator) {
        requireTimesteps();
        sameShape(name() + ".step", modelOutput, "modelOutput", sample, "sample");
        int t = trainIndex(tt, "step");
        int prev = previousTimestep(t);
        float at = alphasCumprod[t];
        float ap = prev >= 0 ? alphasCumprod[prev] : 1f;
        float bt = 1f - at;
        float bp = 1f - ap;
        float curAlpha = at / ap;
        float curBeta = 1f - curAlpha;
        float sat = (float) Math.sqrt(at);
        float sbt = (float) Math.sqrt(bt);
        float[] m = data(modelOutput);
        float[] x = data(sample);
        int n = x.length;
        float[] x0 = new float[n];
        for (int i = 0; i < n; i++) {
            float v = switch (predictionType) {
                case "epsilon" -> (x[i] - sbt * m[i]) / sat;
                case "sample" -> m[i];
                default -> sat * x[i] - sbt * m[i];
            };
            x0[i] = clipSample ? Math.max(-clipRange, Math.min(clipRange, v)) : v;
        }
        float cx0 = (float) Math.sqrt(ap) * curBeta / bt;
        float cx = (float) Math.sqrt(curAlpha) * bp / bt;
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = cx0 * x0[i] + cx * x[i];
        }
        if (t > 0) {
            float[] z = noise(generator, modelOutput, name());
            float variance = Math.max(bp / bt * curBeta, 1e-20f);
            float std = switch (varianceType) {
                case "fixed_small" -> (float) Math.sqrt(variance);
                case "fixed_small_log" -> (float) Math.exp(0.5f * (float) Math.log(variance));
                case "fixed_large" -> (float) Math.sqrt(curBeta);
                default -> (float) Math.sqrt((float) Math.log(curBeta)); // as diffusers: sqrt(log(beta)) (NaN)
            };
            for (int i = 0; i < n; i++) {
                out[i] += std * z[i];
            }
        }
        return new StepOutput(like(sample, out), like(sample, x0));
    }

    @Override
    public Tensor addNoise(Tensor original, Tensor noise, double t) {
        return addNoiseAlphas(original, noise, t);
    }
}
