package dev.diffusion4j.tensor;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * A {@link Backend} that forwards every op to another and adds up the wall time, the CPU time of the Java threads
 * (the caller and the compute pool's workers; not the garbage collector's), the call count and the FLOPs of each op
 * kind: where the time of a forward pass goes, and how many cores each kind of op kept busy (CPU time over wall time:
 * 2.0 means both cores of a 2-core machine all along). Optionally it records a timeline, one {@link Event} per op
 * in call order. Thread-safe (CPU time is that of all Java threads, so ops that run concurrently from several
 * threads share it).
 */
public final class ProfilingBackend implements Backend.GroupNormConvWithAddend {
    /** Totals of one op kind; {@code cpuMillis} is the Java threads' CPU time spent meanwhile (-1 when unknown). */
    public record OpStats(String op, long calls, double millis, double cpuMillis, double gflop) {
        /** GFLOP/s achieved (0 for ops without a FLOP count). */
        public double gflops() {
            return millis > 0 ? gflop / (millis / 1e3) : 0;
        }

        /** Average busy cores while this op ran (CPU time over wall time), or -1 when unknown. */
        public double cores() {
            return cpuMillis >= 0 && millis > 0 ? cpuMillis / millis : -1;
        }
    }

    /** One op of the timeline: start (ns since the first op), wall and CPU time (ns; CPU -1 when unknown). */
    public record Event(String op, long startNanos, long wallNanos, long cpuNanos) {
    }

    private static final class Acc {
        final LongAdder calls = new LongAdder();
        final LongAdder nanos = new LongAdder();
        final LongAdder cpuNanos = new LongAdder();
        final java.util.concurrent.atomic.DoubleAdder flops = new java.util.concurrent.atomic.DoubleAdder();
    }

    /**
     * Per-thread CPU clocks (nanosecond resolution; the process clock of {@code OperatingSystemMXBean} ticks in
     * 10 ms), or null where the JVM has none.
     */
    private static final com.sun.management.ThreadMXBean THREADS =
            java.lang.management.ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean t
                    && t.isThreadCpuTimeSupported() && t.isThreadCpuTimeEnabled() ? t : null;

    private final Backend inner;
    private final Map<String, Acc> stats = new ConcurrentHashMap<>();
    private final boolean byShape;
    private final boolean recordTimeline;
    private final java.util.Queue<Event> timeline = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private volatile long origin = -1;

    /** Profiles {@code inner}. */
    public ProfilingBackend(Backend inner) {
        this(inner, false);
    }

    /**
     * Profiles {@code inner}; with {@code byShape}, linear layers and attention are counted per shape
     * (e.g. {@code linear 8192x320>320}, rows x in > out), to see which of them fall short.
     */
    public ProfilingBackend(Backend inner, boolean byShape) {
        this(inner, byShape, false);
    }

    /**
     * Profiles {@code inner}, per shape or not (see {@link #ProfilingBackend(Backend, boolean)}); with
     * {@code recordTimeline} every op is also kept as an {@link Event} ({@link #timeline()}, {@link #timelineCsv()}).
     */
    public ProfilingBackend(Backend inner, boolean byShape, boolean recordTimeline) {
        this.inner = inner;
        this.byShape = byShape;
        this.recordTimeline = recordTimeline;
    }

    /** CPU time of all live Java threads (the caller and the compute pool's workers among them), or -1. */
    private static long cpuNanos() {
        if (THREADS == null) {
            return -1;
        }
        long sum = 0;
        for (long c : THREADS.getThreadCpuTime(THREADS.getAllThreadIds())) {
            sum += Math.max(c, 0);
        }
        return sum;
    }

    private Tensor time(String op, double flops, Supplier<Tensor> f) {
        long c0 = cpuNanos();
        long t0 = System.nanoTime();
        Tensor r = f.get();
        long wall = System.nanoTime() - t0;
        // A thread that ended meanwhile takes its CPU time with it: never below zero.
        long cpu = c0 >= 0 ? Math.max(0, cpuNanos() - c0) : -1;
        Acc a = stats.computeIfAbsent(op, k -> new Acc());
        a.calls.increment();
        a.nanos.add(wall);
        a.cpuNanos.add(cpu);
        a.flops.add(flops);
        if (recordTimeline) {
            if (origin < 0) {
                origin = t0;
            }
            timeline.add(new Event(op, t0 - origin, wall, cpu));
        }
        return r;
    }

