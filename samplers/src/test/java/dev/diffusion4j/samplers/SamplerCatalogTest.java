package dev.diffusion4j.samplers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The name table: schedules (exponential is our extension), and {@link Schedulers#byName} served by the catalog. */
class SamplerCatalogTest {
    static final SchedulerConfig SD15 = SchedulerConfig.sd15();

    @ParameterizedTest
    @ValueSource(strings = {"euler", "heun", "lms", "dpm2", "dpm++2m", "dpm++2m_sde", "dpm++2s", "unipc", "deis"})
    void exponentialSigmasAreEvenlySpacedInLogSigma(String sampler) {
        Scheduler s = SamplerCatalog.create(sampler, "exponential", null, SD15);
        s.setTimesteps(10);
        float[] sg = s.sigmas();
        float[] train = Schedules.trainSigmas(Schedulers.alphasCumprod(SD15));
        assertEquals(train[train.length - 1], sg[0], 1e-5, sampler + " first sigma");
        // heun/dpm2 repeat interior sigmas; take the distinct ones
        double[] d = java.util.stream.IntStream.range(0, sg.length).mapToDouble(i -> sg[i]).filter(v -> v > 0)
                .distinct().toArray();
        assertEquals(10, d.length, sampler + " " + java.util.Arrays.toString(sg));
        assertEquals(train[0], d[9], 1e-6, sampler + " last sigma");
        double logStep = Math.log(d[1] / d[0]);
        for (int i = 1; i < d.length; i++) {
            assertEquals(logStep, Math.log(d[i] / d[i - 1]), 1e-5, sampler + " log step " + i);
        }
    }

    @Test
    void exponentialIsRefusedWhereThereAreNoSigmasAndBothFlagsClash() {
        for (String sampler : new String[] {"ddim", "pndm", "euler_a", "ddpm", "lcm"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> SamplerCatalog.create(sampler, "exponential", null, SD15));
            assertTrue(e.getMessage().contains("exponential"), e.getMessage());
        }
        SchedulerConfig both = SD15.toBuilder().set("use_karras_sigmas", true).set("use_exponential_sigmas", true).build();
        assertThrows(IllegalArgumentException.class, () -> Schedulers.create("EulerDiscreteScheduler", both).setTimesteps(5));
        // a model config asking for Karras still gets exponential when exponential is chosen
        Scheduler s = SamplerCatalog.create("euler", "exponential", null, SD15.toBuilder().set("use_karras_sigmas", true).build());
        s.setTimesteps(5);
        Scheduler e = SamplerCatalog.create("euler", "exponential", null, SD15);
        e.setTimesteps(5);
        assertArrayEquals(e.sigmas(), s.sigmas());
        assertTrue(SamplerCatalog.schedules().contains("exponential"));
        assertThrows(IllegalArgumentException.class, () -> SamplerCatalog.create("euler", "polyexponential", null, SD15));
    }

    @Test
    void shortNamesAreCatalogNamesWithAliasesAndScheduleSuffixes() {
        String[][] pairs = {{"kdpm2", "dpm2"}, {"dpmpp_2m", "dpm++2m"}, {"dpmpp_2m_sde", "dpm++2m_sde"},
                {"dpm_singlestep", "dpm++2s"}, {"euler_karras", "euler"}, {"dpmpp_2m_exponential", "dpm++2m"}};
        for (String[] p : pairs) {
            assertEquals(SamplerCatalog.diffusersClass(p[1]), Schedulers.byName(p[0], SD15).name(), p[0]);
        }
        Scheduler k = Schedulers.byName("dpmpp_2m_karras", SD15);
        Scheduler c = SamplerCatalog.create("dpm++2m", "karras", null, SD15);
        k.setTimesteps(7);
        c.setTimesteps(7);
        assertArrayEquals(c.sigmas(), k.sigmas());
        assertArrayEquals(c.timesteps(), k.timesteps());
        assertEquals("sde-dpmsolver++", Schedulers.byName("dpmpp_2m_sde", SD15).config().getString("algorithm_type", null));
        assertEquals("sde-dpmsolver++", SamplerCatalog.create("dpm++2m_sde", null, null, SD15).config().getString("algorithm_type", null));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Schedulers.byName("euler_a_karras", SD15));
        assertTrue(e.getMessage().contains("karras"), e.getMessage());
        for (String name : Schedulers.shortNames()) {
            Schedulers.byName(name, SD15).setTimesteps(4);
        }
    }
}
