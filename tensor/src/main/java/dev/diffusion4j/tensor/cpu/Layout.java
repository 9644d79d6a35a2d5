package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;

/** Data movement without arithmetic: transposes and channel slices. */
public final class Layout {
    private static final int TILE = 32;

    private Layout() {
    }

    /** See {@link dev.diffusion4j.tensor.Backend#transpose}. */
    public static Tensor transpose(ComputePool pool, Tensor x) {
        if (x.rank() < 2) {
            throw new IllegalArgumentException("transpose: needs rank >= 2, got shape " + x.shape());
        }
        Tensor src = x.isHeap() ? x : x.toHeapF32();
        int rows = x.dim(-2);
        int cols = x.dim(-1);
        int batch = (int) (x.numel() / Math.max(1L, (long) rows * cols));
        int[] dims = x.shape().dims();
        dims[dims.length - 2] = cols;
        dims[dims.length - 1] = rows;
        Tensor out = Tensor.empty(dims);
        if (x.numel() == 0) {
            return out;
        }
        float[] a = src.array();
        int aOff = src.offset();
        float[] o = out.array();
        int oOff = out.offset();
        int rowTiles = (rows + TILE - 1) / TILE;
        // Square tiles keep both the reads and the writes within a few cache lines.
        pool.parallelFor(batch * rowTiles, 1, (from, to) -> {
            for (int job = from; job < to; job++) {
                int b = job / rowTiles;
                int r0 = (job % rowTiles) * TILE;
                int r1 = Math.min(rows, r0 + TILE);
                int base = b * rows * cols;
                for (int c0 = 0; c0 < cols; c0 += TILE) {
                    int c1 = Math.min(cols, c0 + TILE);
                    for (int r = r0; r < r1; r++) {
                        int srcRow = aOff + base + r * cols;
                        for (int c = c0; c < c1; c++) {
                            o[oOff + base + c * rows + r] = a[srcRow + c];
                        }
                    }
                }
            }
        });
        return out;
    }

    /** See {@link dev.diffusion4j.tensor.Backend#sliceChannels}. */
    public static Tensor sliceChannels(Tensor x, int start, int length) {
        if (x.rank() < 2) {
            throw new IllegalArgumentException("sliceChannels: needs rank >= 2, got shape " + x.shape());
        }
        int channels = x.dim(1);
        if (start < 0 || length < 0 || start + length > channels) {
            throw new IllegalArgumentException("sliceChannels: channels [" + start + ", " + (start + length)
                    + ") outside shape " + x.shape());
        }
        Tensor src = x.isHeap() ? x : x.toHeapF32();
        int n = x.dim(0);
        int inner = (int) x.shape().product(2, x.rank());
        int[] dims = x.shape().dims();
        dims[1] = length;
        Tensor out = Tensor.empty(Shape.of(dims));
        for (int b = 0; b < n; b++) {
            System.arraycopy(src.array(), src.offset() + (b * channels + start) * inner,
                    out.array(), out.offset() + b * length * inner, length * inner);
        }
        return out;
    }
}