    /** The totals so far, by op name. */
    public Map<String, OpStats> stats() {
        Map<String, OpStats> out = new TreeMap<>();
        stats.forEach((k, a) -> out.put(k, new OpStats(k, a.calls.sum(), a.nanos.sum() / 1e6,
                THREADS != null ? a.cpuNanos.sum() / 1e6 : -1, a.flops.sum() / 1e9)));
        return out;
    }

    /** The ops recorded so far in call order (empty unless constructed to record a timeline). */
    public java.util.List<Event> timeline() {
        return java.util.List.copyOf(timeline);
    }

    /**
     * The timeline as CSV, one op per line: start and wall time (ms), busy cores (CPU time over wall time, empty
     * when unknown) and the op.
     */
    public String timelineCsv() {
        StringBuilder b = new StringBuilder("start_ms,wall_ms,cores,op\n");
        for (Event e : timeline) {
            String cores = e.cpuNanos() >= 0 && e.wallNanos() > 0
                    ? String.format(Locale.ROOT, "%.2f", (double) e.cpuNanos() / e.wallNanos()) : "";
            b.append(String.format(Locale.ROOT, "%.3f,%.3f,%s,\"%s\"%n", e.startNanos() / 1e6, e.wallNanos() / 1e6,
                    cores, e.op()));
        }
        return b.toString();
    }

    /** Forgets the totals and the timeline. */
    public void reset() {
        stats.clear();
        timeline.clear();
        origin = -1;
    }

