package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;

/**
 * The rows of a convolution's input, produced on demand. A convolution that reads its input through this
 * (rather than from a tensor) can consume a group-normalised, SiLU'd or nearest-upsampled tensor without that
 * tensor ever existing in memory: each row is computed while the convolution copies it into its padded band.
 * Implementations must be safe to call from several threads at once for different rows.
 */
interface ConvRows {
    /** Images in the batch. */
    int batch();

    /** Input channels. */
    int channels();

    /** Rows of the (logical) input. */
    int height();

    /** Columns of the (logical) input. */
    int width();

    /** Writes row {@code y} of channel {@code c} of image {@code n} ({@link #width()} floats) to {@code dst[off…]}. */
    void row(int n, int c, int y, float[] dst, int off);

    /**
     * Writes every row of channel {@code c} of image {@code n} ({@link #height()} × {@link #width()} floats, row after
     * row) to {@code dst[off…]}. Sources whose rows are computed override it to work on the whole plane at once: a
     * row of an 8×8 map is shorter than one vector.
     */
    default void plane(int n, int c, float[] dst, int off) {
        for (int y = 0; y < height(); y++) {
            row(n, c, y, dst, off + y * width());
        }
    }

    /** The rows of a heap F32 NCHW tensor. */
    static ConvRows of(Tensor x) {
        float[] a = x.array();
        int offset = x.offset();
        int channels = x.dim(1);
        int height = x.dim(2);
        int width = x.dim(3);
        return new Sized(x.dim(0), channels, height, width) {
            @Override
            public void row(int n, int c, int y, float[] dst, int off) {
                System.arraycopy(a, offset + ((n * channels + c) * height + y) * width, dst, off, width);
            }
        };
    }

    /**
     * The rows of {@code groupNorm(x)} (then SiLU if asked), computed from x and its per-channel coefficients
     * ({@link Norms#groupNormCoefficients}) as they are read: the same values {@link Norms#groupNorm} writes.
     */
    static ConvRows groupNorm(Tensor x, float[][] coef, boolean silu) {
        float[] a = x.array();
        int offset = x.offset();
        int channels = x.dim(1);
        int height = x.dim(2);
        int width = x.dim(3);
        return new Sized(x.dim(0), channels, height, width) {
            @Override
            public void row(int n, int c, int y, float[] dst, int off) {
                int p = n * channels + c;
                Norms.normalizeRow(a, offset + (p * height + y) * width, dst, off, width, coef[0][p], coef[1][p],
                        coef[2][p], silu);
            }

            /**
             * The channel's coefficients hold for all its rows: one pass over the plane, in whole vectors. Row by row,
             * the 8-wide rows of the U-Net's 8×8 maps were all masked tail, whose SiLU C2 compiled inline in some JVM
             * runs and out of line, with boxed vectors, in others (each 8×8 convolution 22 or 37 ms from run to run).
             */
            @Override
            public void plane(int n, int c, float[] dst, int off) {
                int p = n * channels + c;
                Norms.normalizeRow(a, offset + p * height * width, dst, off, height * width, coef[0][p], coef[1][p],
                        coef[2][p], silu);
            }
        };
    }

    /** The rows of {@code upsampleNearest(x, outH, outW)} (source index {@code floor(dst · in / out)}), made as they are read. */
    static ConvRows upsampleNearest(Tensor x, int outH, int outW) {
        float[] a = x.array();
        int offset = x.offset();
        int channels = x.dim(1);
        int h = x.dim(2);
        int w = x.dim(3);
        int[] srcY = Elementwise.nearestIndex(h, outH);
        int[] srcX = Elementwise.nearestIndex(w, outW);
        boolean twice = outW == 2 * w;
        return new Sized(x.dim(0), channels, outH, outW) {
            @Override
            public void row(int n, int c, int y, float[] dst, int off) {
                int src = offset + ((n * channels + c) * h + srcY[y]) * w;
                if (twice) {
                    Elementwise.doubleRow(a, src, dst, off, w);
                } else {
                    for (int ox = 0; ox < outW; ox++) {
                        dst[off + ox] = a[src + srcX[ox]];
                    }
                }
            }
        };
    }

    /** Writes every row into a new heap tensor (for the convolution paths that need the input whole). */
    static Tensor materialize(ComputePool pool, ConvRows rows) {
        int h = rows.height();
        int w = rows.width();
        Tensor out = Tensor.empty(rows.batch(), rows.channels(), h, w);
        float[] o = out.array();
        int oOff = out.offset();
        int planes = rows.batch() * rows.channels();
        pool.parallelFor(planes, 1, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                rows.plane(p / rows.channels(), p % rows.channels(), o, oOff + p * h * w);
            }
        });
        return out;
    }

    /** Base of the derived row sources: the logical size. */
    abstract class Sized implements ConvRows {
        private final int batch;
        private final int channels;
        private final int height;
        private final int width;

        Sized(int batch, int channels, int height, int width) {
            this.batch = batch;
            this.channels = channels;
            this.height = height;
            this.width = width;
        }

        @Override
        public int batch() {
            return batch;
        }

        @Override
        public int channels() {
            return channels;
        }

        @Override
        public int height() {
            return height;
        }

        @Override
        public int width() {
            return width;
        }
    }
}
