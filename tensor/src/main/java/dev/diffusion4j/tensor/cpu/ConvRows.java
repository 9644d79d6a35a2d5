package dev.diffusion4j.tensor.cpu;

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

    /** The rows of a heap F32 NCHW tensor's array, starting at {@code offset}. */
    static ConvRows of(float[] x, int offset, int batch, int channels, int height, int width) {
        return new ConvRows() {
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

            @Override
            public void row(int n, int c, int y, float[] dst, int off) {
                System.arraycopy(x, offset + ((n * channels + c) * height + y) * width, dst, off, width);
            }
        };
    }
}
