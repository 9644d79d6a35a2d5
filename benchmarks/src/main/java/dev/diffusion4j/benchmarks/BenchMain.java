package dev.diffusion4j.benchmarks;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs the JMH benchmarks and prints every result as a fraction of the FMA peak measured in the same run
 * at the same thread count.
 *
 * <p>Usage: {@code ./bench [--quick] [--alloc] [include regex ...]}. {@code --alloc} adds JMH's GC profiler and a
 * column of heap bytes allocated per operation (e.g. per U-Net step). Without regexes every benchmark runs; the
 * peak ({@link PeakBenchmark}) always runs. A benchmark class takes part in the table through a
 * {@code public static double flops(String method, Map<String, String> params)} giving the FLOPs of one
 * invocation, and a {@code threads} parameter (1 when absent).
 */
public final class BenchMain {
    private BenchMain() {
    }

    /** Entry point of {@code ./bench}. */
    public static void main(String[] args) throws Exception {
        boolean quick = false;
        boolean alloc = false;
        List<String> includes = new ArrayList<>();
        for (String a : args) {
            if (a.equals("--quick")) {
                quick = true;
            } else if (a.equals("--alloc")) {
                alloc = true;
            } else if (a.equals("-h") || a.equals("--help")) {
                System.out.println("usage: ./bench [--quick] [--alloc] [JMH include regex ...]");
                return;
            } else if (a.startsWith("-")) {
                System.err.println("bench: unknown option " + a + " (usage: ./bench [--quick] [--alloc] [regex ...])");
                System.exit(2);
            } else {
                includes.add(a);
            }
        }
        // Other runs may share this machine; numbers are then noisy, but refusing to run helps nobody.
        if (System.getProperty("jmh.ignoreLock") == null) {
            System.setProperty("jmh.ignoreLock", "true");
        }
        // The peak runs first, on its own, then the selected benchmarks.
        List<RunResult> results = new ArrayList<>(new Runner(options(quick)
                .include(PeakBenchmark.class.getName()).build()).run());
        ChainedOptionsBuilder rest = options(quick).exclude(PeakBenchmark.class.getName());
        if (alloc) {
            rest.addProfiler(org.openjdk.jmh.profile.GCProfiler.class);
        }
        if (includes.isEmpty()) {
            rest.include(BenchMain.class.getPackageName() + "\\..*Benchmark");
        }
        for (String inc : includes) {
            rest.include(inc);
        }
        try {
            results.addAll(new Runner(rest.build()).run());
        } catch (org.openjdk.jmh.runner.NoBenchmarksException e) {
            System.err.println("bench: no benchmark matches " + includes + "; only the peak ran");
        }
        System.out.println();
        System.out.print(table(results));
    }

    private static ChainedOptionsBuilder options(boolean quick) {
        ChainedOptionsBuilder opts = new OptionsBuilder()
                .forks(1)
                .shouldFailOnError(true)
                .jvmArgsAppend("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                        "-XX:ObjectAlignmentInBytes=64", "-XX:+UseParallelGC", "-Xmx4g")
                .timeUnit(TimeUnit.MILLISECONDS);
        if (quick) {
            opts.warmupIterations(2).warmupTime(TimeValue.seconds(1))
                    .measurementIterations(3).measurementTime(TimeValue.seconds(1));
        } else {
            opts.warmupIterations(3).warmupTime(TimeValue.seconds(2))
                    .measurementIterations(5).measurementTime(TimeValue.seconds(2));
        }
        return opts;
    }

    /** One row of the report. */
    private record Row(String benchmark, String params, int threads, double ms, double gflops, double allocBytes) {
    }

    static String table(Collection<RunResult> results) {
        List<Row> rows = new ArrayList<>();
        Map<Integer, Double> peak = new HashMap<>();
        for (RunResult rr : results) {
            String full = rr.getParams().getBenchmark();
            int dot = full.lastIndexOf('.');
            String cls = full.substring(0, dot);
            String method = full.substring(dot + 1);
            Map<String, String> params = new LinkedHashMap<>();
            for (String key : rr.getParams().getParamsKeys()) {
                params.put(key, rr.getParams().getParam(key));
            }
            double ms = rr.getPrimaryResult().getStatistics().getN() > 0
                    ? rr.getPrimaryResult().getStatistics().getPercentile(50.0)
                    : rr.getPrimaryResult().getScore();
            double flops = flops(cls, method, params);
            double gflops = Double.isNaN(flops) ? Double.NaN : flops / (ms * 1e6);
            int threads = Integer.parseInt(params.getOrDefault("threads", "1"));
            if (cls.equals(PeakBenchmark.class.getName())) {
                peak.merge(threads, gflops, Math::max);
            }
            String simple = cls.substring(cls.lastIndexOf('.') + 1) + "." + method;
            String p = new TreeMap<>(params).toString();
            rows.add(new Row(simple, p.substring(1, p.length() - 1), threads, ms, gflops, allocPerOp(rr)));
        }
        StringBuilder sb = new StringBuilder();
        String fmt = "%-28s %-36s %12s %10s %8s %12s%n";
        sb.append(String.format(fmt, "benchmark", "params", "ms/op (med)", "GFLOP/s", "of peak", "alloc MB/op"));
        for (Row r : rows) {
            Double pk = peak.get(r.threads());
            String frac = pk == null || Double.isNaN(r.gflops()) ? "-" : String.format("%.0f %%", 100 * r.gflops() / pk);
            sb.append(String.format(fmt, r.benchmark(), r.params(), String.format("%.3f", r.ms()),
                    Double.isNaN(r.gflops()) ? "-" : String.format("%.1f", r.gflops()), frac,
                    Double.isNaN(r.allocBytes()) ? "-" : String.format("%.1f", r.allocBytes() / 1e6)));
        }
        return sb.toString();
    }

    /** Heap bytes allocated per operation (the GC profiler's {@code gc.alloc.rate.norm}), or NaN without it. */
    private static double allocPerOp(RunResult rr) {
        for (var e : rr.getSecondaryResults().entrySet()) {
            if (e.getKey().endsWith("gc.alloc.rate.norm")) {
                return e.getValue().getScore();
            }
        }
        return Double.NaN;
    }

    /** The benchmark class's {@code flops(method, params)}, or NaN when it has none. */
    private static double flops(String cls, String method, Map<String, String> params) {
        try {
            Method f = Class.forName(cls).getMethod("flops", String.class, Map.class);
            return ((Number) f.invoke(null, method, params)).doubleValue();
        } catch (ReflectiveOperationException | RuntimeException e) {
            return Double.NaN;
        }
    }
}
