package dev.diffusion4j.samplers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.Tensor;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Behaviour not covered by the fixtures: spacings, offsets, prediction types, Karras sigmas, bad input. */
class SchedulerBehaviourTest {

    static SchedulerConfig.Builder sd15() {
        return SchedulerConfig.sd15().toBuilder();
    }

    static List<String> allNames() {
        return Schedulers.names();
    }

    @Test
    void leadingLinspaceTrailingSpacingsAsDiffusersComputesThem() {
        DDIMScheduler ddim = new DDIMScheduler(sd15().timestepSpacing("trailing").build());
        ddim.setTimesteps(10);
        assertArrayEquals(new double[] {999, 899, 799, 699, 599, 499, 399, 299, 199, 99}, ddim.timesteps());
        ddim.setTimesteps(7);
        // np.round(np.arange(1000, 0, -1000/7)) - 1
        assertArrayEquals(new double[] {999, 856, 713, 570, 428, 285, 142}, ddim.timesteps());
        ddim = new DDIMScheduler(sd15().timestepSpacing("linspace").build());
        ddim.setTimesteps(10);
        assertArrayEquals(new double[] {999, 888, 777, 666, 555, 444, 333, 222, 111, 0}, ddim.timesteps());
        ddim = new DDIMScheduler(sd15().stepsOffset(0).build());
        ddim.setTimesteps(10);
        assertArrayEquals(new double[] {900, 800, 700, 600, 500, 400, 300, 200, 100, 0}, ddim.timesteps());

        EulerDiscreteScheduler euler = new EulerDiscreteScheduler(sd15().timestepSpacing("leading").build());
        euler.setTimesteps(10);
        assertArrayEquals(new double[] {901, 801, 701, 601, 501, 401, 301, 201, 101, 1}, euler.timesteps());
        float max = euler.sigmas()[0];
        // "leading" scales the initial noise by sqrt(sigma_max^2 + 1), linspace/trailing by sigma_max
        assertEquals((float) Math.sqrt(max * max + 1f), euler.initNoiseSigma());
        euler = new EulerDiscreteScheduler(sd15().timestepSpacing("trailing").build());
        euler.setTimesteps(10);
        assertArrayEquals(new double[] {999, 899, 799, 699, 599, 499, 399, 299, 199, 99}, euler.timesteps());
        assertEquals(euler.sigmas()[0], euler.initNoiseSigma());

        DPMSolverMultistepScheduler dpm = new DPMSolverMultistepScheduler(sd15().timestepSpacing("leading").build());
        dpm.setTimesteps(10);
        // ratio 1000 // 11 = 90, (arange(11) * 90)[::-1][:-1] + steps_offset
        assertArrayEquals(new double[] {901, 811, 721, 631, 541, 451, 361, 271, 181, 91}, dpm.timesteps());
        dpm = new DPMSolverMultistepScheduler(sd15().timestepSpacing("trailing").build());
        dpm.setTimesteps(10);
        assertArrayEquals(new double[] {999, 899, 799, 699, 599, 499, 399, 299, 199, 99}, dpm.timesteps());
    }

    @Test
    void eulerKarrasSigmasSpanTheTrainingRange() {
        EulerDiscreteScheduler e = new EulerDiscreteScheduler(sd15().useKarrasSigmas(true).build());
        EulerDiscreteScheduler plain = new EulerDiscreteScheduler(sd15().build());
        e.setTimesteps(12);
        plain.setTimesteps(12);
        float[] s = e.sigmas();
        float[] p = plain.sigmas();
        assertEquals(13, s.length);
        assertEquals(p[0], s[0], 1e-5f * p[0], "sigma_max");
        assertEquals(p[11], s[11], 1e-5f, "sigma_min");
        assertEquals(0f, s[12]);
        for (int i = 1; i < 12; i++) {
            assertTrue(s[i] < s[i - 1], "descending at " + i);
        }
        double[] t = e.timesteps();
        assertEquals(999, t[0], 1e-3);
        assertEquals(0, t[11], 1e-3);
        // Karras concentrates steps at low noise: the middle sigma is below the linear-timestep one
        assertTrue(s[6] < p[6], "karras mid sigma " + s[6] + " vs " + p[6]);
    }

