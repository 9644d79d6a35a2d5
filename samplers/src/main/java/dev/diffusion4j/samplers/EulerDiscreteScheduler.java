package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code EulerDiscreteScheduler} (k-diffusion "Euler"), with optional Karras sigmas and the
 * churn parameters ({@code s_churn}, {@code s_tmin}, {@code s_tmax}, {@code s_noise}, default 0, 0, inf, 1).
 * Like diffusers, every step draws one noise tensor from the generator even when churn is 0 (it keeps
 * the generator sequence of a pipeline identical). Class defaults: timestep_spacing "linspace",
 * interpolation_type "linear", timestep_type "discrete".
 */
public final class EulerDiscreteScheduler extends SigmaScheduler {
    private double sChurn;
    private double sTmin;
    private double sTmax = Double.POSITIVE_INFINITY;
    private double sNoise = 1.0;

    /** An Euler scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public EulerDiscreteScheduler(SchedulerConfig config) {
        super(config);
        if (!config.getString("interpolation_type", "linear").equals("linear")
                && !config.getString("interpolation_type", "linear").equals("log_linear")) {
            throw new IllegalArgumentException("EulerDiscreteScheduler: interpolation_type must be linear or log_linear");
        }
        if (!config.getString("timestep_type", "discrete").equals("discrete")) {
            throw new IllegalArgumentException("EulerDiscreteScheduler: only timestep_type 'discrete' is supported");
        }
    }

    /** The churn step arguments of diffusers' {@code step} (s_churn, s_tmin, s_tmax, s_noise). */
    public EulerDiscreteScheduler setChurn(double sChurn, double sTmin, double sTmax, double sNoise) {
        this.sChurn = sChurn;
        this.sTmin = sTmin;
        this.sTmax = sTmax;
        this.sNoise = sNoise;
        return this;
    }

    @Override
    public void setTimesteps(int n) {
        Schedules.checkSteps(name(), n, trainSteps);
        double[] ts = floatTimesteps(n);
        double[] s;
        if (config.getString("interpolation_type", "linear").equals("log_linear")) {
            // torch.linspace(log(sigma_min), log(sigma_max), n + 1).exp() (float32), as diffusers
            float[] l = Schedules.torchLinspaceF32(Math.log(trainSigmas[trainSigmas.length - 1]),
                    Math.log(trainSigmas[0]), n + 1);
            s = new double[l.length];
            for (int i = 0; i < l.length; i++) {
                s[i] = (float) Math.exp(l[i]);
            }
        } else {
            s = interpSigmas(ts);
        }
        if (Schedules.respaced(config, name())) {
            s = karrasFrom(s, n, true);
            ts = new double[s.length];
            for (int i = 0; i < s.length; i++) {
                ts[i] = (float) Schedules.sigmaToT(s[i], logSigmas);
            }
        }
        timesteps = ts;
        sigmas = f32WithZero(s);
        numInferenceSteps = n;
        resetIndices();
    }

    @Override
    public StepOutput step(Tensor modelOutput, double t, Tensor sample, NoiseGenerator generator) {
        startStep(modelOutput, t, sample);
        float sigma = sigmas[stepIndex];
        float gamma = (sTmin <= sigma && sigma <= sTmax)
                ? (float) Math.min(sChurn / (sigmas.length - 1), Math.sqrt(2) - 1) : 0f;
        float[] z = noise(generator, modelOutput, name());
        float sigmaHat = sigma * (gamma + 1f);
        float[] x = data(sample);
        float[] m = data(modelOutput);
        if (gamma > 0) {
            float c = (float) Math.sqrt(sigmaHat * sigmaHat - sigma * sigma);
            for (int i = 0; i < x.length; i++) {
                x[i] = x[i] + (float) (z[i] * sNoise) * c;
            }
        }
        float[] x0 = predictX0(m, x, predictionType.equals("epsilon") ? sigmaHat : sigma);
        float dt = sigmas[stepIndex + 1] - sigmaHat;
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            float d = (x[i] - x0[i]) / sigmaHat;
            out[i] = x[i] + d * dt;
        }
        stepIndex++;
        return new StepOutput(like(sample, out), like(sample, x0));
    }
}
