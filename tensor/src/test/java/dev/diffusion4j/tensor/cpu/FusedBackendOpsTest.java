package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.ProfilingBackend;
import dev.diffusion4j.tensor.Tensor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The fused linear ops of {@link Backend} (residual, several layers, GEGLU, image layouts): the CPU backend's
 * fused kernels, the interface's default compositions (what another backend gets) and the profiling wrapper all
 * give the same result.
 */
class FusedBackendOpsTest {
    private static final ComputePool POOL = new ComputePool(2);
    private static final CpuBackend CPU = new CpuBackend(POOL);
    /** A backend with only the basic ops of the CPU backend: every fused op runs as its default composition. */
    private static final Backend DEFAULTS = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(),
            new Class<?>[] {Backend.class}, (proxy, method, args) -> {
                if (method.isDefault()) {
                    return java.lang.reflect.InvocationHandler.invokeDefault(proxy, method, args);
                }
                try {
                    return method.invoke(CPU, args);
                } catch (InvocationTargetException e) {
                    throw e.getCause();
                }
            });
    private static final Backend PROFILED = new ProfilingBackend(CPU, true);

    @AfterAll
    static void close() {
        POOL.close();
    }

    private static Tensor random(Random rnd, int... dims) {
        Tensor t = Tensor.zeros(dims);
        for (long i = 0; i < t.numel(); i++) {
            t.setFlat(i, rnd.nextFloat() * 2 - 1);
        }
        return t;
    }

    private static void assertSame(Tensor want, Tensor got, int k, String what) {
        assertArrayEquals(want.shape().dims(), got.shape().dims(), what + ": shape");
        double[] w = new double[(int) want.numel()];
        float[] wf = want.toFloatArray();
        for (int i = 0; i < w.length; i++) {
            w[i] = wf[i];
        }
        GemmTest.assertClose(w, got.toFloatArray(), k, 2, what);
    }

    /**
     * A backend that fuses only the plain {@code groupNormConv2d} (the op before it took a channel addend) still gets
     * the call when a model passes no addend, and the addend's default adds it first and then calls that op.
     */
    @Test
    void aBackendFusingOnlyThePlainGroupNormConvKeepsIt() {
        int[] plainCalls = {0};
        Backend onlyPlain = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(),
                new Class<?>[] {Backend.class}, (proxy, method, args) -> {
                    if (method.getName().equals("groupNormConv2d") && method.getParameterCount() == 11) {
                        plainCalls[0]++;
                    } else if (method.isDefault()) {
                        return java.lang.reflect.InvocationHandler.invokeDefault(proxy, method, args);
                    }
                    try {
                        return method.invoke(CPU, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        Random rnd = new Random(9);
        Tensor x = random(rnd, 2, 8, 6, 5);
        Tensor g = random(rnd, 8);
        Tensor w = random(rnd, 4, 8, 3, 3);
        Tensor want = CPU.groupNormConv2d(x, 2, g, g, 1e-5f, true, w, null, 1, null, false);
        assertArrayEquals(want.toFloatArray(),
                onlyPlain.groupNormConv2d(x, null, 2, g, g, 1e-5f, true, w, null, 1, null, false).toFloatArray());
        assertEquals(1, plainCalls[0]);
        Tensor addend = random(rnd, 2, 8);
        assertSame(CPU.groupNormConv2d(x, addend, 2, g, g, 1e-5f, true, w, null, 1, null, false),
                onlyPlain.groupNormConv2d(x, addend, 2, g, g, 1e-5f, true, w, null, 1, null, false), 72, "with an addend");
        assertEquals(2, plainCalls[0]);
    }

    @Test
    void fusedOpsMatchTheirDefaultCompositions() {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        int n = 2;
        int c = 64;
        int h = 5;
        int w = 7;
        Tensor img = random(rnd, n, c, h, w);
        Tensor wIn = random(rnd, 96, c);
        Tensor bIn = random(rnd, 96);
        Tensor wOut = random(rnd, c, 96);
        Tensor bOut = random(rnd, c);
        Tensor wq = random(rnd, 96, 96);
        Tensor wk = random(rnd, 64, 96);
        Tensor bk = random(rnd, 64);
        Tensor wGeglu = random(rnd, 2 * 64, 96);
        Tensor bGeglu = random(rnd, 2 * 64);
        for (Backend b : new Backend[] {CPU, PROFILED}) {
            String what = "seed " + seed + " " + b.name();
            Tensor seq = b.linearFromChannels(img, wIn, bIn);
            assertSame(DEFAULTS.linearFromChannels(img, wIn, bIn), seq, c, what + " linearFromChannels");
            // normalised while packed: the very values a separate groupNorm stores, so the very same result
            Tensor gamma = random(rnd, c);
            Tensor beta = random(rnd, c);
            assertArrayEquals(DEFAULTS.groupNormLinearFromChannels(img, 8, gamma, beta, 1e-6f, wIn, bIn).toFloatArray(),
                    b.groupNormLinearFromChannels(img, 8, gamma, beta, 1e-6f, wIn, bIn).toFloatArray(),
                    what + " groupNormLinearFromChannels");
            Tensor addend = random(rnd, n, c);
            Tensor wConv = random(rnd, 16, c, 3, 3);
            Tensor bConv = random(rnd, 16);
            assertSame(DEFAULTS.groupNormConv2d(img, addend, 8, gamma, beta, 1e-5f, true, wConv, bConv, 1, null, false),
                    b.groupNormConv2d(img, addend, 8, gamma, beta, 1e-5f, true, wConv, bConv, 1, null, false), 9 * c,
                    what + " groupNormConv2d with an addend");
            Tensor res = random(rnd, n, h * w, 96);
            assertSame(DEFAULTS.linear(seq, wq, null, res), b.linear(seq, wq, null, res), 96, what + " linear+residual");
            Tensor[] two = b.linears(seq, new Tensor[] {wq, wk}, new Tensor[] {null, bk});
            Tensor[] twoDefault = DEFAULTS.linears(seq, new Tensor[] {wq, wk}, new Tensor[] {null, bk});
            assertEquals(2, two.length);
            assertSame(twoDefault[0], two[0], 96, what + " linears[0]");
            assertSame(twoDefault[1], two[1], 96, what + " linears[1]");
            assertSame(DEFAULTS.linearGeglu(seq, wGeglu, bGeglu), b.linearGeglu(seq, wGeglu, bGeglu), 96,
                    what + " linearGeglu");
            Tensor lnGamma = random(rnd, 96);
            Tensor lnBeta = random(rnd, 96);
            Tensor[] normed = b.layerNormLinears(seq, lnGamma, lnBeta, 1e-5f, new Tensor[] {wq, wk}, new Tensor[] {null, bk});
            Tensor[] normedDefault = DEFAULTS.layerNormLinears(seq, lnGamma, lnBeta, 1e-5f, new Tensor[] {wq, wk},
                    new Tensor[] {null, bk});
            assertSame(normedDefault[0], normed[0], 96, what + " layerNormLinears[0]");
            assertSame(normedDefault[1], normed[1], 96, what + " layerNormLinears[1]");
            assertSame(DEFAULTS.layerNormLinearGeglu(seq, lnGamma, lnBeta, 1e-5f, wGeglu, bGeglu),
                    b.layerNormLinearGeglu(seq, lnGamma, lnBeta, 1e-5f, wGeglu, bGeglu), 96, what + " layerNormLinearGeglu");
            assertSame(DEFAULTS.linearToChannels(seq, wOut, bOut, img, h, w), b.linearToChannels(seq, wOut, bOut, img, h, w),
                    96, what + " linearToChannels");
        }
    }
}
