package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * Shared parts of the k-diffusion family (Euler, Euler a, LMS, Heun, KDPM2): float32 timesteps with
 * numpy spacing, sigmas interpolated in float64 then stored as float32, input scaling by
 * {@code 1/sqrt(sigma^2+1)} and sigma-based noising.
 */
abstract class SigmaScheduler extends AbstractScheduler {
    protected final float[] trainSigmas;
    protected final float[] logSigmas;

    SigmaScheduler(SchedulerConfig config) {
        super(config);
        trainSigmas = Schedules.trainSigmas(alphasCumprod);
        logSigmas = Schedules.logF32(trainSigmas);
    }

    /** Float32 timesteps (descending, as doubles) for linspace/leading/trailing spacing. */
    protected double[] floatTimesteps(int n) {
        String spacing = spacing("linspace");
        double[] t;
        switch (spacing) {
            case "linspace": {
                double[] l = Schedules.npLinspace(0, trainSteps - 1, n);
                t = new double[n];
                for (int i = 0; i < n; i++) {
                    t[i] = (float) l[n - 1 - i];
                }
                return t;
            }
            case "leading": {
                int ratio = trainSteps / n;
                int off = config.getInt("steps_offset", 0);
                t = new double[n];
                for (int i = 0; i < n; i++) {
                    t[i] = (float) ((double) (n - 1 - i) * ratio) + (float) off; // float32 add, as numpy
                }
                return t;
            }
            case "trailing": {
                double ratio = (double) trainSteps / n;
                int len = (int) Math.ceil(trainSteps / ratio);
                t = new double[len];
                for (int i = 0; i < len; i++) {
                    t[i] = (float) Schedules.npRound(trainSteps - i * ratio) - 1f;
                }
                return t;
            }
            default:
                throw Schedules.badSpacing(name(), spacing);
        }
    }

    /** {@code np.interp(timesteps, arange, train_sigmas)} in float64. */
    protected double[] interpSigmas(double[] ts) {
        double[] s = new double[ts.length];
        for (int i = 0; i < ts.length; i++) {
            s[i] = Schedules.npInterpArange(ts[i], trainSigmas);
        }
        return s;
    }

    /**
     * Karras (or, with use_exponential_sigmas, exponential) sigmas between the ends of {@code sigmas} (float64);
     * only classes whose config has
     * sigma_min/sigma_max keys (Euler) pass {@code configBounds}.
     */
    protected double[] karrasFrom(double[] sigmas, int n, boolean configBounds) {
        double min = configBounds ? config.getDouble("sigma_min", sigmas[sigmas.length - 1]) : sigmas[sigmas.length - 1];
        double max = configBounds ? config.getDouble("sigma_max", sigmas[0]) : sigmas[0];
        return Schedules.respace(config, min, max, n);
    }

    protected static float[] f32WithZero(double[] s) {
        float[] out = new float[s.length + 1];
        for (int i = 0; i < s.length; i++) {
            out[i] = (float) s[i];
        }
        return out;
    }

    protected float maxSigma() {
        float m = Float.NEGATIVE_INFINITY;
        for (float s : sigmas) {
            m = Math.max(m, s);
        }
        return m;
    }

    @Override
    public float initNoiseSigma() {
        requireTimesteps();
        float max = maxSigma();
        String spacing = spacing("linspace");
        if (spacing.equals("linspace") || spacing.equals("trailing")) {
            return max;
        }
        return (float) Math.sqrt(max * max + 1f);
    }

    @Override
    public boolean integerTimesteps() {
        return false;
    }

    /** Divides by {@code sqrt(sigma^2 + 1)} for the sigma of the current step. */
    @Override
    public Tensor scaleModelInput(Tensor sample, double t) {
        requireTimesteps();
        initStepIndex(t);
        float sigma = sigmas[stepIndex];
        float d = (float) Math.sqrt(sigma * sigma + 1f);
        float[] x = data(sample);
        for (int i = 0; i < x.length; i++) {
            x[i] = x[i] / d;
        }
        return like(sample, x);
    }

    /** The sigma index add_noise uses: begin/step index once set, else the timestep's index. */
    protected int noiseIndex(double t) {
        if (beginIndex < 0) {
            return indexForTimestep(t);
        }
        return stepIndex >= 0 ? stepIndex : beginIndex;
    }

    /** {@code original + noise * sigma}. */
    @Override
    public Tensor addNoise(Tensor original, Tensor noise, double t) {
        requireTimesteps();
        sameShape(name() + ".addNoise", original, "original", noise, "noise");
        float sigma = sigmas[noiseIndex(t)];
        float[] x = data(original);
        float[] n = data(noise);
        for (int i = 0; i < x.length; i++) {
            x[i] = x[i] + n[i] * sigma;
        }
        return like(original, x);
    }

    /** The predicted x0 for {@code prediction_type} at {@code sigma}. */
    protected float[] predictX0(float[] m, float[] x, float sigma) {
        float[] x0 = new float[x.length];
        switch (predictionType) {
            case "epsilon" -> {
                for (int i = 0; i < x.length; i++) {
                    x0[i] = x[i] - sigma * m[i];
                }
            }
            case "v_prediction" -> {
                float c = -sigma / (float) Math.sqrt(sigma * sigma + 1f);
                float d = sigma * sigma + 1f;
                for (int i = 0; i < x.length; i++) {
                    x0[i] = m[i] * c + x[i] / d;
                }
            }
            default -> System.arraycopy(m, 0, x0, 0, x.length);
        }
        return x0;
    }
}
