package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code HeunDiscreteScheduler} (k-diffusion "Heun", order 2): N steps run 2N-1 model
 * evaluations; the schedule repeats every inner timestep and sigma. Class defaults: timestep_spacing
 * "linspace", clip_sample false, use_karras_sigmas false.
 */
public final class HeunDiscreteScheduler extends SigmaScheduler {
    private final boolean clipSample;
    private final float clipRange;
    private float[] prevDerivative;
    private float[] savedSample;
    private float savedDt;

    /** A Heun scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public HeunDiscreteScheduler(SchedulerConfig config) {
        super(config);
        clipSample = config.getBoolean("clip_sample", false);
        clipRange = (float) config.getDouble("clip_sample_range", 1.0);
    }

    @Override
    public int order() {
        return 2;
    }

    @Override
    public void setTimesteps(int n) {
        Schedules.checkSteps(name(), n, trainSteps);
        double[] ts = floatTimesteps(n);
        double[] s = interpSigmas(ts);
        if (Schedules.respaced(config, name())) {
            s = karrasFrom(s, n, false);
            ts = new double[s.length];
            for (int i = 0; i < s.length; i++) {
                ts[i] = (float) Schedules.sigmaToT(s[i], logSigmas);
            }
        }
        float[] base = f32WithZero(s);
        // [s0, s1, s1, ..., s_{n-1}, s_{n-1}, 0] and [t0, t1, t1, ..., t_{n-1}, t_{n-1}]
        float[] sg = new float[2 * base.length - 2];
        sg[0] = base[0];
        for (int i = 1; i < base.length - 1; i++) {
            sg[2 * i - 1] = base[i];
            sg[2 * i] = base[i];
        }
        sg[sg.length - 1] = base[base.length - 1];
        double[] tt = new double[2 * ts.length - 1];
        tt[0] = ts[0];
        for (int i = 1; i < ts.length; i++) {
            tt[2 * i - 1] = ts[i];
            tt[2 * i] = ts[i];
        }
        sigmas = sg;
        timesteps = tt;
        numInferenceSteps = n;
        prevDerivative = null;
        savedSample = null;
        resetIndices();
    }

    private boolean firstOrder() {
        return prevDerivative == null;
    }

    @Override
    public StepOutput step(Tensor modelOutput, double t, Tensor sample, NoiseGenerator generator) {
        startStep(modelOutput, t, sample);
        boolean first = firstOrder();
        float sigma = first ? sigmas[stepIndex] : sigmas[stepIndex - 1];
        float sigmaNext = first ? sigmas[stepIndex + 1] : sigmas[stepIndex];
        float sigmaHat = sigma;
        float[] x = data(sample);
        float[] x0 = predictX0(data(modelOutput), x, first ? sigmaHat : sigmaNext);
        if (clipSample) {
            for (int i = 0; i < x0.length; i++) {
                x0[i] = Math.max(-clipRange, Math.min(clipRange, x0[i]));
            }
        }
        float[] out = new float[x.length];
        if (first) {
            float[] d = new float[x.length];
            float dt = sigmaNext - sigmaHat;
            for (int i = 0; i < x.length; i++) {
                d[i] = (x[i] - x0[i]) / sigmaHat;
                out[i] = x[i] + d[i] * dt;
            }
            prevDerivative = d;
            savedDt = dt;
            savedSample = x;
        } else {
            for (int i = 0; i < x.length; i++) {
                float d = (x[i] - x0[i]) / sigmaNext;
                d = (prevDerivative[i] + d) / 2f;
                out[i] = savedSample[i] + d * savedDt;
            }
            prevDerivative = null;
            savedSample = null;
        }
        stepIndex++;
        return new StepOutput(like(sample, out), like(sample, x0));
    }
}
