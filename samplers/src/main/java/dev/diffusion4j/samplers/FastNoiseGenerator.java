package dev.diffusion4j.samplers;

import java.util.SplittableRandom;

/**
 * A fast Gaussian generator that is NOT compatible with PyTorch (different engine and transform): use it
 * when reproducing a PyTorch seed does not matter. Deterministic for a given seed; not thread-safe.
 */
public final class FastNoiseGenerator implements NoiseGenerator {
    private SplittableRandom random;

    /** A generator seeded with {@code seed}. */
    public FastNoiseGenerator(long seed) {
        this.random = new SplittableRandom(seed);
    }

    /** Restarts the sequence from {@code seed}. */
    public FastNoiseGenerator manualSeed(long seed) {
        this.random = new SplittableRandom(seed);
        return this;
    }

    @Override
    public float[] randn(int... shape) {
        float[] out = new float[NoiseGenerator.numel("FastNoiseGenerator.randn", shape)];
        for (int i = 0; i < out.length; i++) {
            // RandomGenerator.nextGaussian: McFarland's modified ziggurat, much cheaper than Box-Muller.
            out[i] = (float) random.nextGaussian();
        }
        return out;
    }
}
