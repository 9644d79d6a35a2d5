package dev.diffusion4j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link ProfilingBackend}: totals, busy cores and the timeline of the ops it forwards. */
class ProfilingBackendTest {
    private static Tensor random(long seed, int... dims) {
        Random r = new Random(seed);
        float[] a = new float[Math.toIntExact(Shape.of(dims).numel())];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return Tensor.of(a, dims);
    }

    @Test
    void countsOpsCoresAndKeepsTheTimelineInOrder() {
        try (ComputePool pool = new ComputePool(2)) {
            CpuBackend cpu = new CpuBackend(pool);
            ProfilingBackend p = new ProfilingBackend(cpu, false, true);
            Tensor x = random(1, 256, 512);
            Tensor w = random(2, 512, 512);
            Tensor y = null;
            for (int i = 0; i < 3; i++) {
                y = p.linear(x, w, null);
            }
            Tensor z = p.silu(y);
            assertArrayEquals(cpu.silu(cpu.linear(x, w, null)).toFloatArray(), z.toFloatArray(), "forwarded unchanged");

            ProfilingBackend.OpStats linear = p.stats().get("linear");
            assertEquals(3, linear.calls());
            assertEquals(3 * 2.0 * 256 * 512 * 512 / 1e9, linear.gflop(), 1e-9);
            assertTrue(linear.millis() > 0);
            // The process was busy while the product ran: between a sliver of a core and every core there is.
            assertTrue(linear.cores() > 0.05 && linear.cores() <= Runtime.getRuntime().availableProcessors() + 0.5,
                    "cores " + linear.cores());

            List<ProfilingBackend.Event> t = p.timeline();
            assertEquals(List.of("linear", "linear", "linear", "silu"), t.stream().map(ProfilingBackend.Event::op).toList());
            for (int i = 1; i < t.size(); i++) {
                assertTrue(t.get(i).startNanos() >= t.get(i - 1).startNanos() + t.get(i - 1).wallNanos(),
                        "events in call order, not overlapping");
            }
            String csv = p.timelineCsv();
            assertTrue(csv.startsWith("start_ms,wall_ms,cores,op\n") && csv.strip().split("\n").length == 5, csv);
            assertTrue(p.report().contains("cores"), p.report());

            p.reset();
            assertTrue(p.timeline().isEmpty() && p.stats().isEmpty());
            ProfilingBackend noTimeline = new ProfilingBackend(cpu);
            noTimeline.silu(x);
            assertTrue(noTimeline.timeline().isEmpty());
            assertEquals(1, noTimeline.stats().get("silu").calls());
        }
    }
}