    @Test
    void pndmRepeatsTheSecondTimestep() {
        PNDMScheduler s = new PNDMScheduler(SchedulerConfig.sd15());
        s.setTimesteps(4);
        assertArrayEquals(new double[] {751, 501, 501, 251, 1}, s.timesteps());
    }

    /** A sample consistent with (x0, eps) at the scheduler's first step, and the matching v target. */
    private static float[][] consistent(Scheduler s, int n, SplittableRandom r) {
        double t = s.timesteps()[0];
        double alpha;
        double sigma;
        boolean kdiff = s instanceof SigmaScheduler;
        if (kdiff) {
            double sg = s.sigmas()[0];
            // k-diffusion latents: x = x0 + sigma * eps; the v target uses the VP alpha/sigma
            alpha = 1 / Math.sqrt(sg * sg + 1);
            sigma = sg * alpha;
        } else if (s instanceof DpmFamilyScheduler || s instanceof DPMSolverMultistepScheduler) {
            double sg = s.sigmas()[0];
            alpha = 1 / Math.sqrt(sg * sg + 1);
            sigma = sg * alpha;
        } else {
            float ac = ((AbstractScheduler) s).alphasCumprod()[(int) t];
            alpha = Math.sqrt(ac);
            sigma = Math.sqrt(1 - ac);
        }
        float[] x0 = new float[n];
        float[] eps = new float[n];
        float[] x = new float[n];
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            x0[i] = (float) (r.nextDouble() * 2 - 1);
            eps[i] = (float) r.nextGaussian();
            x[i] = kdiff ? (float) (x0[i] + (sigma / alpha) * eps[i]) : (float) (alpha * x0[i] + sigma * eps[i]);
            v[i] = (float) (alpha * eps[i] - sigma * x0[i]);
        }
        return new float[][] {x0, eps, x, v};
    }

    @ParameterizedTest
    @MethodSource("allNames")
    void epsilonVPredictionAndSampleAgreeOnAConsistentSample(String cls) {
        long seed = System.nanoTime();
        SplittableRandom r = new SplittableRandom(seed);
        Map<String, String> kinds = Map.of("epsilon", "eps", "v_prediction", "v", "sample", "x0");
        float[] ref = null;
        float[][] data = null;
        for (String kind : List.of("epsilon", "v_prediction", "sample")) {
            if (cls.equals("PNDMScheduler") && kind.equals("sample")) {
                continue; // diffusers' PNDM has no "sample" prediction
            }
            Scheduler s = Schedulers.create(cls, sd15().predictionType(kind).build());
            s.setTimesteps(10);
            if (data == null) {
                data = consistent(s, 64, r);
            }
            float[] out = switch (kinds.get(kind)) {
                case "eps" -> data[1];
                case "v" -> data[3];
                default -> data[0];
            };
            Tensor x = Tensor.of(data[2].clone(), 1, 4, 4, 4);
            Scheduler.StepOutput o = s.step(Tensor.of(out.clone(), 1, 4, 4, 4), s.timesteps()[0], x,
                    new TorchGenerator(seed));
            assertNotNull(o.prevSample());
            float[] prev = o.prevSample().toFloatArray();
            if (ref == null) {
                ref = prev;
                if (o.predOriginalSample() != null && !cls.equals("LCMScheduler")) {
                    SchedulerParityTest.assertClose(data[0], o.predOriginalSample().toFloatArray(), 2e-4,
                            cls + " x0 from epsilon, seed " + seed);
                }
            } else {
                SchedulerParityTest.assertClose(ref, prev, 2e-4, cls + " " + kind + " vs epsilon, seed " + seed);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("allNames")
    void rejectsBadInput(String cls) {
        Scheduler s = Schedulers.create(cls, SchedulerConfig.sd15());
        assertThrows(IllegalStateException.class, () -> s.step(Tensor.zeros(1, 4, 2, 2), 999, Tensor.zeros(1, 4, 2, 2),
                new TorchGenerator(0)), cls + " step before setTimesteps");
        assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(0), cls + " zero steps");
        s.setTimesteps(5);
        double t = s.timesteps()[0];
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> s.step(Tensor.zeros(1, 4, 2, 2), t, Tensor.zeros(1, 4, 2, 3), new TorchGenerator(0)));
        assertTrue(e.getMessage().contains("[1, 4, 2, 2]") || e.getMessage().contains("1, 4, 2, 2"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> s.setBeginIndex(-1));
        assertThrows(IllegalArgumentException.class,
                () -> Schedulers.create(cls, sd15().predictionType("banana").build()));
    }

    @Test
    void configReadsDiffusersJsonValues() {
        SchedulerConfig c = SchedulerConfig.fromMap(Map.of("lambda_min_clipped", "-inf", "beta_start", 0.001,
                "num_train_timesteps", 500, "use_karras_sigmas", true));
        assertEquals(Double.NEGATIVE_INFINITY, c.getDouble("lambda_min_clipped", 0));
        assertEquals(0.001, c.getDouble("beta_start", 0));
        assertEquals(500, c.getInt("num_train_timesteps", 1000));
        assertEquals(7, c.getInt("absent", 7));
        assertTrue(c.getBoolean("use_karras_sigmas", false));
        assertThrows(IllegalArgumentException.class, () -> c.getBoolean("beta_start", false));
        assertThrows(IllegalArgumentException.class, () -> c.getInt("beta_start", 0));
        Scheduler s = Schedulers.fromConfig(Map.of("_class_name", "EulerDiscreteScheduler", "num_train_timesteps", 500,
                "beta_schedule", "linear"));
        s.setTimesteps(5);
        assertEquals(499, s.timesteps()[0]);
        assertThrows(IllegalArgumentException.class, () -> Schedulers.fromConfig(Map.of("_class_name", "NopeScheduler")));
        assertThrows(IllegalArgumentException.class, () -> new DDIMScheduler(sd15().betaSchedule("cubic").build()));
    }

    @Test
    void trainedBetasAndCosineScheduleAreUsed() {
        double[] betas = new double[100];
        for (int i = 0; i < betas.length; i++) {
            betas[i] = 0.001 + i * 1e-4;
        }
        java.util.List<Double> list = java.util.Arrays.stream(betas).boxed().toList();
        AbstractScheduler s = (AbstractScheduler) Schedulers.create("DDIMScheduler",
                SchedulerConfig.builder().numTrainTimesteps(100).set("trained_betas", list).build());
        float[] ac = s.alphasCumprod();
        assertEquals(1 - 0.001f, ac[0], 1e-7f);
        double prod = 1;
        for (double b : betas) {
            prod *= 1 - (float) b;
        }
        assertEquals(prod, ac[99], 1e-6);
        AbstractScheduler cos = (AbstractScheduler) Schedulers.create("DDPMScheduler",
                SchedulerConfig.builder().betaSchedule("squaredcos_cap_v2").build());
        // alpha_bar(t) = cos^2(((t/T) + 0.008)/1.008 * pi/2), normalised by alpha_bar(0)
        double a0 = Math.pow(Math.cos(0.008 / 1.008 * Math.PI / 2), 2);
        double a500 = Math.pow(Math.cos((0.5 + 0.008) / 1.008 * Math.PI / 2), 2);
        assertEquals(a500 / a0, cos.alphasCumprod()[499], 1e-4);
    }

    @Test
    void img2imgBeginIndexSelectsTheSigmaForAddNoise() {
        EulerDiscreteScheduler s = new EulerDiscreteScheduler(SchedulerConfig.sd15());
        s.setTimesteps(10);
        s.setBeginIndex(4);
        Tensor zero = Tensor.zeros(1, 1, 1, 2);
        Tensor one = Tensor.of(new float[] {1, 1}, 1, 1, 1, 2);
        // before the first step: sigma of the begin index, whatever t says
        assertEquals(s.sigmas()[4], s.addNoise(zero, one, s.timesteps()[0]).getFlat(0));
        Tensor x = Tensor.zeros(1, 1, 1, 2);
        s.scaleModelInput(x, s.timesteps()[4]);
        s.step(Tensor.zeros(1, 1, 1, 2), s.timesteps()[4], x, new TorchGenerator(1));
        // after a step: the sigma of the current step index (inpainting's legacy blend)
        assertEquals(s.sigmas()[5], s.addNoise(zero, one, s.timesteps()[5]).getFlat(0));
    }
}
