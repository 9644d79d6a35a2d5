package dev.diffusion4j.samplers;

/**
 * Noise-schedule arithmetic reproducing diffusers/PyTorch/numpy bit for bit where it matters:
 * betas and cumulative alphas in float32 (torch), timestep spacings and interpolation in float64 (numpy).
 */
final class Schedules {
    private Schedules() {
    }

    /**
     * {@code torch.linspace(start, end, steps, dtype=float32)} on an AVX2 CPU: step in float32, the first
     * half counted from start and the second from end, 8-lane vectors of {@code base + k*step} for blocks
     * of 16 and a scalar tail, with the FMA contractions of the compiled kernel.
     */
    static float[] torchLinspaceF32(double startD, double endD, int steps) {
        float start = (float) startD;
        float end = (float) endD;
        float[] out = new float[steps];
        if (steps == 1) {
            out[0] = start;
            return out;
        }
        float step = (end - start) / (float) (steps - 1);
        int half = steps / 2;
        int i = 0;
        for (; i + 16 <= steps; i += 16) {
            for (int blk = i; blk < i + 16; blk += 8) {
                float base = blk < half ? Math.fma(step, (float) blk, start)
                        : Math.fma(-step, (float) (steps - blk - 1), end);
                out[blk] = base;
                for (int k = 1; k < 8; k++) {
                    out[blk + k] = Math.fma((float) k, step, base);
                }
            }
        }
        for (int j = i; j < steps; j++) {
            out[j] = j < half ? Math.fma(step, (float) j, start) : Math.fma(-step, (float) (steps - j - 1), end);
        }
        return out;
    }

    /** Betas (float32) for a diffusers config; class default schedule "linear", 0.0001..0.02, 1000 steps. */
    static float[] betas(SchedulerConfig c) {
        int n = c.getInt("num_train_timesteps", 1000);
        double[] trained = c.getDoubles("trained_betas");
        if (trained != null) {
            float[] b = new float[trained.length];
            for (int i = 0; i < b.length; i++) {
                b[i] = (float) trained[i];
            }
            return b;
        }
        double start = c.getDouble("beta_start", 0.0001);
        double end = c.getDouble("beta_end", 0.02);
        String schedule = c.getString("beta_schedule", "linear");
        switch (schedule) {
            case "linear":
                return torchLinspaceF32(start, end, n);
            case "scaled_linear": {
                float[] b = torchLinspaceF32(Math.sqrt(start), Math.sqrt(end), n);
                for (int i = 0; i < n; i++) {
                    b[i] = b[i] * b[i];
                }
                return b;
            }
            case "squaredcos_cap_v2": {
                // betas_for_alpha_bar (cosine), computed in float64 then stored as float32.
                float[] b = new float[n];
                for (int i = 0; i < n; i++) {
                    double t1 = (double) i / n;
                    double t2 = (double) (i + 1) / n;
                    b[i] = (float) Math.min(1 - cosAlphaBar(t2) / cosAlphaBar(t1), 0.999);
                }
                return b;
            }
            default:
                throw new IllegalArgumentException("scheduler config: beta_schedule '" + schedule
                        + "' is not one of linear, scaled_linear, squaredcos_cap_v2");
        }
    }

    private static double cosAlphaBar(double t) {
        double v = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return v * v;
    }

    /** {@code torch.cumprod(1 - betas)} in float32 (torch's CPU kernel accumulates in double). */
    static float[] alphasCumprod(float[] betas) {
        float[] out = new float[betas.length];
        double acc = 1;
        for (int i = 0; i < betas.length; i++) {
            acc *= (1f - betas[i]);
            out[i] = (float) acc;
        }
        return out;
    }

