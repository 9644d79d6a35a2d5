package dev.diffusion4j.weights;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.LongSupplier;

/** Hears about files that {@link HuggingFaceHub} downloads: start, bytes so far, end. Called on the downloading thread. */
public interface HubDownloadListener {
    /**
     * A file's download starts.
     *
     * @param file the path in the repo
     * @param size its size in bytes, or -1 when unknown
     * @param resumedFrom bytes already there from an interrupted download (0 for a fresh one)
     */
    default void started(String file, long size, long resumedFrom) {
    }

    /** {@code done} of {@code size} bytes ({@code size} -1 when unknown) of {@code file} are on disk. */
    default void progress(String file, long done, long size) {
    }

    /** {@code file} is complete and verified. */
    default void finished(String file, long size) {
    }

    /** A message worth showing (a file taken from the cache because the Hub cannot be reached, a retry). */
    default void note(String message) {
    }

    /** A listener that ignores everything. */
    static HubDownloadListener none() {
        return new HubDownloadListener() { };
    }

    /**
     * Progress lines on {@code out} (stderr in the {@code sd} command): file, MB done of total, MB/s and ETA, at most
     * one line every {@code intervalMillis} per file plus one when it finishes. With {@code carriageReturn} (a
     * terminal) the line is rewritten in place.
     */
    static HubDownloadListener console(PrintStream out, boolean carriageReturn, long intervalMillis) {
        return console(new PrintWriter(out, true), "", carriageReturn, intervalMillis);
    }

    /**
     * {@link #console(PrintStream, boolean, long)} on a writer (picocli's error writer), each line starting with
     * {@code prefix} ("sd: ").
     */
    static HubDownloadListener console(PrintWriter out, String prefix, boolean carriageReturn, long intervalMillis) {
        return new Console(out, prefix, carriageReturn, intervalMillis, System::nanoTime);
    }

    /**
     * One progress line: {@code "vae/diffusion_pytorch_model.safetensors  12.0/319.1 MB  45.2 MB/s  ETA 7s"}.
     *
     * @param bytesPerSecond the rate of this download (bytes written now / time since it started), 0 when unknown
     */
    static String line(String file, long done, long size, double bytesPerSecond) {
        StringBuilder b = new StringBuilder(file).append("  ");
        b.append(String.format(Locale.ROOT, "%.1f", done / 1e6));
        b.append(size >= 0 ? String.format(Locale.ROOT, "/%.1f MB", size / 1e6) : " MB");
        if (bytesPerSecond > 0) {
            b.append(String.format(Locale.ROOT, "  %.1f MB/s", bytesPerSecond / 1e6));
            if (size >= done) {
                b.append("  ETA ").append(duration((long) Math.ceil((size - done) / bytesPerSecond)));
            }
        }
        return b.toString();
    }

    /** {@code 59s}, {@code 3m05s}, {@code 1h02m}. */
    static String duration(long seconds) {
        if (seconds < 60) {
            return seconds + "s";
        }
        if (seconds < 3600) {
            return String.format(Locale.ROOT, "%dm%02ds", seconds / 60, seconds % 60);
        }
        return String.format(Locale.ROOT, "%dh%02dm", seconds / 3600, (seconds % 3600) / 60);
    }

    /** The console listener; the clock is a parameter so tests can drive it. */
    final class Console implements HubDownloadListener {
        private final PrintWriter out;
        private final String prefix;
        private final boolean carriageReturn;
        private final long intervalNanos;
        private final LongSupplier clock;
        private long startNanos;
        private long startBytes;
        private long lastPrint;

        Console(PrintWriter out, String prefix, boolean carriageReturn, long intervalMillis, LongSupplier clock) {
            this.out = out;
            this.prefix = prefix;
            this.carriageReturn = carriageReturn;
            this.intervalNanos = intervalMillis * 1_000_000L;
            this.clock = clock;
        }

        @Override
        public void started(String file, long size, long resumedFrom) {
            startNanos = clock.getAsLong();
            startBytes = resumedFrom;
            lastPrint = startNanos;
            out.println(prefix + "downloading " + file + (size >= 0 ? String.format(Locale.ROOT, " (%.1f MB)", size / 1e6) : "")
                    + (resumedFrom > 0 ? String.format(Locale.ROOT, ", resuming at %.1f MB", resumedFrom / 1e6) : ""));
            out.flush();
        }

        @Override
        public void progress(String file, long done, long size) {
            long now = clock.getAsLong();
            if (now - lastPrint < intervalNanos) {
                return;
            }
            lastPrint = now;
            String s = prefix + line(file, done, size, rate(done, now));
            if (carriageReturn) {
                out.print("\r" + s + "   ");
            } else {
                out.println(s);
            }
            out.flush();
        }

        @Override
        public void finished(String file, long size) {
            String s = prefix + line(file, size, size, rate(size, clock.getAsLong()));
            out.println(carriageReturn ? "\r" + s + "   " : s);
            out.flush();
        }

        @Override
        public void note(String message) {
            out.println(prefix + message);
            out.flush();
        }

        private double rate(long done, long now) {
            double secs = (now - startNanos) / 1e9;
            return secs > 0 ? (done - startBytes) / secs : 0;
        }
    }
}
