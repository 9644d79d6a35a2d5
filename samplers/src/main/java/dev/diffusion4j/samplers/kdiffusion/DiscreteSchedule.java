package dev.diffusion4j.samplers.kdiffusion;

import dev.diffusion4j.samplers.SchedulerConfig;
import dev.diffusion4j.samplers.Schedulers;
import java.util.List;
import java.util.Locale;

/**
 * The noise levels of a model trained on discrete timesteps (k-diffusion's {@code DiscreteSchedule}):
 * {@code sigma_t = sqrt((1 - alphas_cumprod[t]) / alphas_cumprod[t])} for t = 0..T-1, with conversions between
 * a continuous timestep and sigma by linear interpolation over log sigma, and the sigma schedules samplers use.
 */
public final class DiscreteSchedule {
    private final double[] sigmas;
    private final double[] logSigmas;

    /** The schedule of {@code alphasCumprod} (increasing t, values in (0, 1), at least 2). */
    public DiscreteSchedule(float[] alphasCumprod) {
        if (alphasCumprod.length < 2) {
            throw new IllegalArgumentException("DiscreteSchedule: needs at least 2 alphas_cumprod, got " + alphasCumprod.length);
        }
        sigmas = new double[alphasCumprod.length];
        logSigmas = new double[alphasCumprod.length];
        for (int i = 0; i < sigmas.length; i++) {
            float a = alphasCumprod[i];
            if (!(a > 0 && a < 1)) {
                throw new IllegalArgumentException("DiscreteSchedule: alphas_cumprod[" + i + "] = " + a
                        + " is not in (0, 1) (zero-terminal-SNR schedules have an infinite sigma)");
            }
            // float32 as k-diffusion computes it from the model's float32 alphas_cumprod
            float s = (float) Math.sqrt((1f - a) / a);
            sigmas[i] = s;
            logSigmas[i] = (float) Math.log(s);
            if (i > 0 && !(logSigmas[i] > logSigmas[i - 1])) {
                throw new IllegalArgumentException("DiscreteSchedule: sigmas must increase with t (at t=" + i + ")");
            }
        }
    }

    /** The schedule of a diffusers scheduler config (its betas: beta_start, beta_end, beta_schedule, trained_betas). */
    public static DiscreteSchedule of(SchedulerConfig config) {
        return new DiscreteSchedule(Schedulers.alphasCumprod(config));
    }

    /** Number of training timesteps T. */
    public int numTrainTimesteps() {
        return sigmas.length;
    }

    /** The smallest training sigma (t = 0). */
    public double sigmaMin() {
        return sigmas[0];
    }

    /** The largest training sigma (t = T-1). */
    public double sigmaMax() {
        return sigmas[sigmas.length - 1];
    }

    /** The training sigma of integer timestep {@code t}. */
    public double sigma(int t) {
        if (t < 0 || t >= sigmas.length) {
            throw new IllegalArgumentException("DiscreteSchedule.sigma: t " + t + " outside [0, " + sigmas.length + ")");
        }
        return sigmas[t];
    }

    /**
     * The continuous timestep of {@code sigma} ({@code sigma_to_t}): linear interpolation of t over log sigma
     * between the two neighbouring training sigmas, clamped to [0, T-1].
     */
    public double sigmaToT(double sigma) {
        double logSigma = Math.log(sigma);
        int n = logSigmas.length;
        int low = 0;
        for (int i = 0; i < n; i++) {
            if (logSigma - logSigmas[i] >= 0) {
                low = i;
            }
        }
        low = Math.min(low, n - 2);
        double lo = logSigmas[low];
        double hi = logSigmas[low + 1];
        double w = Math.max(0, Math.min(1, (lo - logSigma) / (lo - hi)));
        return (1 - w) * low + w * (low + 1);
    }

    /**
     * The sigma of a continuous timestep ({@code t_to_sigma}): log sigma interpolated linearly in t (the training
     * sigma itself at an integer t).
     */
    public double tToSigma(double t) {
        if (!(t >= 0 && t <= sigmas.length - 1)) {
            throw new IllegalArgumentException("DiscreteSchedule.tToSigma: t " + t + " outside [0, " + (sigmas.length - 1) + "]");
        }
        int low = (int) Math.floor(t);
        int high = (int) Math.ceil(t);
        double w = t - low;
        if (w == 0) {
            return sigmas[low];
        }
        return Math.exp((1 - w) * logSigmas[low] + w * logSigmas[high]);
    }

    /**
     * k-diffusion's {@code get_sigmas(n)}: the sigmas of {@code n} timesteps evenly spaced from T-1 down to 0,
     * then 0 (A1111's "Automatic"/"Uniform" schedule for the k-samplers).
     */
    public double[] sigmas(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("DiscreteSchedule.sigmas: n must be >= 1, got " + n);
        }
        double[] s = new double[n + 1];
        double top = sigmas.length - 1;
        for (int i = 0; i < n; i++) {
            double t = n == 1 ? top : top - top * i / (n - 1);
            s[i] = tToSigma(t);
        }
        return s;
    }

    /** Karras sigmas (rho 7) between this model's smallest and largest sigma, then 0. */
    public double[] karras(int n) {
        return Sigmas.karras(n, sigmaMin(), sigmaMax(), 7.0);
    }

    /** Exponential sigmas between this model's smallest and largest sigma, then 0. */
    public double[] exponential(int n) {
        return Sigmas.exponential(n, sigmaMin(), sigmaMax());
    }

    /** The schedule names {@link #schedule} accepts. */
    public static List<String> scheduleNames() {
        return List.of("default", "karras", "exponential");
    }

    /**
     * The sigmas of a named schedule: "default" (or null) = {@link #sigmas}, "karras", "exponential".
     *
     * @throws IllegalArgumentException for another name
     */
    public double[] schedule(String name, int n) {
        String s = name == null ? "default" : name.toLowerCase(Locale.ROOT);
        return switch (s) {
            case "default" -> sigmas(n);
            case "karras" -> karras(n);
            case "exponential" -> exponential(n);
            default -> throw new IllegalArgumentException("DiscreteSchedule.schedule: unknown schedule '" + name
                    + "' (known: " + scheduleNames() + ")");
        };
    }
}
