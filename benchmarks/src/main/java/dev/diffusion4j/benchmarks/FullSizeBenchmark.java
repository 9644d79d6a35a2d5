package dev.diffusion4j.benchmarks;

import dev.diffusion4j.nn.clip.CLIPTextConfig;
import dev.diffusion4j.nn.clip.CLIPTextModel;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.nn.vae.AutoencoderKL;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.ProfilingBackend;
import dev.diffusion4j.tensor.ResidentMemory;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.lang.foreign.Arena;
import java.util.HashMap;
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
 * The real SD 1.5 models with random F16 weights (memory-mapped checkpoints hold F16 the same way): one U-Net
 * evaluation with classifier-free guidance (batch 2: the same 64×64 latents twice, as a pipeline builds it, with two
 * texts of 77 tokens), one VAE decode at 512×512, and
 * the CLIP ViT-L/14 text tower on 2 × 77 tokens. Single-shot: each invocation is seconds long. At the end of each
 * trial the fork prints its peak RSS and where the time of the measured iterations went, op by op
 * ({@link ProfilingBackend}: calls, milliseconds, share, GFLOP/s).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-XX:ObjectAlignmentInBytes=64", "-XX:+UseParallelGC", "-Xmx3g"})
@Warmup(iterations = 1)
@Measurement(iterations = 3)
public class FullSizeBenchmark {
    /**
     * FLOPs of one U-Net evaluation at batch 2, 64×64 (conv 0.89, linear 0.47, attention 0.25 TFLOP): the nominal work
     * of a guided step. The U-Net runs the part before the text once for both halves (about 41 GFLOP less).
     */
    public static final double UNET_FLOPS = 1.62e12;
    /** FLOPs of one VAE decode at 512×512. */
    public static final double VAE_DECODE_FLOPS = 2.52e12;

    @Param({"2"})
    public int threads;

    private Arena arena;
    private ComputePool pool;
    private UNet2DConditionModel unet;
    private AutoencoderKL vae;
    private CLIPTextModel text;
    private Tensor latents;
    private Tensor context;
    private Tensor z;
    private int[][] ids;
    private ProfilingBackend profile;
    private int iteration;
    /**
     * The pool of recycled activations kept from one U-Net step to the next, as a pipeline keeps it over its steps
     * (and, like a pipeline, not over decodes).
     */
    private TensorScope.Retention retention;
    private Thread retentionThread;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        pool = new ComputePool(threads);
        profile = new ProfilingBackend(new CpuBackend(pool));
        Backend be = profile;
        unet = new UNet2DConditionModel(FullSizeModels.unetConfig(), FullSizeModels.randomWeights(DType.F16, arena, 1), be);
        vae = new AutoencoderKL(FullSizeModels.vaeConfig(), FullSizeModels.randomWeights(DType.F16, arena, 2), be);
        Map<String, Object> clip = new HashMap<>();
        clip.put("hidden_size", 768);
        clip.put("num_hidden_layers", 12);
        clip.put("num_attention_heads", 12);
        clip.put("intermediate_size", 3072);
        clip.put("hidden_act", "quick_gelu");
        clip.put("eos_token_id", 49407);
        var weights = FullSizeModels.randomWeights(DType.F16, arena, 3);
        text = CLIPTextModel.of(CLIPTextConfig.fromMap(clip), key -> weights.get(key, FullSizeModels.clipL14Shape(key)),
                CLIPTextModel.DIFFUSERS_PREFIX, be);
        latents = FullSizeModels.guidedLatents(4, 64);
        context = FullSizeModels.randn(5, 2, 77, 768);
        z = FullSizeModels.randn(6, 1, 4, 64, 64);
        ids = new int[2][77];
        for (int b = 0; b < 2; b++) {
            ids[b][0] = 49406;
            for (int i = 1; i < 77; i++) {
                ids[b][i] = i < 20 ? 300 + 17 * i + b : 49407;
            }
        }
    }

    /** Forgets the warm-up iteration's op totals, so the breakdown covers the measured iterations only. */
    @Setup(Level.Iteration)
    public void startIteration() {
        if (iteration++ == 1) {
            profile.reset();
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        System.out.printf(Locale.ROOT, "%npeak RSS of this fork: %.2f GiB; per op over the measured iterations:%n%s",
                ResidentMemory.peakBytes() / 1073741824.0, profile.report());
        if (retention != null && Thread.currentThread() == retentionThread) {
            retention.close();
        }
        pool.close();
        arena.close();
    }

    /** Retains the pool on the benchmark thread (JMH may run set-up on another), once. */
    private void retainPool() {
        if (retention == null) {
            retention = TensorScope.retainPool();
            retentionThread = Thread.currentThread();
        }
    }

    /** One guided U-Net step: batch 2 (unconditional + conditional, the same latents), 64×64 (512×512 images). */
    @Benchmark
    public Tensor unetStep() {
        retainPool();
        return unet.forward(latents, new float[] {500f}, context);
    }

    /** VAE decode of one 512×512 image. */
    @Benchmark
    public Tensor vaeDecode() {
        return vae.decode(z);
    }

    /** The CLIP ViT-L/14 text tower on 2 × 77 tokens. */
    @Benchmark
    public Tensor textEncoder() {
        return text.encode(ids);
    }

    /** FLOPs of one invocation, for {@link BenchMain}'s fraction of peak. */
    public static double flops(String method, Map<String, String> params) {
        return switch (method) {
            case "unetStep" -> UNET_FLOPS;
            case "vaeDecode" -> VAE_DECODE_FLOPS;
            // 12 layers × (4 projections 768² + MLP 2·768·3072) × 154 tokens × 2, plus attention.
            case "textEncoder" -> 2.0 * 154 * 12 * (4.0 * 768 * 768 + 2.0 * 768 * 3072) + 4.0 * 2 * 77 * 77 * 768 * 12;
            default -> 0;
        };
    }
}
