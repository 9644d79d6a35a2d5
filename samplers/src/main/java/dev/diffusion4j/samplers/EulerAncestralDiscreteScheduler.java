package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code EulerAncestralDiscreteScheduler} (k-diffusion "Euler a"): an Euler step to
 * {@code sigma_down} plus fresh noise of std {@code sigma_up}, drawn from the generator at every step.
 * Class defaults: timestep_spacing "linspace".
 */
public final class EulerAncestralDiscreteScheduler extends SigmaScheduler {

    /** An Euler-ancestral scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public EulerAncestralDiscreteScheduler(SchedulerConfig config) {
        super(config);
    }

    @Override
    public void setTimesteps(int n) {
        Schedules.checkSteps(name(), n, trainSteps);
        double[] ts = floatTimesteps(n);
        timesteps = ts;
        sigmas = f32WithZero(interpSigmas(ts));
        numInferenceSteps = n;
        resetIndices();
    }

    @Override
    public StepOutput step(Tensor modelOutput, double t, Tensor sample, NoiseGenerator generator) {
        startStep(modelOutput, t, sample);
        float sigma = sigmas[stepIndex];
        float[] x = data(sample);
        float[] x0 = predictX0(data(modelOutput), x, sigma);
        float from = sigmas[stepIndex];
        float to = sigmas[stepIndex + 1];
        float up = (float) Math.sqrt(to * to * (from * from - to * to) / (from * from));
        float down = (float) Math.sqrt(to * to - up * up);
        float dt = down - sigma;
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            float d = (x[i] - x0[i]) / sigma;
            out[i] = x[i] + d * dt;
        }
        float[] z = noise(generator, modelOutput, name());
        for (int i = 0; i < x.length; i++) {
            out[i] = out[i] + z[i] * up;
        }
        stepIndex++;
        return new StepOutput(like(sample, out), like(sample, x0));
    }
}