    /** A table of the totals, most expensive first; {@code cores}: average busy cores while the op ran. */
    public String report() {
        double total = stats().values().stream().mapToDouble(OpStats::millis).sum();
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%-16s %7s %10s %6s %9s %9s %6s%n",
                "op", "calls", "ms", "%", "GFLOP", "GFLOP/s", "cores"));
        stats().values().stream().sorted((x, y) -> Double.compare(y.millis(), x.millis())).forEach(s -> b.append(
                String.format(Locale.ROOT, "%-16s %7d %10.1f %6.1f %9.1f %9.1f %6s%n", s.op(), s.calls(), s.millis(),
                        100 * s.millis() / total, s.gflop(), s.gflops(),
                        s.cores() >= 0 ? String.format(Locale.ROOT, "%.2f", s.cores()) : "-")));
        b.append(String.format(Locale.ROOT, "%-16s %7s %10.1f%n", "total", "", total));
        return b.toString();
    }

    @Override
    public String name() {
        return inner.name() + "+profile";
    }

    @Override
    public Tensor matmul(Tensor a, boolean transposeA, Tensor b, boolean transposeB) {
        long m = transposeA ? a.dim(-1) : a.dim(-2);
        long k = transposeA ? a.dim(-2) : a.dim(-1);
        long n = transposeB ? b.dim(-2) : b.dim(-1);
        long batch = a.rank() == 3 ? a.dim(0) : 1;
        return time("matmul", 2.0 * batch * m * n * k, () -> inner.matmul(a, transposeA, b, transposeB));
    }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        double flops = 2.0 * (x.numel() / x.dim(-1)) * weight.dim(0) * weight.dim(1);
        String op = byShape ? "linear " + x.numel() / x.dim(-1) + "x" + weight.dim(1) + ">" + weight.dim(0) : "linear";
        return time(op, flops, () -> inner.linear(x, weight, bias));
    }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias, Tensor residual) {
        double flops = 2.0 * (x.numel() / x.dim(-1)) * weight.dim(0) * weight.dim(1);
        String op = byShape ? "linear " + x.numel() / x.dim(-1) + "x" + weight.dim(1) + ">" + weight.dim(0)
                + (residual != null ? "+res" : "") : "linear";
        return time(op, flops, () -> inner.linear(x, weight, bias, residual));
    }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias, Tensor residual, boolean residualIsScratch) {
        double flops = 2.0 * (x.numel() / x.dim(-1)) * weight.dim(0) * weight.dim(1);
        String op = byShape ? "linear " + x.numel() / x.dim(-1) + "x" + weight.dim(1) + ">" + weight.dim(0)
                + (residual != null ? "+res" : "") : "linear";
        return time(op, flops, () -> inner.linear(x, weight, bias, residual, residualIsScratch));
    }

    @Override
    public Tensor[] linears(Tensor x, Tensor[] weights, Tensor[] biases) {
        return timeLinears(x, weights, "", () -> inner.linears(x, weights, biases));
    }

    @Override
    public Tensor[] layerNormLinears(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor[] weights, Tensor[] biases) {
        return timeLinears(x, weights, "+layerNorm",
                () -> inner.layerNormLinears(x, gamma, beta, eps, weights, biases));
    }

    private Tensor[] timeLinears(Tensor x, Tensor[] weights, String suffix, java.util.function.Supplier<Tensor[]> body) {
        long out = 0;
        for (Tensor w : weights) {
            out += w.dim(0);
        }
        double flops = 2.0 * (x.numel() / x.dim(-1)) * x.dim(-1) * out;
        String op = byShape ? "linear " + x.numel() / x.dim(-1) + "x" + x.dim(-1) + ">" + weights.length + "x"
                + (weights.length > 0 ? weights[0].dim(0) : 0) + suffix : "linear";
        Tensor[][] result = new Tensor[1][];
        time(op, flops, () -> {
            result[0] = body.get();
            return null;
        });
        return result[0];
    }

    /** Counted as a linear layer (its GEGLU included). */
    @Override
    public Tensor linearGeglu(Tensor x, Tensor weight, Tensor bias) {
        double flops = 2.0 * (x.numel() / x.dim(-1)) * weight.dim(0) * weight.dim(1);
        String op = byShape ? "linear " + x.numel() / x.dim(-1) + "x" + weight.dim(1) + ">" + weight.dim(0) + "+geglu"
                : "linear";
        return time(op, flops, () -> inner.linearGeglu(x, weight, bias));
    }

    /** Counted as a linear layer (its norm and GEGLU included). */
    @Override
    public Tensor layerNormLinearGeglu(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor weight, Tensor bias) {
        double flops = 2.0 * (x.numel() / x.dim(-1)) * weight.dim(0) * weight.dim(1);
        String op = byShape ? "linear " + x.numel() / x.dim(-1) + "x" + weight.dim(1) + ">" + weight.dim(0)
                + "+layerNorm+geglu" : "linear";
        return time(op, flops, () -> inner.layerNormLinearGeglu(x, gamma, beta, eps, weight, bias));
    }

    @Override
    public Tensor linearFromChannels(Tensor x, Tensor weight, Tensor bias) {
        long rows = x.numel() / Math.max(1, x.dim(1));
        double flops = 2.0 * rows * weight.dim(0) * weight.dim(1);
        String op = byShape ? "linear " + rows + "x" + weight.dim(1) + ">" + weight.dim(0) + " from NCHW" : "linear";
        return time(op, flops, () -> inner.linearFromChannels(x, weight, bias));
    }

    @Override
    public Tensor groupNormLinearFromChannels(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, Tensor weight,
                                              Tensor bias) {
        long rows = x.numel() / Math.max(1, x.dim(1));
        double flops = 2.0 * rows * weight.dim(0) * weight.dim(1);
        String op = byShape ? "linear " + rows + "x" + weight.dim(1) + ">" + weight.dim(0) + " from NCHW+groupNorm"
                : "linear";
        return time(op, flops, () -> inner.groupNormLinearFromChannels(x, groups, gamma, beta, eps, weight, bias));
    }

    @Override
    public Tensor linearToChannels(Tensor x, Tensor weight, Tensor bias, Tensor residual, int height, int width) {
        double flops = 2.0 * (x.numel() / x.dim(-1)) * weight.dim(0) * weight.dim(1);
        String op = byShape ? "linear " + x.numel() / x.dim(-1) + "x" + weight.dim(1) + ">" + weight.dim(0) + " to NCHW"
                + (residual != null ? "+res" : "") : "linear";
        return time(op, flops, () -> inner.linearToChannels(x, weight, bias, residual, height, width));
    }

    @Override
    public Tensor linearToChannels(Tensor x, Tensor weight, Tensor bias, Tensor residual, int height, int width,
                                   boolean residualIsScratch) {
        double flops = 2.0 * (x.numel() / x.dim(-1)) * weight.dim(0) * weight.dim(1);
        String op = byShape ? "linear " + x.numel() / x.dim(-1) + "x" + weight.dim(1) + ">" + weight.dim(0) + " to NCHW"
                + (residual != null ? "+res" : "") : "linear";
        return time(op, flops, () -> inner.linearToChannels(x, weight, bias, residual, height, width,
                residualIsScratch));
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padTop, int padBottom, int padLeft, int padRight) {
        int outH = (x.dim(2) + padTop + padBottom - weight.dim(2)) / stride + 1;
        int outW = (x.dim(3) + padLeft + padRight - weight.dim(3)) / stride + 1;
        double flops = 2.0 * x.dim(0) * outH * outW * weight.numel();
        String op = "conv" + weight.dim(2) + "x" + weight.dim(3) + (stride > 1 ? "s" + stride : "");
        return time(op, flops, () -> inner.conv2d(x, weight, bias, stride, padTop, padBottom, padLeft, padRight));
    }

    @Override
    public Tensor groupNormConv2d(Tensor x, Tensor channelAddend, int groups, Tensor gamma, Tensor beta, float eps,
                                  boolean silu, Tensor weight, Tensor bias, int padding, Tensor residual,
                                  boolean residualIsScratch) {
        int outH = x.dim(2) + 2 * padding - weight.dim(2) + 1;
        int outW = x.dim(3) + 2 * padding - weight.dim(3) + 1;
        double flops = 2.0 * x.dim(0) * outH * outW * weight.numel();
        String op = "conv" + weight.dim(2) + "x" + weight.dim(3) + "(" + (channelAddend != null ? "+addend," : "")
                + "groupNorm" + (silu ? "+silu" : "") + (residual != null ? ",+residual" : "") + ")";
        return time(op, flops, () -> inner.groupNormConv2d(x, channelAddend, groups, gamma, beta, eps, silu, weight,
                bias, padding, residual, residualIsScratch));
    }

    @Override
    public Tensor upsampleConv2d(Tensor x, int outH, int outW, Tensor weight, Tensor bias, int padding) {
        int h = outH + 2 * padding - weight.dim(2) + 1;
        int w = outW + 2 * padding - weight.dim(3) + 1;
        double flops = 2.0 * x.dim(0) * h * w * weight.numel();
        String op = "conv" + weight.dim(2) + "x" + weight.dim(3) + "(upsample)";
        return time(op, flops, () -> inner.upsampleConv2d(x, outH, outW, weight, bias, padding));
    }

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        return time(silu ? "groupNorm+silu" : "groupNorm", 0, () -> inner.groupNorm(x, groups, gamma, beta, eps, silu));
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        return time("layerNorm", 0, () -> inner.layerNorm(x, gamma, beta, eps));
    }

    @Override
    public Tensor softmax(Tensor x) {
        return time("softmax", 0, () -> inner.softmax(x));
    }

    @Override
    public Tensor silu(Tensor x) {
        return time("silu", 0, () -> inner.silu(x));
    }

    @Override
    public Tensor gelu(Tensor x, boolean tanhApproximation) {
        return time("gelu", 0, () -> inner.gelu(x, tanhApproximation));
    }

    @Override
    public Tensor quickGelu(Tensor x) {
        return time("quickGelu", 0, () -> inner.quickGelu(x));
    }

    @Override
    public Tensor geglu(Tensor x) {
        return time("geglu", 0, () -> inner.geglu(x));
    }

    @Override
    public Tensor upsampleNearest(Tensor x, int outH, int outW) {
        return time("upsample", 0, () -> inner.upsampleNearest(x, outH, outW));
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        return time("add", 0, () -> inner.add(a, b));
    }

    @Override
    public Tensor mul(Tensor a, Tensor b) {
        return time("mul", 0, () -> inner.mul(a, b));
    }

    @Override
    public Tensor scale(Tensor a, float s) {
        return time("scale", 0, () -> inner.scale(a, s));
    }

    @Override
    public Tensor concatChannels(Tensor a, Tensor b) {
        return time("concat", 0, () -> inner.concatChannels(a, b));
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, float scale, boolean causal) {
        double flops = 4.0 * q.dim(0) * q.dim(1) * k.dim(1) * q.dim(2);
        String op = byShape ? "attention " + q.dim(0) + "x" + q.dim(1) + "x" + k.dim(1) + " h" + heads + "x" + q.dim(2) / heads
                : "attention";
        return time(op, flops, () -> inner.attention(q, k, v, heads, scale, causal));
    }

    @Override
    public Tensor transpose(Tensor x) {
        return time("transpose", 0, () -> inner.transpose(x));
    }

    @Override
    public Tensor sliceChannels(Tensor x, int start, int length) {
        return time("sliceChannels", 0, () -> inner.sliceChannels(x, start, length));
    }
}
