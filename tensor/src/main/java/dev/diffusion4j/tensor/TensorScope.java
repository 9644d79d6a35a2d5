package dev.diffusion4j.tensor;

import java.lang.ref.SoftReference;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * A stretch of a forward pass whose intermediate activations are recycled: the storage of every large heap tensor
 * that {@link Tensor#zeros} or {@link Tensor#empty} makes on this thread while the scope is open goes back to a
 * per-thread pool when the scope closes, unless it was {@linkplain #keep kept}, and a later {@link Tensor#zeros} of
 * the same size takes it from there (zero-filled again) instead of allocating; a later {@link Tensor#empty}, for an
 * output its kernel overwrites completely, takes it as it is, so no thread spends time zero-filling it.
 *
 * <p>Why: one guided SD 1.5 U-Net step makes about 4 GB of short-lived activations (tens of MB each); allocating
 * them fresh costs the zeroing of new memory, the garbage collections and cache misses on every op. A model opens a
 * scope around each of its blocks and keeps what the block returns:
 * <pre>{@code
 * try (TensorScope scope = TensorScope.open()) {
 *     Tensor h = ...;              // intermediates
 *     return scope.keep(out);      // survives; recycled by the enclosing scope, if any, when that closes
 * }
 * }</pre>
 * Rules: a tensor made inside a scope must not be used after the scope closes unless it (or a view of it) was kept;
 * scopes nest and close in reverse order on the thread that opened them; code that makes tensors to keep for longer
 * (caches, lazily made weights) runs {@link #unscoped}. When the outermost scope of a thread closes, the pool is
 * dropped, so nothing is held between forward passes, unless a {@link #retainPool() retention} keeps it for the next
 * one (a pipeline keeps it over its denoising loop); free arrays are held softly and within a byte limit, so the pool
 * never costs an {@link OutOfMemoryError}. Tensors made on other threads, small ones (under
 * {@value #MIN_POOLED} floats) and those made with no scope open are ordinary garbage-collected arrays.
 */
public final class TensorScope implements AutoCloseable {
    /** Arrays smaller than this many floats are not pooled (cheap to allocate, many sizes). */
    public static final int MIN_POOLED = 1 << 14;
    /**
     * At most this many bytes of free arrays wait in a thread's pool (768 MiB, or a quarter of the maximum heap when
     * that is less: a guided SD 1.5 step at 512² then allocates 0.4 GB afresh instead of 1.7 when the pool is retained
     * from step to step; the system property {@code d4j.tensorScope.poolBytes} overrides it, 0 turns recycling off); more
     * are left to the garbage collector.
     */
    static final long POOL_LIMIT_BYTES = Long.getLong("d4j.tensorScope.poolBytes",
            Math.min(768L << 20, Runtime.getRuntime().maxMemory() / 4));

    /** {@link Tensor#empty} fills with NaN (tests: an element a kernel leaves unwritten then shows). */
    private static final boolean POISON_EMPTY = Boolean.getBoolean("d4j.tensor.poisonEmpty");

    private static final ThreadLocal<TensorScope> CURRENT = new ThreadLocal<>();
    /** The pool a {@link Retention} keeps on this thread between outermost scopes, if any. */
    private static final ThreadLocal<Retention> RETAINED = new ThreadLocal<>();

    /**
     * Free arrays by length, shared by the nested scopes of one thread. Over its byte limit it evicts the sizes used
     * least recently (those of another level of a U-Net), not the array just given back.
     */
    private static final class Pool {
        // Softly held: the collector may take free arrays back (it clears them all before any OutOfMemoryError).
        final Map<Integer, ArrayDeque<SoftReference<float[]>>> free = new LinkedHashMap<>(16, 0.75f, true);
        final long limit;
        long bytes;
        long reused;

        Pool(long limit) {
            this.limit = limit;
        }

        float[] take(int n) {
            ArrayDeque<SoftReference<float[]>> q = free.get(n);
            while (q != null && !q.isEmpty()) {
                float[] a = q.pollLast().get();
                bytes -= 4L * n;
                if (a != null) {
                    reused++;
                    return a;
                }
            }
            return null;
        }

        void clear() {
            free.clear();
            bytes = 0;
        }

        void offer(float[] a) {
            long size = 4L * a.length;
            if (size > limit) {
                return;
            }
            ArrayDeque<SoftReference<float[]>> mine = free.computeIfAbsent(a.length, k -> new ArrayDeque<>());
            var sizes = free.entrySet().iterator();
            while (bytes + size > limit && sizes.hasNext()) {
                var e = sizes.next();
                ArrayDeque<SoftReference<float[]>> q = e.getValue();
                while (!q.isEmpty() && bytes + size > limit) {
                    q.pollFirst();
                    bytes -= 4L * e.getKey();
                }
                if (q.isEmpty() && q != mine) {
                    sizes.remove();
                }
            }
            mine.addLast(new SoftReference<>(a));
            bytes += size;
        }
    }

    private final TensorScope parent;
    private final Pool pool;
    private final Thread owner;
    private final List<float[]> owned = new ArrayList<>();
    private final Set<float[]> kept = Collections.newSetFromMap(new IdentityHashMap<>());
    private boolean closed;

    private TensorScope(TensorScope parent, long limit) {
        this.parent = parent;
        Retention r = RETAINED.get();
        this.pool = parent != null ? parent.pool : r != null ? r.pool : new Pool(limit);
        this.owner = Thread.currentThread();
    }

    /** Opens a scope on the calling thread, nested in the one already open there (if any). */
    public static TensorScope open() {
        return open(POOL_LIMIT_BYTES);
    }

    /** As {@link #open()}, with a byte limit for the pool when this is the thread's outermost scope (tests). */
    static TensorScope open(long poolLimitBytes) {
        TensorScope s = new TensorScope(CURRENT.get(), poolLimitBytes);
        CURRENT.set(s);
        return s;
    }

    /**
     * Keeps {@code t}'s storage past this scope (views of it included): it is handed to the enclosing scope, or, for
     * the outermost one, left to the garbage collector. Returns {@code t}; null and non-heap tensors pass through.
     */
    public Tensor keep(Tensor t) {
        if (t != null && t.isHeap()) {
            kept.add(t.array());
        }
        return t;
    }

    /**
     * Takes over {@code t}'s storage from the enclosing scope that owns it (made there, or kept into it by a scope nested
     * in it, and not kept past it), so that it is recycled when this scope closes unless kept here: for a chain of
     * blocks whose input is dead once the next block has made its output, e.g. a VAE decoder's up blocks, which
     * would otherwise hold every intermediate (hundreds of MB each at 512×512) until the chain ends or leave them
     * to the garbage collector. Storage no enclosing scope owns (made unscoped, by another thread, or the caller's own
     * array) is left alone. Returns {@code t}.
     * <pre>{@code
     * try (TensorScope step = TensorScope.open()) {
     *     step.adopt(h);                       // h is not used after this block
     *     h = step.keep(block.forward(h));
     * }
     * }</pre>
     *
     * @throws IllegalStateException when called on another thread or after this scope was closed
     */
    public Tensor adopt(Tensor t) {
        if (Thread.currentThread() != owner || closed) {
            throw new IllegalStateException("TensorScope.adopt: on another thread or after the scope was closed");
        }
        if (t == null || !t.isHeap()) {
            return t;
        }
        float[] a = t.array();
        for (TensorScope p = parent; p != null; p = p.parent) {
            if (p.kept.contains(a)) {
                return t;
            }
            for (int i = p.owned.size() - 1; i >= 0; i--) {
                if (p.owned.get(i) == a) {
                    p.owned.remove(i);
                    owned.add(a);
                    return t;
                }
            }
        }
        return t;
    }

    /** Runs {@code f} with no scope open on this thread: what it makes is never recycled (caches, lazy weights). */
    public static <T> T unscoped(Supplier<T> f) {
        TensorScope s = CURRENT.get();
        CURRENT.remove();
        try {
            return f.get();
        } finally {
            if (s != null) {
                CURRENT.set(s);
            }
        }
    }

    /** Arrays handed out again from this thread's pool since its outermost scope opened (for tests and profiling). */
    public long reusedArrays() {
        return pool.reused;
    }

    /**
     * A zero-filled array of at least {@code n} floats for a kernel's own use during one op (e.g. packed operands):
     * from the pool of the scope open on this thread, or new. Hand it back with {@link #release} when the op is done;
     * it is not owned by the scope, so an array never released is simply left to the garbage collector. Large requests
     * are rounded up to one of four sizes per power of two ({@link #scratchLength}), so that ops of similar sizes
     * share pooled arrays: with an array of every exact size (Winograd's buffers differ with every convolution's
     * channels) the pool held more bytes than its limit and dropped arrays a step later needed again, made afresh
     * (zeroed, 0.08 GB a U-Net step, some ops 2-10x slower in the runs where that happened).
     */
    public static float[] scratch(int n) {
        int len = scratchLength(n);
        return fromPool(pooling(len), len, true);
    }

    /**
     * The length of the array {@link #scratch} and {@link #scratchEmpty} hand out for {@code n} floats: {@code n} below
     * {@link #MIN_POOLED}, else {@code n - a} rounded up to a multiple of a quarter of its highest power of two (at
     * most 25 % more), plus {@code a} = {@link ArrayAlignment#FLOAT_OFFSET}: the length of the array of a tensor of
     * that rounded size (see {@link Tensor#empty}), so that scratch and tensors of similar sizes share pooled arrays
     * (a request of {@code m + a} floats, to use from a cache line on, gets exactly a tensor's array of m elements).
     */
    public static int scratchLength(int n) {
        if (n < MIN_POOLED) {
            return n;
        }
        int a = ArrayAlignment.FLOAT_OFFSET;
        int body = n - a;
        int unit = Integer.highestOneBit(body) >> 2;
        long len = ((long) body + unit - 1) / unit * unit + a;
        return len > Integer.MAX_VALUE - 8 ? n : (int) len;
    }

    /**
     * As {@link #scratch}, but its contents are unspecified (a recycled array is not zero-filled; NaN-filled when
     * {@code d4j.tensor.poisonEmpty} is set): for a buffer its op writes before reading, or whose unwritten
     * elements reach no result.
     */
    public static float[] scratchEmpty(int n) {
        int len = scratchLength(n);
        return fromPool(pooling(len), len, false);
    }

    /**
     * Gives back an array from {@link #scratch} or {@link #scratchEmpty} that nothing reads or writes any more (on the
     * thread that took it), for a later one or a {@link Tensor#zeros} / {@link Tensor#empty} of the same size in the
     * open scope. Without an open
     * scope it does nothing.
     */
    public static void release(float[] a) {
        TensorScope s = a != null ? pooling(a.length) : null;
        if (s != null) {
            s.pool.offer(a);
        }
    }

    /** A zero-filled array of {@code n} floats: from the pool of the open scope (and owned by it) or new. */
    static float[] allocate(int n) {
        return owned(n, true);
    }

    /**
     * An array of {@code n} floats whose contents are unspecified (see {@link Tensor#empty}): from the pool of the
     * open scope (and owned by it) without zero-filling, or new; NaN-filled when poisoning is on.
     */
    static float[] allocateEmpty(int n) {
        return owned(n, false);
    }

    /** {@link #fromPool}, owned by the open scope when it pools arrays of this size. */
    private static float[] owned(int n, boolean zero) {
        TensorScope s = pooling(n);
        float[] a = fromPool(s, n, zero);
        if (s != null) {
            s.owned.add(a);
        }
        return a;
    }

    /** The scope open on this thread when an array of {@code n} floats is pooled at all, else null. */
    private static TensorScope pooling(int n) {
        return n >= MIN_POOLED ? CURRENT.get() : null;
    }

    /**
     * An array of {@code n} floats from {@code s}'s pool, or new (always new without a scope): zero-filled when
     * {@code zero}, else as it was (NaN-filled when poisoning is on).
     */
    private static float[] fromPool(TensorScope s, int n, boolean zero) {
        float[] a = s == null ? null : s.pool.take(n);
        if (a == null) {
            a = new float[n];
        } else if (zero) {
            Arrays.fill(a, 0f);
        }
        if (!zero && POISON_EMPTY) {
            Arrays.fill(a, Float.NaN);
        }
        return a;
    }

    /**
     * Recycles what this scope made and did not keep; kept arrays go to the enclosing scope.
     *
     * @throws IllegalStateException when called on another thread or while a scope nested in this one is open
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (Thread.currentThread() != owner || CURRENT.get() != this) {
            throw new IllegalStateException("TensorScope: closed on another thread or before a scope nested in it");
        }
        closed = true;
        for (float[] a : owned) {
            if (kept.contains(a)) {
                if (parent != null) {
                    parent.owned.add(a);
                }
            } else {
                pool.offer(a);
            }
        }
        owned.clear();
        kept.clear();
        if (parent != null) {
            CURRENT.set(parent);
        } else {
            CURRENT.remove();
            Retention r = RETAINED.get();
            if (r == null || r.pool != pool) {
                pool.clear();
            }
        }
    }

    /**
     * Keeps this thread's pool of free arrays from one outermost scope to the next until the returned retention is
     * closed: the buffers of one forward pass are then reused by the next (the steps of a sampling loop) instead of
     * being allocated again each time. Nothing else changes: what a scope recycles is the same. While retained, the
     * pool holds at most its byte limit of free arrays, softly (the collector may still take them). Retentions nest;
     * the pool is dropped when the outermost closes.
     * <pre>{@code
     * try (TensorScope.Retention r = TensorScope.retainPool()) {
     *     for (...) { unet.forward(...); }   // each forward opens and closes its own scopes
     * }
     * }</pre>
     */
    public static Retention retainPool() {
        Retention outer = RETAINED.get();
        TensorScope open = CURRENT.get();
        // The pool in use if a scope is open already, so that the scope and the retention share it.
        Pool pool = outer != null ? outer.pool : open != null ? open.pool : new Pool(POOL_LIMIT_BYTES);
        Retention r = new Retention(outer, pool);
        RETAINED.set(r);
        return r;
    }

    /**
     * Keeps a thread's pool of free arrays between its outermost scopes (see {@link #retainPool()}); closed on the
     * thread that made it, in reverse order of nesting.
     */
    public static final class Retention implements AutoCloseable {
        private final Retention outer;
        private final Pool pool;
        private final Thread owner = Thread.currentThread();
        private boolean closed;

        private Retention(Retention outer, Pool pool) {
            this.outer = outer;
            this.pool = pool;
        }

        /** Free arrays handed out again from the retained pool so far. */
        public long reusedArrays() {
            return pool.reused;
        }

        /**
         * Stops retaining; the outermost retention drops the pool unless a scope still uses it (then that scope's
         * closing drops it).
         *
         * @throws IllegalStateException on another thread or before a retention nested in this one is closed
         */
        @Override
        public void close() {
            if (closed) {
                return;
            }
            if (Thread.currentThread() != owner || RETAINED.get() != this) {
                throw new IllegalStateException("TensorScope.Retention: closed on another thread or before one nested in it");
            }
            closed = true;
            if (outer != null) {
                RETAINED.set(outer);
                return;
            }
            RETAINED.remove();
            TensorScope open = CURRENT.get();
            if (open == null || open.pool != pool) {
                pool.clear();
            }
        }
    }
}
