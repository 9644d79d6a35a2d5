package dev.diffusion4j.samplers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Parity with diffusers 0.27.2 on every scheduler fixture: schedules for every step count (exact), and the
 * 6-step trace given the reference model outputs (1e-4 * max(1, max|ref|); drawn noise bit-exact).
 */
class SchedulerParityTest {

    /** Records every draw so the test can compare the noise a step took from the generator. */
    static final class RecordingGenerator implements NoiseGenerator {
        final TorchGenerator inner;
        final List<float[]> draws = new ArrayList<>();

        RecordingGenerator(long seed) {
            inner = new TorchGenerator(seed);
        }

        @Override
        public float[] randn(int... shape) {
            float[] v = inner.randn(shape);
            draws.add(v.clone());
            return v;
        }
    }

    @SuppressWarnings("unchecked")
    static Scheduler build(Path caseDir) throws Exception {
        Map<String, Object> cas = Fixtures.json(caseDir.resolve("case.json"));
        Map<String, Object> params = (Map<String, Object>) cas.get("params");
        Map<String, Object> index = Fixtures.json(caseDir.getParent().resolve("index.json"));
        Map<String, Object> entry = (Map<String, Object>) index.get(caseDir.getFileName().toString());
        SchedulerConfig.Builder b = SchedulerConfig.fromMap((Map<String, Object>) params.get("sd15_scheduler_config_json"))
                .toBuilder();
        ((Map<String, Object>) entry.get("overrides")).forEach(b::set);
        return Schedulers.create((String) params.get("scheduler_class"), b.build());
    }

    static void assertClose(float[] ref, float[] got, double relTol, String what) {
        assertEquals(ref.length, got.length, what + ": length");
        double max = 0;
        for (float v : ref) {
            max = Math.max(max, Math.abs(v));
        }
        double tol = relTol * Math.max(1, max);
        double worst = 0;
        int at = -1;
        for (int i = 0; i < ref.length; i++) {
            double d = Math.abs((double) ref[i] - got[i]);
            if (!(d <= worst)) {
                worst = d;
                at = i;
            }
        }
        assertTrue(worst <= tol, what + ": max abs diff " + worst + " at " + at + " > " + tol);
        WORST.merge(what.split(" ")[0], worst / Math.max(1, max), Math::max);
    }

    /** Worst |diff| / max(1, max|ref|) per case, printed for the report. */
    static final java.util.Map<String, Double> WORST = new java.util.concurrent.ConcurrentHashMap<>();

    @org.junit.jupiter.api.AfterAll
    static void printWorst() {
        System.out.println("scheduler parity, worst |diff|/max(1,max|ref|): " + new java.util.TreeMap<>(WORST));
    }

    static float scalar(SafeTensors st, String name) {
        return st.tensor(name).getFlat(0);
    }

