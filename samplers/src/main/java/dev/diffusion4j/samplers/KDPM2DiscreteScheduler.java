package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code KDPM2DiscreteScheduler} (k-diffusion "DPM2", order 2): each step evaluates the model at
 * sigma and at the geometric midpoint of sigma and the next sigma, whose (fractional) timestep is
 * interleaved into {@link #timesteps()} (2N-1 evaluations). Class defaults: timestep_spacing "linspace".
 */
public final class KDPM2DiscreteScheduler extends SigmaScheduler {
    private float[] sigmasInterpol;
    private float[] savedSample;

    /** A KDPM2 scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public KDPM2DiscreteScheduler(SchedulerConfig config) {
        super(config);
    }

    @Override
    public int order() {
        return 2;
    }

    /** The interleaved midpoint sigmas (float32, a copy; empty before setTimesteps). */
    public float[] sigmasInterpol() {
        return sigmasInterpol == null ? new float[0] : sigmasInterpol.clone();
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
                ts[i] = (float) Schedules.npRound(Schedules.sigmaToT(s[i], logSigmas));
            }
        }
        float[] base = f32WithZero(s);
        int m = base.length;
        // exp(lerp(log s_k, log s_{k-1}, 0.5)) in float32; element 0 (NaN in torch) is never used.
        float[] interp = new float[m];
        interp[0] = Float.NaN;
        for (int k = 1; k < m; k++) {
            float a = (float) Math.log(base[k]);
            float b = (float) Math.log(base[k - 1]);
            float l = b - (b - a) * 0.5f;
            interp[k] = (float) Math.exp(l);
        }
        sigmas = repeatInner(base);
        sigmasInterpol = repeatInner(interp);
        double[] tt = new double[2 * ts.length - 1];
        tt[0] = ts[0];
        for (int i = 1; i < ts.length; i++) {
            tt[2 * i - 1] = Schedules.sigmaToTF32(interp[i], logSigmas);
            tt[2 * i] = ts[i];
        }
        timesteps = tt;
        numInferenceSteps = n;
        savedSample = null;
        resetIndices();
    }

    /** {@code cat([v[:1], v[1:].repeat_interleave(2), v[-1:]])}. */
    private static float[] repeatInner(float[] v) {
        float[] out = new float[2 * v.length];
        out[0] = v[0];
        for (int i = 1; i < v.length; i++) {
            out[2 * i - 1] = v[i];
            out[2 * i] = v[i];
        }
        out[out.length - 1] = v[v.length - 1];
        return out;
    }

    private boolean firstOrder() {
        return savedSample == null;
    }

    @Override
    public Tensor scaleModelInput(Tensor sample, double t) {
        requireTimesteps();
        initStepIndex(t);
        float sigma = firstOrder() ? sigmas[stepIndex] : sigmasInterpol[stepIndex];
        float d = (float) Math.sqrt(sigma * sigma + 1f);
        float[] x = data(sample);
        for (int i = 0; i < x.length; i++) {
            x[i] = x[i] / d;
        }
        return like(sample, x);
    }

    @Override
    public StepOutput step(Tensor modelOutput, double t, Tensor sample, NoiseGenerator generator) {
        startStep(modelOutput, t, sample);
        boolean first = firstOrder();
        float sigma;
        float sigmaInterpol;
        float sigmaNext;
        if (first) {
            sigma = sigmas[stepIndex];
            sigmaInterpol = sigmasInterpol[stepIndex + 1];
            sigmaNext = sigmas[stepIndex + 1];
        } else {
            sigma = sigmas[stepIndex - 1];
            sigmaInterpol = sigmasInterpol[stepIndex];
            sigmaNext = sigmas[stepIndex];
        }
        float sigmaHat = sigma;
        float[] x = data(sample);
        float[] x0 = predictX0(data(modelOutput), x, first ? sigmaHat : sigmaInterpol);
        float[] out = new float[x.length];
        if (first) {
            float dt = sigmaInterpol - sigmaHat;
            for (int i = 0; i < x.length; i++) {
                float d = (x[i] - x0[i]) / sigmaHat;
                out[i] = x[i] + d * dt;
            }
            savedSample = x;
        } else {
            float dt = sigmaNext - sigmaHat;
            for (int i = 0; i < x.length; i++) {
                float d = (x[i] - x0[i]) / sigmaInterpol;
                out[i] = savedSample[i] + d * dt;
            }
            savedSample = null;
        }
        stepIndex++;
        return new StepOutput(like(sample, out), like(sample, x0));
    }
}
