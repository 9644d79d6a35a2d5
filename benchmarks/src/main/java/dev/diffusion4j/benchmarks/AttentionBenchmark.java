package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.Attention;
import java.util.Map;
import java.util.Random;
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
 * Tiled attention at Stable Diffusion 1.x sizes (512×512 image): U-Net level-1 self-attention (4096 tokens,
 * 8 heads of 40) for batch 1 and 2 (classifier-free guidance), its cross-attention over 77 text tokens,
 * and the VAE mid-block attention (1 head, 4096 tokens, 512 channels).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-XX:ObjectAlignmentInBytes=64"})
@Warmup(iterations = 2)
@Measurement(iterations = 3)
public class AttentionBenchmark {
    private static final int TOKENS = 4096;
    private static final int HEADS = 8;
    private static final int HEAD_DIM = 40;
    private static final int TEXT_TOKENS = 77;
    private static final int VAE_CHANNELS = 512;

    /** Threads in the {@link ComputePool} (the caller included). */
    @Param({"1", "2"})
    public int threads;

    private ComputePool pool;
    private Tensor q1;
    private Tensor k1;
    private Tensor v1;
    private Tensor q2;
    private Tensor k2;
    private Tensor v2;
    private Tensor kText;
    private Tensor vText;
    private Tensor qVae;
    private Tensor kVae;
    private Tensor vVae;

    @Setup(Level.Trial)
    public void setUp() {
        pool = new ComputePool(threads);
        Random rnd = new Random(42);
        int c = HEADS * HEAD_DIM;
        q1 = random(rnd, 1, TOKENS, c);
        k1 = random(rnd, 1, TOKENS, c);
        v1 = random(rnd, 1, TOKENS, c);
        q2 = random(rnd, 2, TOKENS, c);
        k2 = random(rnd, 2, TOKENS, c);
        v2 = random(rnd, 2, TOKENS, c);
        kText = random(rnd, 1, TEXT_TOKENS, c);
        vText = random(rnd, 1, TEXT_TOKENS, c);
        qVae = random(rnd, 1, TOKENS, VAE_CHANNELS);
        kVae = random(rnd, 1, TOKENS, VAE_CHANNELS);
        vVae = random(rnd, 1, TOKENS, VAE_CHANNELS);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.close();
    }

    private static Tensor random(Random rnd, int... dims) {
        Tensor t = Tensor.zeros(dims);
        for (long i = 0; i < t.numel(); i++) {
            t.setFlat(i, (float) rnd.nextGaussian());
        }
        return t;
    }

    private static float scale(int d) {
        return (float) (1 / Math.sqrt(d));
    }

    /** Self-attention, batch 1: 4096 tokens, 8 heads × 40. */
    @Benchmark
    public Tensor selfAttentionBatch1() {
        return Attention.attention(pool, q1, k1, v1, HEADS, scale(HEAD_DIM), false);
    }

    /** Self-attention, batch 2 (conditional + unconditional). */
    @Benchmark
    public Tensor selfAttentionBatch2() {
        return Attention.attention(pool, q2, k2, v2, HEADS, scale(HEAD_DIM), false);
    }

    /** Cross-attention: 4096 queries over 77 text tokens, 8 heads × 40. */
    @Benchmark
    public Tensor crossAttention() {
        return Attention.attention(pool, q1, kText, vText, HEADS, scale(HEAD_DIM), false);
    }

    /** VAE mid-block attention: 1 head, 4096 tokens, 512 channels. */
    @Benchmark
    public Tensor vaeAttention() {
        return Attention.attention(pool, qVae, kVae, vVae, 1, scale(VAE_CHANNELS), false);
    }

    /**
     * Floating-point operations of one call of {@code method} (simple or qualified name): the two GEMMs,
     * {@code 4·B·H·Tq·Tk·d}; softmax work is not counted.
     */
    public static double flops(String method, Map<String, String> params) {
        String m = method.substring(method.lastIndexOf('.') + 1);
        return switch (m) {
            case "selfAttentionBatch1" -> 4.0 * 1 * HEADS * TOKENS * TOKENS * HEAD_DIM;
            case "selfAttentionBatch2" -> 4.0 * 2 * HEADS * TOKENS * TOKENS * HEAD_DIM;
            case "crossAttention" -> 4.0 * 1 * HEADS * TOKENS * TEXT_TOKENS * HEAD_DIM;
            case "vaeAttention" -> 4.0 * 1 * 1 * TOKENS * TOKENS * VAE_CHANNELS;
            default -> throw new IllegalArgumentException("AttentionBenchmark.flops: unknown method " + method);
        };
    }
}
