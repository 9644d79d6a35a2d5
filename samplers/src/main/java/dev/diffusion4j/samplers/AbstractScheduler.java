package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;
import java.util.Arrays;

/** State and helpers shared by the schedulers (config, alphas, timesteps, step/begin index). */
abstract class AbstractScheduler implements Scheduler {
    protected final SchedulerConfig config;
    protected final int trainSteps;
    protected final float[] betas;
    protected final float[] alphasCumprod;
    protected final String predictionType;
    protected double[] timesteps = new double[0];
    protected float[] sigmas = new float[0];
    protected int numInferenceSteps;
    protected int stepIndex = -1;
    protected int beginIndex = -1;

    AbstractScheduler(SchedulerConfig config) {
        this.config = config;
        this.trainSteps = config.getInt("num_train_timesteps", 1000);
        float[] b = Schedules.betas(config);
        if (b.length != trainSteps) {
            throw new IllegalArgumentException(name() + ": trained_betas has " + b.length
                    + " values, num_train_timesteps is " + trainSteps);
        }
        // Only the classes whose diffusers config has rescale_betas_zero_snr read it (others ignore the key).
        String cls = getClass().getSimpleName();
        boolean knowsRescale = switch (cls) {
            case "DDIMScheduler", "DDPMScheduler", "LCMScheduler", "EulerDiscreteScheduler",
                 "EulerAncestralDiscreteScheduler", "DPMSolverMultistepScheduler" -> true;
            default -> false;
        };
        boolean rescale = knowsRescale && config.getBoolean("rescale_betas_zero_snr", false);
        if (rescale) {
            b = Schedules.rescaleZeroTerminalSnr(b);
        }
        this.betas = b;
        this.alphasCumprod = Schedules.alphasCumprod(b);
        if (rescale && (cls.startsWith("Euler") || cls.equals("DPMSolverMultistepScheduler"))) {
            // diffusers: close to 0 without being 0, so that the first sigma is not infinite
            alphasCumprod[alphasCumprod.length - 1] = 0x1.0p-24f;
        }
        this.predictionType = config.getString("prediction_type", "epsilon");
        switch (predictionType) {
            case "epsilon", "v_prediction", "sample" -> {
            }
            default -> throw new IllegalArgumentException(name() + ": prediction_type '" + predictionType
                    + "' is not one of epsilon, v_prediction, sample");
        }
    }

    @Override
    public String name() {
        return getClass().getSimpleName();
    }

    @Override
    public SchedulerConfig config() {
        return config;
    }

    @Override
    public double[] timesteps() {
        return timesteps.clone();
    }

    @Override
    public float[] sigmas() {
        return sigmas.clone();
    }

    @Override
    public int order() {
        return 1;
    }

    @Override
    public void setBeginIndex(int beginIndex) {
        if (beginIndex < 0 || beginIndex > timesteps.length) {
            throw new IllegalArgumentException(name() + ".setBeginIndex: " + beginIndex + " outside [0, "
                    + timesteps.length + "]");
        }
        this.beginIndex = beginIndex;
    }

    /** The current step index, or -1 before the first step. */
    public int stepIndex() {
        return stepIndex;
    }

    /** {@code num_train_timesteps} of the config. */
    public int numTrainTimesteps() {
        return trainSteps;
    }

    /** Cumulative alphas of the training schedule (float32, a copy). */
    public float[] alphasCumprod() {
        return alphasCumprod.clone();
    }

    protected String spacing(String classDefault) {
        return config.getString("timestep_spacing", classDefault);
    }

    protected void requireTimesteps() {
        if (timesteps.length == 0) {
            throw new IllegalStateException(name() + ": call setTimesteps before stepping");
        }
    }

    /** diffusers' index_for_timestep: the second match when t occurs twice (so a restart does not skip). */
    protected int indexForTimestep(double t) {
        int first = -1;
        int count = 0;
        int second = -1;
        for (int i = 0; i < timesteps.length; i++) {
            if (timesteps[i] == t) {
                if (count == 0) {
                    first = i;
                } else if (count == 1) {
                    second = i;
                }
                count++;
            }
        }
        if (count == 0 && unknownTimestepIsLast()) {
            return timesteps.length - 1;
        }
        if (count == 0) {
            throw new IllegalArgumentException(name() + ": timestep " + t + " is not in the schedule "
                    + Arrays.toString(timesteps));
        }
        return count > 1 ? second : first;
    }

