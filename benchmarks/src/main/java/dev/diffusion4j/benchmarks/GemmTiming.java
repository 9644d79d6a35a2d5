package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import dev.diffusion4j.tensor.cpu.FmaPeak;
import dev.diffusion4j.tensor.cpu.FusedLinear;
import dev.diffusion4j.tensor.cpu.Gemm;
import dev.diffusion4j.tensor.cpu.Norms;
import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * A quick (non-JMH) timing of {@link Gemm#gemm} at the U-Net's shapes (row-major F32 operands through strided
 * views, into a preallocated C) and of {@link FusedLinear}'s linear layers with F16 weights, each as GFLOP/s and
 * as a fraction of the FMA peak measured right before it in the same process. With one thread the clock is this
 * thread's CPU time (time given to other processes left out), with more the wall time; the peak is timed the
 * same way. Built against the public API only, so the same class can time an older build of the kernels: run two
 * builds alternately to compare them. Usage: {@code java ... GemmTiming [reps] [threads] [case ...]} with cases
 * {@code MxKxN} (GEMM) or {@code lin:ROWSxINxOUT}, {@code res:ROWSxINxOUT} (bias and residual), {@code rip:ROWSxINxOUT}
 * (the same, written into the residual's storage),
 * {@code qkv:ROWSxINxOUT} (three layers), {@code geglu:ROWSxINxOUT} (OUT = 2·hidden), {@code ln:} / {@code lngeglu:}
 * (a LayerNorm stored, then one layer or GEGLU) and {@code lnf:} / {@code lnfgeglu:} (the same, normalised while packed), {@code in:ROWSxINxOUT} (proj_in
 * from two NCHW images), {@code c1x1:ROWSxINxOUT} (a 1×1 convolution of two NCHW images, with bias),
 * {@code conv:CINxCOUTxSIDE} / {@code direct:CINxCOUTxSIDE} (3×3 convolution of two images,
 * Winograd where it pays / implicit GEMM only), {@code conv16:CINxCOUTxSIDE} (as {@code conv}, F16 weights off the
 * heap as a U-Net's), {@code s2:CINxCOUTxSIDE} (as {@code conv16}, stride 2); default: the GEMM shapes of issue #9.
 * {@code --ab OLD.jar NEW.jar reps threads case...}
 * times two builds alternately in one process (not for calls of a few milliseconds: there both builds read 2–4×
 * slow and their order changes from run to run; run the builds separately, alternating). Every call runs in a tensor
 * scope whose pool lives between calls, as a model's ops do.
 */
public final class GemmTiming {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private static volatile float sink;

    private GemmTiming() {
    }

    private record Case(String name, double flops, Runnable body) {
        /** Every call in a tensor scope whose pool lives on between calls, as a model's ops run. */
        Case {
            Runnable plain = body;
            body = () -> {
                if (retained == null) {
                    retained = TensorScope.retainPool();
                }
                try (TensorScope scope = TensorScope.open()) {
                    plain.run();
                }
            };
        }
    }

    /**
     * The pool the cases' scopes share (outputs of one call reused by the next instead of allocated and zero-filled);
     * the timing thread's, held for the whole run (a class loader of its own per build with {@code --ab}).
     */
    private static TensorScope.Retention retained;

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("--ab")) {
            ab(args);
            return;
        }
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        List<String> names = new ArrayList<>(Arrays.asList(args).subList(Math.min(2, args.length), args.length));
        if (names.isEmpty()) {
            names.addAll(List.of("4096x320x320", "4096x320x2560", "4096x1280x320", "1024x640x640", "256x1280x1280",
                    "1024x1024x1024"));
        }
        try (Arena arena = Arena.ofShared(); ComputePool pool = new ComputePool(threads)) {
            List<Case> cases = new ArrayList<>();
            int seed = 1;
            for (String name : names) {
                cases.add(make(name, pool, arena, seed++));
            }
            int iterations = 1 << 20;
            double flopsPerCall = FmaPeak.flopsPerCall(iterations) * threads;
            // Warm the peak loop up (C2) before any timing of it.
            FmaPeak.measure(threads, 200);
            System.out.printf(Locale.ROOT, "%-24s %9s %8s %8s %6s   (%d thread(s), median of %d, %s)%n", "case", "ms",
                    "GFLOP/s", "peak", "%peak", threads, reps, threads == 1 ? "thread CPU time" : "wall time");
            for (Case c : cases) {
                // Warm-up by time: after 3 calls C2 was still compiling (on 2 threads the first case read up to 1.7x
                // slow, its compilations running on the cores it was timed on).
                long w0 = System.nanoTime();
                for (int w = 0; w < 200 && (w < 3 || System.nanoTime() - w0 < 1_500_000_000L); w++) {
                    c.body().run();
                }
                // One thread: the FMA loop on this thread (its CPU time); more: one loop per thread (wall time).
                Runnable fma = threads == 1 ? () -> sink = FmaPeak.chains(iterations) : () -> FmaPeak.run(threads, iterations);
                double peak = flopsPerCall / median(7, threads, fma) / 1e6;
                double ms = median(reps, threads, c.body());
                double gflops = c.flops() / ms / 1e6;
                System.out.printf(Locale.ROOT, "%-24s %9.3f %8.1f %8.1f %5.1f%%%n", c.name(), ms, gflops, peak,
                        100 * gflops / peak);
            }
        }
    }

    /**
     * {@code --ab OLD.jar NEW.jar reps threads case...}: the cases of two builds (each jar in a class loader of its
     * own, this class added behind it), one run of the old and one of the new alternately, so that load from other
     * processes hits both alike; prints both medians, their ratio and the peak measured between the rounds.
     */
    private static void ab(String[] args) throws Exception {
        java.net.URL self = GemmTiming.class.getProtectionDomain().getCodeSource().getLocation();
        int reps = Integer.parseInt(args[3]);
        int threads = Integer.parseInt(args[4]);
        String[] names = Arrays.copyOfRange(args, 5, args.length);
        Object[][] sides = new Object[2][];
        List<AutoCloseable> open = new ArrayList<>();
        for (int side = 0; side < 2; side++) {
            java.net.URLClassLoader loader = new SelfLast(java.nio.file.Path.of(args[1 + side]).toUri().toURL(), self);
            open.add(loader);
            Class<?> c = Class.forName(GemmTiming.class.getName(), true, loader);
            sides[side] = (Object[]) c.getMethod("build", int.class, String[].class).invoke(null, threads, names);
            open.add((AutoCloseable) sides[side][0]);
        }
        int iterations = 1 << 20;
        double flopsPerCall = FmaPeak.flopsPerCall(iterations) * threads;
        FmaPeak.measure(threads, 200);
        Runnable fma = threads == 1 ? () -> sink = FmaPeak.chains(iterations) : () -> FmaPeak.run(threads, iterations);
        System.out.printf(Locale.ROOT, "%-24s %9s %6s %9s %6s %6s   (%d thread(s), median of %d, %s; A = %s, B = %s)%n",
                "case", "A ms", "%peak", "B ms", "%peak", "A/B", threads, reps,
                threads == 1 ? "thread CPU time" : "wall time", args[1], args[2]);
        for (int i = 0; i < names.length; i++) {
            Runnable a = (Runnable) sides[0][1 + i];
            Runnable b = (Runnable) sides[1][1 + i];
            double flops = (Double) sides[0][1 + names.length + i];
            for (int w = 0; w < 3; w++) {
                a.run();
                b.run();
            }
            double[] ta = new double[reps];
            double[] tb = new double[reps];
            double[] tp = new double[reps];
            for (int r = 0; r < reps; r++) {
                boolean aFirst = r % 2 == 0;
                double t1 = median(1, threads, aFirst ? a : b);
                double t2 = median(1, threads, aFirst ? b : a);
                ta[r] = aFirst ? t1 : t2;
                tb[r] = aFirst ? t2 : t1;
                tp[r] = median(1, threads, fma);
            }
            Arrays.sort(ta);
            Arrays.sort(tb);
            Arrays.sort(tp);
            double peak = flopsPerCall / tp[0] / 1e6;
            double ma = ta[reps / 2];
            double mb = tb[reps / 2];
            System.out.printf(Locale.ROOT, "%-24s %9.3f %5.1f%% %9.3f %5.1f%% %6.2f   (peak %.0f GFLOP/s)%n", names[i],
                    ma, 100 * flops / ma / 1e6 / peak, mb, 100 * flops / mb / 1e6 / peak, ma / mb, peak);
        }
        // Pools before their class loaders.
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    /**
     * A build's jar, with the classes whose names start with one of {@code own} (a timing class and its nested ones)
     * taken from {@code self}, the jar's own copies ignored: an older build's jar gets today's timing code.
     */
    static final class SelfLast extends java.net.URLClassLoader {
        private final java.net.URL self;
        private final String[] own;

        SelfLast(java.net.URL jar, java.net.URL self) {
            this(jar, self, GemmTiming.class.getName());
        }

        SelfLast(java.net.URL jar, java.net.URL self, String... own) {
            super(new java.net.URL[] {jar}, ClassLoader.getPlatformClassLoader());
            this.self = self;
            this.own = own.clone();
        }

        private boolean ours(String name) {
            for (String o : own) {
                if (name.startsWith(o)) {
                    return true;
                }
            }
            return false;
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null && ours(name)) {
                    String path = name.replace('.', '/') + ".class";
                    try (java.net.URLClassLoader selfOnly = new java.net.URLClassLoader(new java.net.URL[] {self}, null);
                         java.io.InputStream in = selfOnly.getResourceAsStream(path)) {
                        if (in == null) {
                            throw new ClassNotFoundException(name);
                        }
                        byte[] bytes = in.readAllBytes();
                        c = defineClass(name, bytes, 0, bytes.length);
                    } catch (java.io.IOException e) {
                        throw new ClassNotFoundException(name, e);
                    }
                }
                return c != null ? c : super.loadClass(name, resolve);
            }
        }
    }

    /**
     * The cases of {@code names} for {@link #ab}: {@code [pool, runnables..., flops...]} (types of the boot layer
     * only, so that a caller in another class loader can use them).
     */
    public static Object[] build(int threads, String[] names) {
        ComputePool pool = new ComputePool(threads);
        Arena arena = Arena.ofShared();
        Object[] out = new Object[1 + 2 * names.length];
        out[0] = (AutoCloseable) pool::close;
        for (int i = 0; i < names.length; i++) {
            Case c = make(names[i], pool, arena, i + 1);
            out[1 + i] = c.body();
            out[1 + names.length + i] = c.flops();
        }
        return out;
    }

    /** Median milliseconds of {@code reps} runs (thread CPU time with one thread, else wall time). */
    private static double median(int reps, int threads, Runnable body) {
        double[] t = new double[reps];
        for (int r = 0; r < reps; r++) {
            long t0 = threads == 1 ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
            body.run();
            long t1 = threads == 1 ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
            t[r] = (t1 - t0) / 1e6;
        }
        Arrays.sort(t);
        return t[reps / 2];
    }

    private static Case make(String name, ComputePool pool, Arena arena, int seed) {
        String kind = name.contains(":") ? name.substring(0, name.indexOf(':')) : "gemm";
        int[] d = GemmBenchmark.dims(name.substring(name.indexOf(':') + 1));
        if (kind.equals("conv") || kind.equals("direct") || kind.equals("conv16") || kind.equals("s2")) {
            // 3×3 convolution, stride 1, padding 1, bias, of two images: CINxCOUTxSIDE (AUTO: Winograd where it pays);
            // conv16: the weights F16 off the heap, as a U-Net's; s2: the same with stride 2 (a down-sampler).
            Random r = new Random(seed);
            int side = d[2];
            Tensor img = Tensor.of(GemmBenchmark.random(r, 2 * d[0] * side * side), 2, d[0], side, side);
            float[] w = GemmBenchmark.random(r, d[1] * d[0] * 9);
            Tensor wt = kind.equals("conv16") || kind.equals("s2") ? FullSizeModels.half(w, DType.F16, arena, Shape.of(d[1], d[0], 3, 3))
                    : Tensor.of(w, d[1], d[0], 3, 3);
            Tensor bt = Tensor.of(GemmBenchmark.random(r, d[1]), d[1]);
            dev.diffusion4j.tensor.cpu.ConvAlgorithm alg = !kind.equals("direct")
                    ? dev.diffusion4j.tensor.cpu.ConvAlgorithm.AUTO : dev.diffusion4j.tensor.cpu.ConvAlgorithm.DIRECT;
            int stride = kind.equals("s2") ? 2 : 1;
            int out = (side - 1) / stride + 1;
            return new Case(name, 2.0 * 2 * d[1] * d[0] * 9 * out * out,
                    () -> dev.diffusion4j.tensor.cpu.Conv2d.conv2d(pool, alg, img, wt, bt, stride, 1, 1, 1, 1));
        }
        int m = d[0];
        int k = d[1];
        int n = d[2];
        Random rnd = new Random(seed);
        if (kind.equals("gemm")) {
            Tensor a = Tensor.of(GemmBenchmark.random(rnd, m * k), m, k);
            Tensor b = Tensor.of(GemmBenchmark.random(rnd, k * n), k, n);
            Gemm.PackA pa = Gemm.viewA(a, 0, k, 1);
            Gemm.PackB pb = Gemm.viewB(b, 0, n, 1);
            float[] c = new float[m * n];
            return new Case(name, 2.0 * m * n * k, () -> Gemm.gemm(pool, m, n, k, pa, pb, c, 0, n, null, null, false));
        }
        Tensor x = Tensor.of(GemmBenchmark.random(rnd, m * k), m, k);
        Tensor res = Tensor.of(GemmBenchmark.random(rnd, m * n), m, n);
        var weights = FullSizeModels.randomWeights(DType.F16, arena, seed);
        Tensor w = weights.get("w.weight", n, k);
        Tensor bias = weights.get("w.bias", n);
        double flops = 2.0 * m * n * k;
        return switch (kind) {
            case "lin" -> new Case(name, flops, () -> FusedLinear.linear(pool, x, w, null, null));
            case "res" -> new Case(name, flops, () -> FusedLinear.linear(pool, x, w, bias, res));
            // The same with the residual's storage reused for the output (it then accumulates over the calls).
            case "rip" -> new Case(name, flops, () -> FusedLinear.linear(pool, x, w, bias, res, true));
            case "qkv" -> {
                Tensor w2 = FullSizeModels.randomWeights(DType.F16, arena, seed + 1000).get("w.weight", n, k);
                Tensor w3 = FullSizeModels.randomWeights(DType.F16, arena, seed + 2000).get("w.weight", n, k);
                yield new Case(name, 3 * flops, () -> FusedLinear.linears(pool, x, new Tensor[] {w, w2, w3}, null));
            }
            case "geglu" -> new Case(name, flops, () -> FusedLinear.linearGeglu(pool, x, w, bias));
            // A transformer block's LayerNorm and the layers that read it: stored first (ln…), or applied while packing
            // (lnf…); one layer (the cross-attention's query) or GEGLU.
            case "ln", "lnf", "lngeglu", "lnfgeglu" -> {
                Tensor gamma = Tensor.of(GemmBenchmark.random(rnd, k), k);
                Tensor beta = Tensor.of(GemmBenchmark.random(rnd, k), k);
                Tensor[] one = {w};
                Tensor[] oneBias = {bias};
                yield new Case(name, flops, switch (kind) {
                    case "ln" -> () -> FusedLinear.linears(pool, Norms.layerNorm(pool, x, gamma, beta, 1e-5f), one,
                            oneBias);
                    case "lnf" -> () -> FusedLinear.layerNormLinears(pool, x, gamma, beta, 1e-5f, one, oneBias);
                    case "lngeglu" -> () -> FusedLinear.linearGeglu(pool, Norms.layerNorm(pool, x, gamma, beta, 1e-5f),
                            w, bias);
                    default -> () -> FusedLinear.layerNormLinearGeglu(pool, x, gamma, beta, 1e-5f, w, bias);
                });
            }
            case "in" -> {
                // proj_in: two NCHW images of ROWS / 2 pixels (square) and IN channels.
                int side = (int) Math.round(Math.sqrt(m / 2.0));
                Tensor img = Tensor.of(GemmBenchmark.random(rnd, 2 * k * side * side), 2, k, side, side);
                yield new Case(name, 2.0 * 2 * side * side * k * n, () -> FusedLinear.linearFromChannels(pool, img, w, bias));
            }
            case "c1x1" -> {
                // A ResNet shortcut: a 1×1 convolution of two NCHW images of ROWS / 2 pixels (square), with bias.
                int side = (int) Math.round(Math.sqrt(m / 2.0));
                Tensor img = Tensor.of(GemmBenchmark.random(rnd, 2 * k * side * side), 2, k, side, side);
                Tensor w4 = w.reshape(n, k, 1, 1);
                yield new Case(name, 2.0 * 2 * side * side * k * n,
                        () -> FusedLinear.conv1x1(pool, img, w4, bias, null, false));
            }
            default -> throw new IllegalArgumentException("GemmTiming: unknown case kind '" + kind + "' in " + name);
        };
    }
}
