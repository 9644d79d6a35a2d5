package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ArrayAlignment;
import dev.diffusion4j.tensor.HalfFloats;
import dev.diffusion4j.tensor.Tensor;
import java.util.Objects;

/** Small helpers the kernels share: reading any tensor as float32 and argument checks. */
final class Kernels {
    private Kernels() {
    }

    /**
     * A heap F32 view of {@code t}: the tensor itself when it already is one, else a converted copy
     * (bulk F16/BF16/F32 conversion). Kernels only read it.
     */
    static Tensor heap(Tensor t) {
        if (t.isHeap()) {
            return t;
        }
        long n = t.numel();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor " + t.shape() + " is too large for a heap copy");
        }
        float[] out = new float[(int) n];
        HalfFloats.toFloats(t.segment(), t.dtype(), 0, out, 0, (int) n);
        return Tensor.of(out, t.shape().dims());
    }

    /**
     * The elements of a per-channel parameter (gamma, beta) as a fresh float array of length {@code c},
     * or null when {@code p} is null.
     */
    static float[] param(String op, String name, Tensor p, int c, Tensor x) {
        if (p == null) {
            return null;
        }
        if (p.rank() != 1 || p.dim(0) != c) {
            throw new IllegalArgumentException(op + ": " + name + " must have shape [" + c + "] for input "
                    + x.shape() + ", got " + p.shape());
        }
        if (p.isHeap()) {
            float[] out = new float[c];
            System.arraycopy(p.array(), p.offset(), out, 0, c);
            return out;
        }
        float[] out = new float[c];
        HalfFloats.toFloats(p.segment(), p.dtype(), 0, out, 0, c);
        return out;
    }

    /**
     * Whether {@code t} is a heap tensor whose array holds exactly its elements (from offset 0 or, as {@link Tensor#zeros}
     * and {@link Tensor#empty} make them, from {@link ArrayAlignment#FLOAT_OFFSET}; nothing after them): a kernel told
     * it may reuse that storage can write its output there (from {@code t.offset()} on).
     */
    static boolean ownsStorage(Tensor t) {
        return t.isHeap() && (t.offset() == 0 || t.offset() == ArrayAlignment.FLOAT_OFFSET)
                && t.array().length == t.offset() + t.numel();
    }

    /** Whether {@code a} and {@code b} are heap tensors on the same array. */
    static boolean sharesStorage(Tensor a, Tensor b) {
        return a.isHeap() && b.isHeap() && a.array() == b.array();
    }

    /**
     * Whether an op may write its output into {@code residual}'s storage: the caller gave it up
     * ({@code residualIsScratch}), it {@linkplain #ownsStorage owns its array}, and that is not {@code input}'s, which
     * the op still reads while it writes (later K blocks, bands or tiles).
     */
    static boolean reusesResidual(Tensor residual, boolean residualIsScratch, Tensor input) {
        return residualIsScratch && residual != null && ownsStorage(residual) && !sharesStorage(residual, input);
    }

    static void requireNonNull(String op, String name, Tensor t) {
        Objects.requireNonNull(t, () -> op + ": " + name + " is null");
    }

    static int toInt(long n, String op, Tensor t) {
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(op + ": tensor " + t.shape() + " is too large");
        }
        return (int) n;
    }
}
