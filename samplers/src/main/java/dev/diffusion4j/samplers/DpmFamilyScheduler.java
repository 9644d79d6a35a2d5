package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * Shared parts of the exponential-integrator schedulers working on (alpha_t, sigma_t, lambda_t) with
 * integer timesteps (UniPC, DEIS, DPM-Solver singlestep): "linspace over n+1 points" spacing, sigma
 * interpolation or Karras sigmas, data/noise-prediction conversion and VP noising.
 */
abstract class DpmFamilyScheduler extends IntegerTimestepScheduler {
    protected final float[] trainSigmas;
    protected final float[] logSigmas;

    DpmFamilyScheduler(SchedulerConfig config) {
        super(config);
        if (config.getBoolean("thresholding", false)) {
            throw new IllegalArgumentException(name() + ": thresholding=true is not supported");
        }
        trainSigmas = Schedules.trainSigmas(alphasCumprod);
        logSigmas = Schedules.logF32(trainSigmas);
    }

    /** Timesteps for linspace (n+1 points, last dropped), leading or trailing spacing, descending. */
    protected double[] dpmTimesteps(String spacing, int n, int last) {
        return Schedules.dpmTimesteps(config, spacing, trainSteps, n, last, name());
    }

    /**
     * Sets timesteps and sigmas: interpolated sigmas plus {@code lastSigma}, or (use_karras_sigmas /
     * use_exponential_sigmas) Karras or exponential sigmas with rounded timesteps, the last sigma repeated.
     */
    protected void setSchedule(double[] ts, boolean karras, double lastSigmaIfInterp) {
        double[] s;
        float last;
        if (karras) {
            int n = ts.length;
            s = Schedules.respace(config, trainSigmas[0], trainSigmas[trainSigmas.length - 1], n);
            ts = new double[n];
            for (int i = 0; i < n; i++) {
                ts[i] = Schedules.npRound(Schedules.sigmaToT(s[i], logSigmas));
            }
            last = (float) s[n - 1];
        } else {
            s = new double[ts.length];
            for (int i = 0; i < ts.length; i++) {
                s[i] = Schedules.npInterpArange(ts[i], trainSigmas);
            }
            last = (float) lastSigmaIfInterp;
        }
        float[] sg = new float[s.length + 1];
        for (int i = 0; i < s.length; i++) {
            sg[i] = (float) s[i];
        }
        sg[s.length] = last;
        sigmas = sg;
        timesteps = ts;
        numInferenceSteps = ts.length;
        resetIndices();
    }

    /** sqrt((1 - ac[0]) / ac[0]) in float32: the smallest training sigma. */
    protected float sigmaMin() {
        return trainSigmas[0];
    }

    static double alphaOf(double sigma) {
        return 1 / Math.sqrt(sigma * sigma + 1);
    }

    static double sigmaTOf(double sigma) {
        return sigma * alphaOf(sigma);
    }

    static double lambdaOf(double sigma) {
        double a = alphaOf(sigma);
        return Math.log(a) - Math.log(sigma * a);
    }

    /** The model output as a data prediction x0 (at the current step's sigma). */
    protected float[] toX0(float[] m, float[] x) {
        return toX0(predictionType, sigmas[stepIndex], m, x);
    }

    /** The model output {@code m} (of {@code predictionType}) at {@code sigma} as a data prediction x0. */
    static float[] toX0(String predictionType, double sigma, float[] m, float[] x) {
        double a = alphaOf(sigma);
        double s = sigma * a;
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) switch (predictionType) {
                case "epsilon" -> (x[i] - s * m[i]) / a;
                case "v_prediction" -> a * x[i] - s * m[i];
                default -> m[i];
            };
        }
        return out;
    }

    /** The model output as a noise prediction (at the current step's sigma). */
    protected float[] toEps(float[] m, float[] x) {
        return toEps(predictionType, sigmas[stepIndex], m, x);
    }

    /** The model output {@code m} (of {@code predictionType}) at {@code sigma} as a noise prediction. */
    static float[] toEps(String predictionType, double sigma, float[] m, float[] x) {
        double a = alphaOf(sigma);
        double s = sigma * a;
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) switch (predictionType) {
                case "epsilon" -> m[i];
                case "v_prediction" -> a * m[i] + s * x[i];
                default -> (x[i] - a * m[i]) / s;
            };
        }
        return out;
    }

    @Override
    protected boolean unknownTimestepIsLast() {
        return true;
    }

    protected void checkStep(Tensor modelOutput, double t, Tensor sample) {
        startStep(modelOutput, t, sample);
    }

    /** {@code alpha_t * original + sigma_t * noise} with the sigma of the begin/step index or of {@code t}. */
    @Override
    public Tensor addNoise(Tensor original, Tensor noise, double t) {
        return addNoiseSigmas(original, noise, t);
    }
}
