package dev.diffusion4j.benchmarks;

import dev.diffusion4j.weights.SafeTensors;
import dev.diffusion4j.weights.SafeTensorsDType;
import dev.diffusion4j.weights.SafeTensorsWriter;
import dev.diffusion4j.weights.StoredTensor;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
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
 * Opening and reading a multi-GB safetensors file: a file of {@code totalMiB} of F16 tensors ({@code tensorMiB}
 * each, real pseudo-random data written by {@link SafeTensorsWriter}) is generated in a temp folder, then timed:
 * open (map + parse + validate) and read the first tensor; scattered 4 KiB reads from random tensors of an open
 * file; and converting one whole tensor to float32.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
public class SafeTensorsBenchmark {
    /** Size of the generated file. */
    @Param("3072")
    public int totalMiB;

    /** Size of each tensor in it. */
    @Param("64")
    public int tensorMiB;

    private Path dir;
    private Path file;
    private SafeTensors open;
    private StoredTensor[] tensors;
    private float[] buffer;
    private SplittableRandom rnd;

    /** Writes the file (once per trial) and opens it for the read benchmarks. */
    @Setup(Level.Trial)
    public void setup() throws IOException {
        dir = Files.createTempDirectory("d4j-st-bench");
        file = dir.resolve("big.safetensors");
        int count = totalMiB / tensorMiB;
        long elems = tensorMiB * (1L << 20) / 2;
        SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
        ValueLayout.OfLong le = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            long seed = i;
            w.add("layers." + i + ".weight", SafeTensorsDType.F16, new long[] {elems / 1024, 1024}, (off, chunk) -> {
                SplittableRandom r = new SplittableRandom(seed * 1_000_003L + off);
                // Four random F16 values per long: random sign and mantissa, exponent 2^-7..2^-6 (weight-like).
                for (long b = 0; b < chunk.byteSize(); b += 8) {
                    chunk.set(le, b, r.nextLong() & 0x87FF_87FF_87FF_87FFL | 0x2000_2000_2000_2000L);
                }
            });
        }
        long t0 = System.nanoTime();
        w.write(file);
        System.out.printf("%n[setup] wrote %d MiB in %.1f s%n", Files.size(file) >> 20, (System.nanoTime() - t0) / 1e9);
        open = SafeTensors.open(file);
        tensors = open.entries().keySet().stream().map(open::view).toArray(StoredTensor[]::new);
        buffer = new float[(int) Math.min(elems, 1 << 24)];
        rnd = new SplittableRandom(42);
    }

    /** Closes and deletes the file. */
    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        open.close();
        Files.deleteIfExists(file);
        Files.deleteIfExists(dir);
    }

    /** Map, parse and validate the header, then read the first 4 KiB of the first tensor. */
    @Benchmark
    public float openAndReadFirstTensor() throws IOException {
        try (SafeTensors st = SafeTensors.open(file)) {
            StoredTensor t = st.view(st.entries().keySet().iterator().next());
            float s = 0;
            for (int i = 0; i < 2048; i++) {
                s += t.getFloat(i);
            }
            return s;
        }
    }

    /** One 4 KiB read (2048 F16 converted to float) at a random place in a random tensor of the open file. */
    @Benchmark
    public float scatteredRead() {
        StoredTensor t = tensors[rnd.nextInt(tensors.length)];
        long from = rnd.nextLong(t.numel() - 2048);
        t.copyToFloats(from, buffer, 0, 2048);
        float s = 0;
        for (int i = 0; i < 2048; i++) {
            s += buffer[i];
        }
        return s;
    }

    /** Converts a whole tensor (F16 to float32), as a loader upcasting weights would. */
    @Benchmark
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    public float convertOneTensorToF32() {
        StoredTensor t = tensors[rnd.nextInt(tensors.length)];
        float s = 0;
        for (long from = 0; from < t.numel(); from += buffer.length) {
            int n = (int) Math.min(buffer.length, t.numel() - from);
            t.copyToFloats(from, buffer, 0, n);
            s += buffer[n - 1];
        }
        return s;
    }
}