    @ParameterizedTest
    @ValueSource(strings = {"pndm", "ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lms", "heun", "kdpm2",
        "ddpm", "lcm", "unipc", "deis", "dpm_singlestep"})
    @SuppressWarnings("unchecked")
    void matchesDiffusers(String name) throws Exception {
        Path dir = Fixtures.dir().resolve("schedulers").resolve(name);
        Map<String, Object> cas = Fixtures.json(dir.resolve("case.json"));
        Scheduler s = build(dir);
        Scheduler viaName = Schedulers.byName(name, SchedulerConfig.fromMap(
                (Map<String, Object>) ((Map<String, Object>) cas.get("params")).get("sd15_scheduler_config_json")));
        assertEquals(s.name(), viaName.name(), "byName class");
        viaName.setTimesteps(20);
        s.setTimesteps(20);
        assertEquals(Arrays.toString(s.timesteps()), Arrays.toString(viaName.timesteps()), "byName schedule");
        assertEquals(Arrays.toString(s.sigmas()), Arrays.toString(viaName.sigmas()), "byName sigmas");
        assertEquals(((Number) ((Map<String, Object>) cas.get("params")).get("order")).intValue(), s.order(), "order");
        try (SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"));
             SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"))) {
            // schedules, exact
            for (String n : ((Map<String, Object>) cas.get("schedules")).keySet()) {
                s.setTimesteps(Integer.parseInt(n));
                String key = "n" + n + "_timesteps";
                double[] t = s.timesteps();
                if (out.entries().get(key).dtype().equals("I64")) {
                    assertTrue(s.integerTimesteps(), name + " integer timesteps");
                    long[] ref = out.longs(key);
                    double[] r = Arrays.stream(ref).asDoubleStream().toArray();
                    assertEquals(Arrays.toString(r), Arrays.toString(t), name + " " + key);
                } else {
                    assertTrue(!s.integerTimesteps(), name + " float timesteps");
                    float[] ref = out.tensor(key).toFloatArray();
                    float[] got = new float[t.length];
                    for (int i = 0; i < t.length; i++) {
                        got[i] = (float) t[i];
                        assertEquals((double) got[i], t[i], "timestep is a float32 value");
                    }
                    if (name.equals("kdpm2")) {
                        // KDPM2's midpoint timesteps go through torch's vectorised float32 log/exp (not
                        // correctly rounded): the fixture's documented tolerance, 1e-6 relative; the
                        // other entries (the linspace grid) must still be exact.
                        int maxUlps = 0;
                        for (int i = 0; i < ref.length; i++) {
                            double tol = i % 2 == 1 ? 1e-6 * Math.abs(ref[i]) : 0;
                            assertEquals(ref[i], got[i], tol, name + " " + key + "[" + i + "]");
                            maxUlps = Math.max(maxUlps, Math.abs(Float.floatToIntBits(ref[i]) - Float.floatToIntBits(got[i])));
                        }
                        System.out.println("kdpm2 " + key + ": max " + maxUlps + " ulp from diffusers");
                    } else {
                        assertEquals(Arrays.toString(ref), Arrays.toString(got), name + " " + key);
                    }
                }
                if (out.contains("n" + n + "_sigmas")) {
                    float[] ref = out.tensor("n" + n + "_sigmas").toFloatArray();
                    assertEquals(Arrays.toString(ref), Arrays.toString(s.sigmas()), name + " n" + n + "_sigmas");
                }
                assertEquals(scalar(out, "n" + n + "_init_noise_sigma"), s.initNoiseSigma(), name + " n" + n + "_init_noise_sigma");
            }
            // trace
            Map<String, Object> trace = (Map<String, Object>) cas.get("trace");
            RecordingGenerator g = new RecordingGenerator(31);
            Tensor noise = g.randnTensor(1, 4, 8, 8);
            float[] refNoise = in.tensor("initial_noise").toFloatArray();
            assertEquals(Arrays.toString(refNoise), Arrays.toString(noise.toFloatArray()), "initial_noise bit-exact");
            g.draws.clear();
            s.setTimesteps(((Number) trace.get("num_inference_steps")).intValue());
            float sigma0 = s.initNoiseSigma();
            float[] lat = noise.toFloatArray();
            for (int i = 0; i < lat.length; i++) {
                lat[i] *= sigma0;
            }
            assertClose(out.tensor("initial_latents").toFloatArray(), lat, 1e-6, name + " initial_latents");
            List<Map<String, Object>> steps = (List<Map<String, Object>>) trace.get("steps");
            double[] ts = s.timesteps();
            assertEquals(steps.size(), ts.length, name + ": evaluations");
            for (Map<String, Object> st : steps) {
                int i = ((Number) st.get("i")).intValue();
                String p = String.format("step%02d_", i);
                double t = ts[i];
                double refT = ((Number) st.get("t")).doubleValue();
                // KDPM2 midpoints: 1e-6 relative (see the schedule check above); everything else exact
                double tTol = name.equals("kdpm2") && i % 2 == 1 ? 1e-6 * Math.abs(refT) : 0;
                assertEquals(refT, t, tTol, name + " " + p + "t");
                Tensor x = out.tensor(p + "latents_in").toHeapF32();
                Tensor mi = s.scaleModelInput(x, t);
                assertClose(out.tensor(p + "model_input").toFloatArray(), mi.toFloatArray(), 1e-4, name + " " + p + "model_input");
                int before = g.draws.size();
                Scheduler.StepOutput r = s.step(out.tensor(p + "model_output").toHeapF32(), t, x, g);
                assertClose(out.tensor(p + "prev_sample").toFloatArray(), r.prevSample().toFloatArray(), 1e-4,
                        name + " " + p + "prev_sample");
                if (out.contains(p + "pred_original_sample")) {
                    assertTrue(r.predOriginalSample() != null, name + " " + p + " returns pred_original_sample");
                    assertClose(out.tensor(p + "pred_original_sample").toFloatArray(),
                            r.predOriginalSample().toFloatArray(), 1e-4, name + " " + p + "pred_original_sample");
                }
                int draws = ((Number) st.get("noise_draws")).intValue();
                assertEquals(draws, g.draws.size() - before, name + " " + p + "noise draws");
                for (int k = 0; k < draws; k++) {
                    float[] ref = out.tensor(p + "noise" + k).toFloatArray();
                    assertEquals(Arrays.toString(ref), Arrays.toString(g.draws.get(before + k)), name + " " + p + "noise" + k);
                }
            }
            // chained: our own latents from the initial noise on, with the reference model outputs (1e-3)
            Scheduler c = build(dir);
            TorchGenerator g2 = new TorchGenerator(31);
            Tensor own = g2.randnTensor(1, 4, 8, 8);
            c.setTimesteps(((Number) trace.get("num_inference_steps")).intValue());
            float[] l0 = own.toFloatArray();
            for (int i = 0; i < l0.length; i++) {
                l0[i] *= c.initNoiseSigma();
            }
            own = Tensor.of(l0, 1, 4, 8, 8);
            for (int i = 0; i < ts.length; i++) {
                String p = String.format("step%02d_", i);
                c.scaleModelInput(own, ts[i]);
                own = c.step(out.tensor(p + "model_output").toHeapF32(), ts[i], own, g2).prevSample();
                assertClose(out.tensor(p + "prev_sample").toFloatArray(), own.toFloatArray(), 1e-3, name + " chained " + p + "prev_sample");
            }
        }
    }
}
