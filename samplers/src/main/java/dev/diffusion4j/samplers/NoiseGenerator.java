package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * A source of standard-normal noise, as pipelines and stochastic schedulers draw it.
 *
 * <p>Implementations are stateful objects (never global state): every call advances the generator, so one
 * generator used in a fixed order (initial latents, then each stochastic step) reproduces a run.
 */
public interface NoiseGenerator {
    /**
     * Draws {@code prod(shape)} standard-normal float32 values in row-major order.
     *
     * @throws IllegalArgumentException if a dimension is negative
     */
    float[] randn(int... shape);

    /** Same as {@link #randn(int...)}, wrapped as an F32 heap tensor of that shape. */
    default Tensor randnTensor(int... shape) {
        return Tensor.of(randn(shape), shape);
    }

    /** Number of elements of {@code shape}; rejects negative dimensions and more than an array can hold. */
    static int numel(String op, int... shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException(op + ": negative dimension in shape " + java.util.Arrays.toString(shape));
            }
            n *= d;
            if (n > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException(op + ": shape " + java.util.Arrays.toString(shape) + " is too large");
            }
        }
        return (int) n;
    }
}
