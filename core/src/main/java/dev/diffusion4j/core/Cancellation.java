package dev.diffusion4j.core;

import java.util.concurrent.CancellationException;

/** Cancels a running generation from another thread; the generation stops before its next step. Thread-safe. */
public final class Cancellation {
    private volatile boolean cancelled;

    /** Asks the generation to stop. */
    public void cancel() {
        cancelled = true;
    }

    /** True once {@link #cancel()} was called. */
    public boolean isCancelled() {
        return cancelled;
    }

    void check() {
        if (cancelled) {
            throw new CancellationException("generation cancelled");
        }
    }
}
