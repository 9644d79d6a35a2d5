package dev.diffusion4j.samplers.kdiffusion;

import dev.diffusion4j.tensor.Tensor;

/**
 * The element-wise arithmetic samplers need, on F32 tensors of equal shape. Every method returns a new heap
 * tensor and leaves its arguments alone; coefficients are applied in double and the result stored as float32.
 */
public final class Latents {
    private Latents() {
    }

    /** {@code a * x + b * y}. */
    public static Tensor combine(double a, Tensor x, double b, Tensor y) {
        same("Latents.combine", x, y);
        float[] u = x.toFloatArray();
        float[] v = y.toFloatArray();
        float[] out = new float[u.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (a * u[i] + b * v[i]);
        }
        return Tensor.of(out, x.shape().dims());
    }

    /** {@code a * x + b * y + c * z}. */
    public static Tensor combine(double a, Tensor x, double b, Tensor y, double c, Tensor z) {
        same("Latents.combine", x, y);
        same("Latents.combine", x, z);
        float[] u = x.toFloatArray();
        float[] v = y.toFloatArray();
        float[] w = z.toFloatArray();
        float[] out = new float[u.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (a * u[i] + b * v[i] + c * w[i]);
        }
        return Tensor.of(out, x.shape().dims());
    }

    /** {@code x + s * y}. */
    public static Tensor addScaled(Tensor x, double s, Tensor y) {
        return combine(1, x, s, y);
    }

    /** {@code s * x}. */
    public static Tensor scale(Tensor x, double s) {
        float[] u = x.toFloatArray();
        for (int i = 0; i < u.length; i++) {
            u[i] = (float) (s * u[i]);
        }
        return Tensor.of(u, x.shape().dims());
    }

    /** The ODE derivative {@code (x - denoised) / sigma} (k-diffusion's {@code to_d}). */
    public static Tensor derivative(Tensor x, Tensor denoised, double sigma) {
        if (!(sigma > 0)) {
            throw new IllegalArgumentException("Latents.derivative: sigma must be > 0, got " + sigma);
        }
        return combine(1 / sigma, x, -1 / sigma, denoised);
    }

    /** Mean and (population) variance of all elements, accumulated in double: {@code {mean, variance}}. */
    public static double[] moments(Tensor x) {
        float[] u = x.toFloatArray();
        if (u.length == 0) {
            throw new IllegalArgumentException("Latents.moments: empty tensor " + x.shape());
        }
        double sum = 0;
        for (float v : u) {
            sum += v;
        }
        double mean = sum / u.length;
        double sq = 0;
        for (float v : u) {
            double d = v - mean;
            sq += d * d;
        }
        return new double[] {mean, sq / u.length};
    }

    private static void same(String op, Tensor a, Tensor b) {
        if (!a.shape().equals(b.shape())) {
            throw new IllegalArgumentException(op + ": shapes " + a.shape() + " and " + b.shape() + " differ");
        }
    }
}