    /** Zero-terminal-SNR rescaling of betas (rescale_zero_terminal_snr), float32 like torch. */
    static float[] rescaleZeroTerminalSnr(float[] betas) {
        int n = betas.length;
        float[] ac = alphasCumprod(betas);
        float[] sqrt = new float[n];
        for (int i = 0; i < n; i++) {
            sqrt[i] = (float) Math.sqrt(ac[i]);
        }
        float a0 = sqrt[0];
        float aT = sqrt[n - 1];
        for (int i = 0; i < n; i++) {
            sqrt[i] = (sqrt[i] - aT) * (a0 / (a0 - aT));
        }
        float[] abar = new float[n];
        for (int i = 0; i < n; i++) {
            abar[i] = sqrt[i] * sqrt[i];
        }
        float[] alphas = new float[n];
        alphas[0] = abar[0];
        for (int i = 1; i < n; i++) {
            alphas[i] = abar[i] / abar[i - 1];
        }
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = 1f - alphas[i];
        }
        return out;
    }

    /** {@code np.linspace(start, stop, num)} in float64: {@code i*step + start}, last = stop. */
    static double[] npLinspace(double start, double stop, int num) {
        double[] y = new double[num];
        if (num == 0) {
            return y;
        }
        if (num == 1) {
            y[0] = start;
            return y;
        }
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) {
            y[i] = i * step + start;
        }
        y[num - 1] = stop;
        return y;
    }

    /** numpy's {@code round} (half to even). */
    static double npRound(double v) {
        return Math.rint(v);
    }

    /** {@code np.interp(x, arange(len(fp)), fp)} in float64. */
    static double npInterpArange(double x, float[] fp) {
        int n = fp.length;
        if (Double.isNaN(x)) {
            return x;
        }
        if (x <= 0) {
            return fp[0];
        }
        if (x >= n - 1) {
            return fp[n - 1];
        }
        int j = (int) Math.floor(x);
        if (x == j) {
            return fp[j];
        }
        double slope = ((double) fp[j + 1] - (double) fp[j]) / 1.0;
        return slope * (x - j) + fp[j];
    }

    /** All training sigmas {@code sqrt((1 - ac) / ac)} in float32, ascending with t. */
    static float[] trainSigmas(float[] alphasCumprod) {
        float[] s = new float[alphasCumprod.length];
        for (int i = 0; i < s.length; i++) {
            float a = alphasCumprod[i];
            s[i] = (float) Math.sqrt((1f - a) / a);
        }
        return s;
    }

    /** Karras et al. (2022) sigmas (float64), rho = 7, from sigmaMax down to sigmaMin. */
    static double[] karras(double sigmaMin, double sigmaMax, int n) {
        double rho = 7.0;
        double[] ramp = npLinspace(0, 1, n);
        double minInv = Math.pow(sigmaMin, 1 / rho);
        double maxInv = Math.pow(sigmaMax, 1 / rho);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            out[i] = Math.pow(maxInv + ramp[i] * (minInv - maxInv), rho);
        }
        return out;
    }

    /**
     * Exponential sigmas (float64) from sigmaMax down to sigmaMin, evenly spaced in log sigma:
     * {@code exp(linspace(log(sigmaMax), log(sigmaMin), n))} (k-diffusion's {@code get_sigmas_exponential} without
     * its final 0; later diffusers' {@code _convert_to_exponential}). Not in diffusers 0.27.2: our extension,
     * selected by the config key {@code use_exponential_sigmas}.
     */
    static double[] exponential(double sigmaMin, double sigmaMax, int n) {
        double[] l = npLinspace(Math.log(sigmaMax), Math.log(sigmaMin), n);
        for (int i = 0; i < n; i++) {
            l[i] = Math.exp(l[i]);
        }
        return l;
    }

    /**
     * True when the config asks for re-spaced sigmas ({@code use_karras_sigmas} or our
     * {@code use_exponential_sigmas}); both at once is an error.
     */
    static boolean respaced(SchedulerConfig c, String who) {
        boolean karras = c.getBoolean("use_karras_sigmas", false);
        boolean exponential = c.getBoolean("use_exponential_sigmas", false);
        if (karras && exponential) {
            throw new IllegalArgumentException(who + ": use_karras_sigmas and use_exponential_sigmas are both true");
        }
        return karras || exponential;
    }

    /** The re-spaced sigmas {@link #respaced} asked for: Karras (rho 7) or exponential, from sigmaMax to sigmaMin. */
    static double[] respace(SchedulerConfig c, double sigmaMin, double sigmaMax, int n) {
        return c.getBoolean("use_exponential_sigmas", false) ? exponential(sigmaMin, sigmaMax, n) : karras(sigmaMin, sigmaMax, n);
    }

    /** diffusers' {@code _sigma_to_t}: the fractional timestep of {@code sigma} by log-sigma interpolation. */
    static double sigmaToT(double sigma, float[] logSigmas) {
        double logSigma = Math.log(Math.max(sigma, 1e-10));
        int n = logSigmas.length;
        // last index with logSigmas[i] <= logSigma (argmax of the cumulative count), 0 when none
        int low = 0;
        int count = 0;
        int best = 0;
        for (int i = 0; i < n; i++) {
            if (logSigma - logSigmas[i] >= 0) {
                count++;
                if (count > best) {
                    best = count;
                    low = i;
                }
            }
        }
        low = Math.min(low, n - 2);
        int high = low + 1;
        double lo = logSigmas[low];
        double hi = logSigmas[high];
        double w = (lo - logSigma) / (lo - hi);
        w = Math.max(0, Math.min(1, w));
        return (1 - w) * low + w * high;
    }

    /**
     * {@code _sigma_to_t} as it runs on a float32 torch tensor (KDPM2's midpoints): logs, weights and
     * the interpolation in float32. Matches diffusers to ~1e-7 relative (torch's vectorised log/exp are
     * not correctly rounded, so the last bit can differ).
     */
    static float sigmaToTF32(float sigma, float[] logSigmas) {
        float logSigma = (float) Math.log(Math.max(sigma, 1e-10f));
        int n = logSigmas.length;
        int low = 0;
        for (int i = 0; i < n; i++) {
            if (logSigma - logSigmas[i] >= 0f) {
                low = i;
            }
        }
        low = Math.min(low, n - 2);
        int high = low + 1;
        float lo = logSigmas[low];
        float hi = logSigmas[high];
        float w = (lo - logSigma) / (lo - hi);
        w = Math.max(0f, Math.min(1f, w));
        return (1f - w) * low + w * high;
    }

    /** {@code np.log} of float32 values, as float32. */
    static float[] logF32(float[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = (float) Math.log(v[i]);
        }
        return out;
    }

    /**
     * Integer timesteps (as doubles, descending) for DDIM/PNDM-style "leading"/"linspace"/"trailing" spacing.
     */
    static double[] discreteTimesteps(String spacing, int trainSteps, int n, int stepsOffset, String who) {
        double[] t = new double[n];
        switch (spacing) {
            case "linspace": {
                double[] l = npLinspace(0, trainSteps - 1, n);
                for (int i = 0; i < n; i++) {
                    t[i] = npRound(l[n - 1 - i]);
                }
                return t;
            }
            case "leading": {
                int ratio = trainSteps / n;
                for (int i = 0; i < n; i++) {
                    t[i] = (double) (n - 1 - i) * ratio + stepsOffset;
                }
                return t;
            }
            case "trailing":
                return trailing(trainSteps, n, trainSteps);
            default:
                throw badSpacing(who, spacing);
        }
    }

    /**
     * Integer timesteps (as doubles, descending) for the DPM-Solver family: "linspace" over n+1 points up to
     * {@code last - 1} (first dropped), "leading" with ratio {@code last / (n + 1)} plus steps_offset, or "trailing".
     */
    static double[] dpmTimesteps(SchedulerConfig config, String spacing, int trainSteps, int n, int last, String who) {
        double[] ts;
        switch (spacing) {
            case "linspace": {
                double[] l = npLinspace(0, last - 1, n + 1);
                ts = new double[n];
                for (int i = 0; i < n; i++) {
                    ts[i] = npRound(l[n - i]);
                }
                return ts;
            }
            case "leading": {
                int ratio = last / (n + 1);
                int off = config.getInt("steps_offset", 0);
                ts = new double[n];
                for (int i = 0; i < n; i++) {
                    ts[i] = (double) (n - i) * ratio + off;
                }
                return ts;
            }
            case "trailing":
                return trailing(trainSteps, n, last);
            default:
                throw badSpacing(who, spacing);
        }
    }

    /** {@code np.round(np.arange(start, 0, -train/n)) - 1} (descending, int64). */
    static double[] trailing(int trainSteps, int n, double start) {
        double ratio = (double) trainSteps / n;
        // np.arange length: ceil((stop - start) / step)
        int len = (int) Math.ceil((0 - start) / -ratio);
        double[] t = new double[len];
        for (int i = 0; i < len; i++) {
            t[i] = npRound(start + i * -ratio) - 1;
        }
        return t;
    }

    static IllegalArgumentException badSpacing(String who, String spacing) {
        return new IllegalArgumentException(who + ": timestep_spacing '" + spacing
                + "' is not one of linspace, leading, trailing");
    }

    static void checkSteps(String who, int n, int trainSteps) {
        if (n < 1 || n > trainSteps) {
            throw new IllegalArgumentException(who + ".setTimesteps: num_inference_steps " + n
                    + " must be in [1, num_train_timesteps=" + trainSteps + "]");
        }
    }
}
