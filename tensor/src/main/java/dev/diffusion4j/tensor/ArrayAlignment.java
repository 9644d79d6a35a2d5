package dev.diffusion4j.tensor;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;

/**
 * Where packed GEMM panels, kernels' buffers and heap tensors start in their arrays so that their rows fall on cache
 * lines.
 *
 * <p>A panel row of B is {@link Gemm#NR} floats (two 64-byte vectors), and the micro-kernel loads it once per step of
 * K. Java objects are only 8-byte aligned and a {@code float[]}'s first element lies 16 bytes past the object, so in
 * general every such load splits two cache lines, which costs the kernel about 10 % with its operands in L1. When
 * the JVM places every object on a 64-byte boundary ({@code -XX:ObjectAlignmentInBytes=64}, as {@code ./sd},
 * {@code ./bench} and the benchmarks' forks run it), element {@link #FLOAT_OFFSET} of every float array is on a
 * cache line; buffers then start their panels there. Measured with {@code GemmTiming} on 1 thread: 4096×320×320
 * 55–60 % → 68–71 % of the FMA peak, 4096×320×2560 64–71 % → 71–76 %, 1024³ 70–73 % → 74–77 %. {@link Tensor#zeros}
 * and {@link Tensor#empty} start their elements there too (see {@link Tensor#offset()}). Without the flag the offset
 * is 0 and nothing changes; results never depend on it.
 */
public final class ArrayAlignment {
    /** Index of the first 64-byte-aligned element of every {@code float[]}, or 0 when that is not known. */
    public static final int FLOAT_OFFSET = floatOffset();

    private ArrayAlignment() {
    }

    private static int floatOffset() {
        try {
            HotSpotDiagnosticMXBean vm = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
            if (vm == null || Integer.parseInt(vm.getVMOption("ObjectAlignmentInBytes").getValue()) % 64 != 0) {
                return 0;
            }
            // Where element 0 of a float[] lies past the object's start: after the header and the length.
            int base = flag(vm, "UseCompactObjectHeaders", false) ? 12
                    : flag(vm, "UseCompressedClassPointers", true) ? 16 : 20;
            return (64 - base) / Float.BYTES;
        } catch (RuntimeException | LinkageError e) {
            // Not HotSpot, or no management: panels stay where they were.
            return 0;
        }
    }

    private static boolean flag(HotSpotDiagnosticMXBean vm, String name, boolean absent) {
        try {
            return Boolean.parseBoolean(vm.getVMOption(name).getValue());
        } catch (IllegalArgumentException e) {
            return absent;
        }
    }
}
