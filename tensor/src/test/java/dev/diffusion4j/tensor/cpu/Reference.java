package dev.diffusion4j.tensor.cpu;

import java.util.SplittableRandom;

/** Double-precision scalar references and helpers for the kernel tests. */
final class Reference {
    private Reference() {
    }

    /**
     * erf in double: 2/sqrt(pi)·e^(-x²)·Σ 2^n x^(2n+1) / (2n+1)!! (all terms positive, no cancellation;
     * relative error ~1e-15 for |x| <= 6, where erf already rounds to ±1 in double).
     */
    static double erf(double x) {
        double a = Math.abs(x);
        if (Double.isNaN(x)) {
            return Double.NaN;
        }
        if (a >= 6) {
            return Math.signum(x);
        }
        double term = a;
        double sum = a;
        for (int n = 1; n < 500; n++) {
            term *= 2 * a * a / (2 * n + 1);
            sum += term;
            if (term < sum * 1e-17) {
                break;
            }
        }
        return Math.copySign(2 / Math.sqrt(Math.PI) * Math.exp(-a * a) * sum, x);
    }

    static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    static double silu(double x) {
        return x * sigmoid(x);
    }

    static double geluErf(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    static double geluTanh(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    static double quickGelu(double x) {
        return x * sigmoid(1.702 * x);
    }

    static float[] gaussian(SplittableRandom rnd, int n, double mean, double std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (mean + std * rnd.nextGaussian());
        }
        return a;
    }

    /** Asserts |got - want| <= abs + rel·|want| element-wise, with the seed and index in the message. */
    static void assertClose(double[] want, float[] got, double abs, double rel, String what) {
        if (want.length != got.length) {
            throw new AssertionError(what + ": length " + got.length + " != " + want.length);
        }
        for (int i = 0; i < want.length; i++) {
            double tol = abs + rel * Math.abs(want[i]);
            if (!(Math.abs(got[i] - want[i]) <= tol) && !(Double.isNaN(want[i]) && Float.isNaN(got[i]))
                    && !(Double.isInfinite(want[i]) && want[i] == got[i])) {
                throw new AssertionError(what + ": element " + i + " got " + got[i] + " want " + want[i]
                        + " (diff " + Math.abs(got[i] - want[i]) + ", tol " + tol + ")");
            }
        }
    }
}
