package dev.diffusion4j.samplers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The loop helper replays the scheduler fixtures' traces (the "model" returns the recorded outputs). */
class DenoisingLoopTest {

    @ParameterizedTest
    @ValueSource(strings = {"pndm", "euler_a", "dpmpp_2m_karras", "heun", "lcm"})
    void replaysTheFixtureTrace(String name) throws Exception {
        Path dir = Fixtures.dir().resolve("schedulers").resolve(name);
        Scheduler s = SchedulerParityTest.build(dir);
        try (SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            s.setTimesteps(6);
            TorchGenerator g = new TorchGenerator(31);
            Tensor init = DenoisingLoop.initialLatents(s, g, 1, 4, 8, 8);
            SchedulerParityTest.assertClose(out.tensor("initial_latents").toFloatArray(), init.toFloatArray(), 1e-6,
                    name + " initial_latents");
            int[] call = {0};
            List<Double> seen = new ArrayList<>();
            Tensor fin = DenoisingLoop.run(s, init, s.timesteps(), (in, t) -> {
                String p = String.format("step%02d_", call[0]++);
                SchedulerParityTest.assertClose(out.tensor(p + "model_input").toFloatArray(), in.toFloatArray(), 1e-3,
                        name + " loop " + p + "model_input");
                return out.tensor(p + "model_output").toHeapF32();
            }, g, (i, t, o) -> seen.add(t));
            int n = s.timesteps().length;
            assertEquals(n, seen.size());
            String last = String.format("step%02d_prev_sample", n - 1);
            SchedulerParityTest.assertClose(out.tensor(last).toFloatArray(), fin.toFloatArray(), 1e-3, name + " final");
        }
    }

    @Test
    void rejectsADenoiserOutputOfTheWrongShape() {
        Scheduler s = Schedulers.byName("euler", SchedulerConfig.sd15());
        s.setTimesteps(3);
        Tensor x = Tensor.zeros(1, 4, 2, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DenoisingLoop.run(s, x,
                s.timesteps(), (in, t) -> Tensor.zeros(1, 4, 2, 3), new TorchGenerator(0), null));
        assertEquals(true, e.getMessage().contains("[1, 4, 2, 3]") || e.getMessage().contains("1, 4, 2, 3"), e.getMessage());
    }
}
