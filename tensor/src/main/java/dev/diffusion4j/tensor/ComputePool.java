package dev.diffusion4j.tensor;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The threads the kernels run on. One pool serves every kernel of a backend, so ops never oversubscribe
 * the cores: a {@link #parallelFor} called from inside a pool thread runs on the calling thread.
 *
 * <p>The calling thread always takes part in the work, so a pool of {@code n} threads keeps {@code n - 1}
 * daemon workers. Hand-offs spin briefly ({@link #SPIN_NANOS}) before they block: an idle worker polls for the next
 * loop and the caller for the workers' last chunks, because waking a parked thread takes 40–100 µs here, and a U-Net
 * step runs some 900 parallel loops. Thread-safe; {@link #close()} stops the workers of a pool that is not the
 * shared one.
 */
public final class ComputePool implements AutoCloseable {
    /** Work of one chunk of a parallel loop: indices {@code [from, to)}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    private static final class Holder {
        static final ComputePool SHARED = new ComputePool(defaultThreads());
    }

    private static final ThreadLocal<Boolean> IN_POOL = ThreadLocal.withInitial(() -> Boolean.FALSE);

    /**
     * How long a worker polls for the next loop, and the caller for the end of one, before blocking. 1 ms rather than
     * 0.1: after a gap longer than the spin a parked worker started the next loop 42–97 µs late instead of 7–11 µs
     * (median, 2 vCPUs), and a profiled U-Net step showed about 200 gaps of 0.1 to 1 ms between its ops (partly the
     * profiler's own bookkeeping). A step in one process, both orders: 1.021 and 0.993, within noise.
     */
    static final long SPIN_NANOS = 1_000_000;

    /** A work queue whose idle workers poll for {@link #SPIN_NANOS} before they park. */
    private static final class SpinningQueue extends LinkedBlockingQueue<Runnable> {
        @Override
        public Runnable take() throws InterruptedException {
            long end = System.nanoTime() + SPIN_NANOS;
            do {
                // isEmpty reads a counter; poll takes the queue's lock, so only when there is something to take.
                if (!isEmpty()) {
                    Runnable r = poll();
                    if (r != null) {
                        return r;
                    }
                }
                Thread.onSpinWait();
            } while (System.nanoTime() - end < 0 && !Thread.currentThread().isInterrupted());
            return super.take();
        }
    }

    private final int threads;
    private final ExecutorService workers;

    /** A pool of {@code threads} threads (the caller counts as one). */
    public ComputePool(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.threads = threads;
        AtomicInteger id = new AtomicInteger();
        ThreadFactory factory = r -> {
            Thread t = new Thread(() -> {
                IN_POOL.set(Boolean.TRUE);
                r.run();
            }, "diffusion4j-compute-" + id.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
        this.workers = threads > 1 ? new ThreadPoolExecutor(threads - 1, threads - 1, 0L, TimeUnit.MILLISECONDS,
                new SpinningQueue(), factory) : null;
    }

    /**
     * The process-wide pool, sized by the system property {@code diffusion4j.threads} or else the number
     * of available processors.
     */
    public static ComputePool shared() {
        return Holder.SHARED;
    }

    private static int defaultThreads() {
        String p = System.getProperty("diffusion4j.threads");
        if (p != null && !p.isBlank()) {
            try {
                int n = Integer.parseInt(p.trim());
                if (n >= 1) {
                    return n;
                }
            } catch (NumberFormatException ignored) {
                // fall through to the processor count
            }
            throw new IllegalArgumentException("system property diffusion4j.threads must be a positive integer, got '" + p + "'");
        }
        return Math.max(1, Runtime.getRuntime().availableProcessors());
    }

    /** Number of threads, the caller included. */
    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body} over {@code [0, n)} split into chunks of at most {@code grain} indices, handed out
     * dynamically to the pool's threads and the caller. Returns when every chunk is done; the first
     * exception thrown by a chunk is rethrown.
     */
    public void parallelFor(int n, int grain, RangeBody body) {
        if (n < 0 || grain < 1) {
            throw new IllegalArgumentException("parallelFor: n=" + n + " grain=" + grain);
        }
        if (n == 0) {
            return;
        }
        int chunks = (int) ((n + (long) grain - 1) / grain);
        int helpers = Math.min(threads, chunks) - 1;
        if (helpers <= 0 || IN_POOL.get()) {
            body.run(0, n);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        Runnable worker = () -> {
            int c;
            while ((c = next.getAndIncrement()) < chunks) {
                int from = c * grain;
                body.run(from, (int) Math.min(n, (long) from + grain));
            }
        };
        Future<?>[] futures = new Future<?>[helpers];
        for (int i = 0; i < helpers; i++) {
            futures[i] = workers.submit(worker);
        }
        Throwable failure = null;
        IN_POOL.set(Boolean.TRUE);
        try {
            worker.run();
        } catch (Throwable t) {
            failure = t;
            next.set(chunks);
        } finally {
            IN_POOL.set(Boolean.FALSE);
        }
        for (Future<?> f : futures) {
            long end = System.nanoTime() + SPIN_NANOS;
            while (!f.isDone() && System.nanoTime() - end < 0) {
                Thread.onSpinWait();
            }
            try {
                f.get();
            } catch (ExecutionException e) {
                if (failure == null) {
                    failure = e.getCause();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (failure == null) {
                    failure = e;
                }
            }
        }
        if (failure instanceof RuntimeException re) {
            throw re;
        }
        if (failure instanceof Error err) {
            throw err;
        }
        if (failure != null) {
            throw new IllegalStateException("parallel kernel failed", failure);
        }
    }

    /** {@link #parallelFor(int, int, RangeBody)} with about four chunks per thread. */
    public void parallelFor(int n, RangeBody body) {
        int grain = Math.max(1, (int) ((n + 4L * threads - 1) / (4L * threads)));
        parallelFor(n, grain, body);
    }

    @Override
    public void close() {
        if (this != Holder.SHARED && workers != null) {
            workers.shutdownNow();
        }
    }
}
