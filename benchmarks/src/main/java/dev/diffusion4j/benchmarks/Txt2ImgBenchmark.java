package dev.diffusion4j.benchmarks;

import dev.diffusion4j.core.GenerationResult;
import dev.diffusion4j.core.StableDiffusion;
import dev.diffusion4j.tensor.ProfilingBackend;
import dev.diffusion4j.tensor.ResidentMemory;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.io.IOException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A whole 512×512 txt2img of {@code steps} guided steps through the library on the real SD 1.5 size with random F16
 * weights read from disk (see {@link Txt2ImgRun}; the folder is written on first use). Single shot, one measured
 * run: minutes long. Per-stage times, peak RSS and the per-op breakdown ({@link ProfilingBackend}) are printed. The
 * fork runs in the heap the README recommends for the job (1 GiB, G1 regions of 32 MB, as {@code ./sd}).
 * {@code -p weights=stream} streams the weights
 * ({@link StableDiffusion.LoadOptions#streamWeights}), {@code -p weights=low-memory} releases each stage's pages.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-XX:ObjectAlignmentInBytes=64", "-Xmx1g", "-XX:G1HeapRegionSize=32m"})
@Warmup(iterations = 0)
@Measurement(iterations = 1)
public class Txt2ImgBenchmark {
    @Param({"20"})
    public int steps;

    /** {@code mapped} (the default: weights stay mapped), {@code low-memory} or {@code stream}. */
    @Param({"mapped"})
    public String weights;

    private ProfilingBackend profile;

    private StableDiffusion sd;
    private GenerationResult last;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        Txt2ImgRun.ensureModel(Txt2ImgRun.DEFAULT_FOLDER);
        if (!List.of("mapped", "low-memory", "stream").contains(weights)) {
            throw new IllegalArgumentException("weights=" + weights + ": expected mapped, low-memory or stream");
        }
        profile = new ProfilingBackend(CpuBackend.create());
        sd = StableDiffusion.load(Txt2ImgRun.DEFAULT_FOLDER, StableDiffusion.LoadOptions.defaults().withBackend(profile)
                .withReleaseWeightPages(weights.equals("low-memory")).withStreamWeights(weights.equals("stream")));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (last != null) {
            GenerationResult.Timings t = last.timings();
            System.out.printf(Locale.ROOT, "%ntext %.2f s, %d steps %.1f s (%.2f s/step), decode %.2f s, peak RSS %.2f GiB%n",
                    t.textMillis() / 1000, steps, t.totalStepMillis() / 1000, t.totalStepMillis() / 1000 / steps,
                    t.decodeMillis() / 1000, ResidentMemory.peakBytes() / 1073741824.0);
            System.out.print(profile.report());
        }
        sd.close();
    }

    /** Text encoding, {@code steps} guided U-Net steps and the 512×512 decode. */
    @Benchmark
    public GenerationResult txt2img() {
        last = Txt2ImgRun.generate(sd, steps);
        return last;
    }

    /** FLOPs of one invocation, for {@link BenchMain}'s fraction of peak. */
    public static double flops(String method, Map<String, String> params) {
        int steps = Integer.parseInt(params.getOrDefault("steps", "20"));
        return steps * FullSizeBenchmark.UNET_FLOPS + FullSizeBenchmark.VAE_DECODE_FLOPS;
    }
}