    /** DPM-Solver-family schedulers map a timestep not in the schedule to the last index (diffusers). */
    protected boolean unknownTimestepIsLast() {
        return false;
    }

    protected void initStepIndex(double t) {
        if (stepIndex < 0) {
            stepIndex = beginIndex < 0 ? indexForTimestep(t) : beginIndex;
        }
    }

    /** Resets the stepping state after a new schedule. */
    protected void resetIndices() {
        stepIndex = -1;
        beginIndex = -1;
    }

    /** Training-timestep index of an integer timestep, checked. */
    protected int trainIndex(double t, String op) {
        int i = (int) t;
        if (i != t || i < 0 || i >= trainSteps) {
            throw new IllegalArgumentException(name() + "." + op + ": timestep " + t
                    + " is not an integer in [0, " + trainSteps + ")");
        }
        return i;
    }

    static float[] data(Tensor t) {
        return t.toFloatArray();
    }

    static void sameShape(String op, Tensor a, String an, Tensor b, String bn) {
        if (!a.shape().equals(b.shape())) {
            throw new IllegalArgumentException(op + ": " + an + " " + a.shape() + " and " + bn + " " + b.shape()
                    + " must have the same shape");
        }
    }

    static Tensor like(Tensor shapeOf, float[] data) {
        return Tensor.of(data, shapeOf.shape().dims());
    }

    static float[] noise(NoiseGenerator g, Tensor like, String who) {
        if (g == null) {
            throw new IllegalArgumentException(who + ".step: this scheduler draws noise; generator must not be null");
        }
        return g.randn(like.shape().dims());
    }

    /** Noising with cumulative alphas: {@code sqrt(ac[t]) * x + sqrt(1 - ac[t]) * noise} (DDPM family). */
    protected Tensor addNoiseAlphas(Tensor original, Tensor noise, double t) {
        sameShape(name() + ".addNoise", original, "original", noise, "noise");
        int ti = trainIndex(t, "addNoise");
        float ac = alphasCumprod[ti];
        float sa = (float) Math.sqrt(ac);
        float sb = (float) Math.sqrt(1f - ac);
        float[] x = data(original);
        float[] n = data(noise);
        float[] out = new float[x.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = sa * x[i] + sb * n[i];
        }
        return like(original, out);
    }

    /**
     * Noising with VP sigmas (DPM-Solver family): {@code alpha_t * original + sigma_t * noise} with the sigma of
     * the begin/step index or of {@code t}.
     */
    protected Tensor addNoiseSigmas(Tensor original, Tensor noise, double t) {
        requireTimesteps();
        sameShape(name() + ".addNoise", original, "original", noise, "noise");
        int idx = beginIndex < 0 ? indexForTimestep(t) : (stepIndex >= 0 ? stepIndex : beginIndex);
        float sigma = sigmas[idx];
        float a = (float) (1 / Math.sqrt(sigma * sigma + 1f));
        float s = sigma * a;
        float[] x = data(original);
        float[] n = data(noise);
        for (int i = 0; i < x.length; i++) {
            x[i] = a * x[i] + s * n[i];
        }
        return like(original, x);
    }

    /**
     * The checks and index setup every sigma-indexed {@code step} starts with: timesteps set, matching shapes, the
     * step index of {@code t}, and a step left in the schedule.
     */
    protected void startStep(Tensor modelOutput, double t, Tensor sample) {
        requireTimesteps();
        sameShape(name() + ".step", modelOutput, "modelOutput", sample, "sample");
        initStepIndex(t);
        if (stepIndex + 1 >= sigmas.length) {
            throw new IllegalStateException(name() + ".step: the schedule is finished (step index " + stepIndex + ")");
        }
    }
}
