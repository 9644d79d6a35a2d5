package dev.diffusion4j.nn.unet;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code Timesteps}: the sinusoidal timestep embedding. Frequencies {@code exp(-ln(10000)·i / (half −
 * freq_shift))} and their products with t are rounded to float32 in the reference's order, so the embedding
 * matches it to the last bit or two.
 */
public final class Timesteps {
    private final int dim;
    private final boolean flipSinToCos;
    private final float[] freqs;

    /** An embedding of {@code dim} (even) channels. */
    public Timesteps(int dim, boolean flipSinToCos, double freqShift) {
        if (dim % 2 != 0) {
            throw new IllegalArgumentException("time_proj: embedding size " + dim + " must be even");
        }
        this.dim = dim;
        this.flipSinToCos = flipSinToCos;
        int half = dim / 2;
        this.freqs = new float[half];
        float logPeriod = (float) -Math.log(10000);
        float denom = (float) (half - freqShift);
        for (int i = 0; i < half; i++) {
            float exponent = (logPeriod * i) / denom;
            freqs[i] = (float) Math.exp(exponent);
        }
    }

    /** timesteps {@code [B]} → {@code [B, dim]}. */
    public Tensor forward(float[] timesteps) {
        int half = dim / 2;
        Tensor out = Tensor.zeros(timesteps.length, dim);
        float[] o = out.array();
        for (int b = 0; b < timesteps.length; b++) {
            int sinAt = out.offset() + b * dim + (flipSinToCos ? half : 0);
            int cosAt = out.offset() + b * dim + (flipSinToCos ? 0 : half);
            for (int i = 0; i < half; i++) {
                float arg = timesteps[b] * freqs[i];
                o[sinAt + i] = (float) Math.sin(arg);
                o[cosAt + i] = (float) Math.cos(arg);
            }
        }
        return out;
    }
}
