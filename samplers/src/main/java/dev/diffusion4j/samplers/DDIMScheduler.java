package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code DDIMScheduler}. {@code eta} (default 0, deterministic) is a property of the scheduler
 * object here ({@link #setEta}); with {@code eta > 0} each step draws noise from the generator.
 * Class defaults: timestep_spacing "leading", steps_offset 0, clip_sample true (range 1),
 * set_alpha_to_one true, prediction_type epsilon. Dynamic thresholding is not implemented (rejected).
 */
public final class DDIMScheduler extends IntegerTimestepScheduler {
    private final float finalAlphaCumprod;
    private final boolean clipSample;
    private final float clipRange;
    private double eta;
    private boolean useClippedModelOutput;

    /** A DDIM scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public DDIMScheduler(SchedulerConfig config) {
        super(config);
        if (config.getBoolean("thresholding", false)) {
            throw new IllegalArgumentException("DDIMScheduler: thresholding=true is not supported");
        }
        finalAlphaCumprod = config.getBoolean("set_alpha_to_one", true) ? 1f : alphasCumprod[0];
        clipSample = config.getBoolean("clip_sample", true);
        clipRange = (float) config.getDouble("clip_sample_range", 1.0);
    }

    /** The {@code eta} passed to every step (0 = DDIM, 1 = DDPM-like variance). */
    public DDIMScheduler setEta(double eta) {
        if (!(eta >= 0)) {
            throw new IllegalArgumentException("DDIMScheduler.setEta: eta " + eta + " must be >= 0");
        }
        this.eta = eta;
        return this;
    }

    /** diffusers' {@code use_clipped_model_output} step argument. */
    public DDIMScheduler setUseClippedModelOutput(boolean v) {
        this.useClippedModelOutput = v;
        return this;
    }

    @Override
    public void setTimesteps(int n) {
        Schedules.checkSteps(name(), n, trainSteps);
        timesteps = Schedules.discreteTimesteps(spacing("leading"), trainSteps, n, config.getInt("steps_offset", 0), name());
        numInferenceSteps = n;
        resetIndices();
    }

    @Override
    public StepOutput step(Tensor modelOutput, double t, Tensor sample, NoiseGenerator generator) {
        requireTimesteps();
        sameShape(name() + ".step", modelOutput, "modelOutput", sample, "sample");
        int timestep = trainIndex(t, "step");
        int prev = timestep - trainSteps / numInferenceSteps;
        float at = alphasCumprod[timestep];
        float ap = prev >= 0 ? alphasCumprod[prev] : finalAlphaCumprod;
        float bt = 1f - at;
        float sat = (float) Math.sqrt(at);
        float sbt = (float) Math.sqrt(bt);
        float[] m = data(modelOutput);
        float[] x = data(sample);
        int n = x.length;
        float[] x0 = new float[n];
        float[] eps = new float[n];
        for (int i = 0; i < n; i++) {
            switch (predictionType) {
                case "epsilon" -> {
                    x0[i] = (x[i] - sbt * m[i]) / sat;
                    eps[i] = m[i];
                }
                case "sample" -> {
                    x0[i] = m[i];
                    eps[i] = (x[i] - sat * x0[i]) / sbt;
                }
                default -> {
                    x0[i] = sat * x[i] - sbt * m[i];
                    eps[i] = sat * m[i] + sbt * x[i];
                }
            }
            if (clipSample) {
                x0[i] = Math.max(-clipRange, Math.min(clipRange, x0[i]));
            }
        }
        float bp = 1f - ap;
        float variance = (bp / bt) * (1f - at / ap);
        float std = (float) (eta * Math.sqrt(variance));
        if (useClippedModelOutput) {
            for (int i = 0; i < n; i++) {
                eps[i] = (x[i] - sat * x0[i]) / sbt;
            }
        }
        float dirCoeff = (float) Math.sqrt(1f - ap - std * std);
        float sap = (float) Math.sqrt(ap);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = sap * x0[i] + dirCoeff * eps[i];
        }
        if (eta > 0) {
            float[] z = noise(generator, modelOutput, name());
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
