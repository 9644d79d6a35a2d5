package dev.diffusion4j.samplers.kdiffusion;

/**
 * Noise-level schedules in k-diffusion's form: {@code n} decreasing sigmas from {@code sigmaMax} to
 * {@code sigmaMin} (both exact), followed by a final 0 ({@code n + 1} values, n steps). Computed in double.
 */
public final class Sigmas {
    private Sigmas() {
    }

    /**
     * Karras et al. (2022) sigmas ({@code get_sigmas_karras}): {@code (max^(1/rho) + i/(n-1) * (min^(1/rho) -
     * max^(1/rho)))^rho} for i = 0..n-1, then 0. {@code rho = 7} is the paper's and A1111's choice.
     */
    public static double[] karras(int n, double sigmaMin, double sigmaMax, double rho) {
        check("karras", n, sigmaMin, sigmaMax);
        if (!(rho > 0)) {
            throw new IllegalArgumentException("Sigmas.karras: rho must be > 0, got " + rho);
        }
        double minInv = Math.pow(sigmaMin, 1 / rho);
        double maxInv = Math.pow(sigmaMax, 1 / rho);
        double[] s = new double[n + 1];
        for (int i = 0; i < n; i++) {
            double ramp = n == 1 ? 0 : (double) i / (n - 1);
            s[i] = Math.pow(maxInv + ramp * (minInv - maxInv), rho);
        }
        // the ends exactly (pow/exp of a log do not round-trip)
        s[n - 1] = sigmaMin;
        s[0] = sigmaMax; // n = 1: just sigmaMax, as linspace
        return s;
    }

    /**
     * Exponential sigmas ({@code get_sigmas_exponential}), evenly spaced in log sigma: {@code exp(log max + i/(n-1)
     * * (log min - log max))} for i = 0..n-1, then 0.
     */
    public static double[] exponential(int n, double sigmaMin, double sigmaMax) {
        check("exponential", n, sigmaMin, sigmaMax);
        double lo = Math.log(sigmaMin);
        double hi = Math.log(sigmaMax);
        double[] s = new double[n + 1];
        for (int i = 0; i < n; i++) {
            double ramp = n == 1 ? 0 : (double) i / (n - 1);
            s[i] = Math.exp(hi + ramp * (lo - hi));
        }
        // the ends exactly (pow/exp of a log do not round-trip)
        s[n - 1] = sigmaMin;
        s[0] = sigmaMax; // n = 1: just sigmaMax, as linspace
        return s;
    }

    private static void check(String who, int n, double sigmaMin, double sigmaMax) {
        if (n < 1) {
            throw new IllegalArgumentException("Sigmas." + who + ": n must be >= 1, got " + n);
        }
        if (!(sigmaMin > 0) || !(sigmaMax >= sigmaMin) || Double.isInfinite(sigmaMax)) {
            throw new IllegalArgumentException("Sigmas." + who + ": need 0 < sigmaMin <= sigmaMax < inf, got "
                    + sigmaMin + ", " + sigmaMax);
        }
    }
}
