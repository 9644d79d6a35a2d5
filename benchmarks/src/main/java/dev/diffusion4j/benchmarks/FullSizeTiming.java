package dev.diffusion4j.benchmarks;

import dev.diffusion4j.core.Quantization;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.nn.vae.AutoencoderKL;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.ProfilingBackend;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Quantized;
import dev.diffusion4j.tensor.ResidentMemory;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import dev.diffusion4j.tensor.cpu.ConvAlgorithm;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * A quick (non-JMH) timing of the full-size SD 1.5 U-Net (batch 2, 64×64 latents: one guided step) and VAE decode
 * (512×512) with F16 random weights, with peak RSS. Usage: {@code java ... FullSizeTiming [unet|vae|both] [runs]
 * [auto|direct] [none|q8] [shapes] [timeline]} (the third picks the 3×3 convolution algorithm, {@link ConvAlgorithm},
 * default auto; the fourth quantises the weights {@link Quantization#Q8_0} takes, as {@code LoadOptions.withQuantization}
 * does; {@code shapes} breaks the linear layers and attention of the profile down by shape; {@code timeline} writes
 * the last run's ops in order, with their wall time and busy cores, to {@code d4j-timeline-unet.csv} /
 * {@code d4j-timeline-vae.csv} in the temporary directory). {@code FullSizeTiming --ab OLD.jar NEW.jar rounds [unet|vae]}
 * times two builds alternately in one process (see {@link #ab}). Time decodes with the heap fixed and touched up front
 * ({@code -Xms} equal to {@code -Xmx}, {@code -XX:+AlwaysPreTouch}): while G1 grows a large heap, each decode's 1.2 GB
 * of new activations lands on untouched pages, and the page faults made later decodes read 40–70 % slow.
 */
public final class FullSizeTiming {
    private FullSizeTiming() {
    }

    /** {@code weights} with each weight {@code q} applies to quantised as it is asked for. */
    static StateDict quantized(StateDict weights, Quantization q, Arena arena) {
        if (q == Quantization.NONE) {
            return weights;
        }
        return StateDict.madeOnDemand(weights.source() + " (" + q + ")", (key, dims) -> {
            Tensor t = weights.get(key, dims);
            return q.appliesTo(key, t) ? Quantized.quantize(t, arena) : t;
        });
    }

    /**
     * {@code --ab OLD.jar NEW.jar rounds [unet|vae]}: one guided U-Net step (or one 512² decode) of two builds in this
     * process, each jar in a class loader of its own with today's timing code, run alternately (A then B, then B then A)
     * after two warm-up runs each, so that the load of other processes and the state of the machine hit both alike:
     * prints every round and the medians. Needs room for two models (e.g. {@code -Xmx8g}).
     */
    private static void ab(String[] args) throws Exception {
        java.net.URL self = FullSizeTiming.class.getProtectionDomain().getCodeSource().getLocation();
        int rounds = Integer.parseInt(args[3]);
        String what = args.length > 4 ? args[4] : "unet";
        Runnable[] run = new Runnable[2];
        List<AutoCloseable> open = new java.util.ArrayList<>();
        for (int side = 0; side < 2; side++) {
            java.net.URLClassLoader loader = new GemmTiming.SelfLast(Path.of(args[1 + side]).toUri().toURL(), self,
                    FullSizeTiming.class.getName(), FullSizeModels.class.getName());
            open.add(loader);
            Object[] made = (Object[]) Class.forName(FullSizeTiming.class.getName(), true, loader)
                    .getMethod("abSide", String.class).invoke(null, what);
            run[side] = (Runnable) made[0];
            open.add((AutoCloseable) made[1]);
        }
        for (int w = 0; w < 2; w++) {
            run[0].run();
            run[1].run();
        }
        double[][] t = new double[2][rounds];
        for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < 2; i++) {
                int side = r % 2 == 0 ? i : 1 - i;
                long t0 = System.nanoTime();
                run[side].run();
                t[side][r] = (System.nanoTime() - t0) / 1e9;
            }
            System.out.printf(Locale.ROOT, "round %d: A %.2f s, B %.2f s%n", r + 1, t[0][r], t[1][r]);
        }
        Arrays.sort(t[0]);
        Arrays.sort(t[1]);
        System.out.printf(Locale.ROOT, "%s median: A %.2f s, B %.2f s, A/B %.3f (A = %s, B = %s)%n", what,
                t[0][rounds / 2], t[1][rounds / 2], t[0][rounds / 2] / t[1][rounds / 2], args[1], args[2]);
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    /**
     * One guided step of the full-size SD 1.5 U-Net (batch 2: the same fixed random 64×64 latents twice, two random
     * texts) on {@code weights}.
     */
    private static Runnable unetStep(StateDict weights, Backend be) {
        UNet2DConditionModel unet = new UNet2DConditionModel(FullSizeModels.unetConfig(), weights, be);
        Tensor x = FullSizeModels.guidedLatents(2, 64);
        Tensor ctx = FullSizeModels.randn(3, 2, 77, 768);
        return () -> unet.forward(x, new float[] {500f}, ctx);
    }

    /** One 512×512 decode of the full-size SD 1.5 VAE (fixed random latents) on {@code weights}. */
    private static Runnable vaeDecode(StateDict weights, Backend be) {
        AutoencoderKL vae = new AutoencoderKL(FullSizeModels.vaeConfig(), weights, be);
        Tensor z = FullSizeModels.randn(4, 1, 4, 64, 64);
        return () -> vae.decode(z);
    }

    /**
     * One side of {@link #ab}, built with this class loader's classes: {@code [Runnable one step or decode,
     * AutoCloseable its resources]} (types of the boot layer only).
     */
    public static Object[] abSide(String what) {
        Arena arena = Arena.ofShared();
        CpuBackend be = new CpuBackend(ComputePool.shared(), ConvAlgorithm.AUTO);
        // Recycled activations kept from one run to the next, as a pipeline keeps them (on the calling thread).
        TensorScope.Retention retained = TensorScope.retainPool();
        Runnable step = what.equals("vae") ? vaeDecode(FullSizeModels.randomWeights(DType.F16, arena, 2), be)
                : unetStep(FullSizeModels.randomWeights(DType.F16, arena, 1), be);
        AutoCloseable close = () -> {
            retained.close();
            arena.close();
        };
        return new Object[] {step, close};
    }

    /** Writes the recorded timeline (if any) to {@code d4j-timeline-<what>.csv} in the temporary directory. */
    private static void writeTimeline(ProfilingBackend be, String what) {
        int ops = be.timeline().size();
        if (ops == 0) {
            return;
        }
        Path file = Path.of(System.getProperty("java.io.tmpdir"), "d4j-timeline-" + what + ".csv");
        try {
            Files.writeString(file, be.timelineCsv());
            System.out.println("timeline of the last run (" + ops + " ops): " + file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("--ab")) {
            ab(args);
            return;
        }
        String what = args.length > 0 ? args[0] : "both";
        int runs = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        ConvAlgorithm algorithm = args.length > 2 ? ConvAlgorithm.valueOf(args[2].toUpperCase(Locale.ROOT)) : ConvAlgorithm.AUTO;
        System.out.println("3x3 convolutions: " + algorithm);
        List<String> flags = args.length > 4 ? List.of(args).subList(4, args.length) : List.of();
        boolean shapes = flags.contains("shapes");
        boolean timeline = flags.contains("timeline");
        ProfilingBackend be = new ProfilingBackend(new CpuBackend(ComputePool.shared(), algorithm), shapes, timeline);
        Quantization q = args.length > 3 ? Quantization.parse(args[3]) : Quantization.NONE;
        // Recycled activations kept from one U-Net run to the next, as a pipeline keeps them over its steps (and, like
        // a pipeline, not over decodes).
        TensorScope.Retention retained = TensorScope.retainPool();
        try (Arena arena = Arena.ofShared()) {
            if (!what.equals("vae")) {
                Runnable step = unetStep(quantized(FullSizeModels.randomWeights(DType.F16, arena, 1), q, arena), be);
                System.out.println("unet weights " + q);
                double[] s = new double[runs];
                for (int i = 0; i < runs; i++) {
                    if (timeline && i == runs - 1) {
                        be.reset(); // the timeline (and so the profile) of the last run only
                    }
                    long a0 = FullSizeModels.allocatedBytes();
                    long t0 = System.nanoTime();
                    step.run();
                    s[i] = (System.nanoTime() - t0) / 1e9;
                    System.out.printf(Locale.ROOT, "unet batch 2 64x64: %.2f s (%.0f GFLOP/s at 1.62 TFLOP), %.2f GB allocated%n",
                            s[i], 1620 / s[i], (FullSizeModels.allocatedBytes() - a0) / 1e9);
                    if (i == 0 && runs > 1 && shapes) {
                        be.reset(); // per shape, the first (compiling) run would dominate the rare shapes
                    }
                }
                System.out.print(be.report());
                writeTimeline(be, "unet");
                be.reset();
                Arrays.sort(s);
                System.out.printf(Locale.ROOT, "unet median %.2f s, peak RSS %.2f GiB, %d buffers reused%n", s[runs / 2],
                        ResidentMemory.peakBytes() / 1073741824.0, retained.reusedArrays());
            }
            retained.close();
            if (!what.equals("unet")) {
                Runnable decode = vaeDecode(quantized(FullSizeModels.randomWeights(DType.F16, arena, 2), q, arena), be);
                System.out.println("vae weights " + q);
                double[] s = new double[runs];
                for (int i = 0; i < runs; i++) {
                    if (timeline && i == runs - 1) {
                        be.reset();
                    }
                    long a0 = FullSizeModels.allocatedBytes();
                    long t0 = System.nanoTime();
                    decode.run();
                    s[i] = (System.nanoTime() - t0) / 1e9;
                    System.out.printf(Locale.ROOT, "vae decode 512x512: %.2f s (%.0f GFLOP/s at 2.52 TFLOP), %.2f GB allocated%n",
                            s[i], 2520 / s[i], (FullSizeModels.allocatedBytes() - a0) / 1e9);
                    if (i == 0 && runs > 1 && shapes) {
                        be.reset(); // as for the U-Net: the decoder's one-off ops (its attention) ran 5x slow compiling
                    }
                }
                System.out.print(be.report());
                writeTimeline(be, "vae");
                be.reset();
                Arrays.sort(s);
                System.out.printf(Locale.ROOT, "vae median %.2f s, peak RSS %.2f GiB%n", s[runs / 2], ResidentMemory.peakBytes() / 1073741824.0);
            }
        }
    }
}
