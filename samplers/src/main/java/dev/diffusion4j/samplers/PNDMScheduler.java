package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code PNDMScheduler}. In PLMS mode ({@code skip_prk_steps=True}, SD1.5's default) a linear
 * multistep method over the model outputs: N steps evaluate the model N+1 times (the second timestep is
 * repeated). Without it (the class default), 12 Runge-Kutta evaluations over the first three intervals
 * come first (the PNDM paper's pseudo Runge-Kutta warm-up), then PLMS for the remaining N-3 steps
 * (needs N &ge; 4). Class defaults: timestep_spacing "leading", steps_offset 0, set_alpha_to_one false,
 * skip_prk_steps false.
 */
public final class PNDMScheduler extends IntegerTimestepScheduler {
    private final float finalAlphaCumprod;
    private final List<float[]> ets = new ArrayList<>();
    private float[] curSample;
    private int counter;
    private final boolean skipPrk;
    private int prkCount;
    private float[] curModelOutput;

    /** A PNDM scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public PNDMScheduler(SchedulerConfig config) {
        super(config);
        skipPrk = config.getBoolean("skip_prk_steps", false);
        if (predictionType.equals("sample")) {
            throw new IllegalArgumentException("PNDMScheduler: prediction_type 'sample' is not supported (diffusers neither)");
        }
        finalAlphaCumprod = config.getBoolean("set_alpha_to_one", false) ? 1f : alphasCumprod[0];
    }

    @Override
    public void setTimesteps(int n) {
        Schedules.checkSteps(name(), n, trainSteps);
        double[] base = Schedules.discreteTimesteps(spacing("leading"), trainSteps, n,
                config.getInt("steps_offset", 0), name());
        int len = base.length;
        double[] t;
        if (skipPrk) {
            // base is descending; PLMS runs [t0, t1, t1, t2, ..., t_last] (ascending _timesteps reversed).
            if (len == 1) {
                // np.concatenate([ts[:-1], ts[-2:-1], ts[-1:]]) with one element is just [t0]
                t = new double[] {base[0]};
            } else {
                t = new double[len + 1];
                t[0] = base[0];
                t[1] = base[1];
                for (int i = 1; i < len; i++) {
                    t[i + 1] = base[i];
                }
            }
            prkCount = 0;
        } else {
            if (len < 4) {
                throw new IllegalArgumentException(name() + ".setTimesteps: the Runge-Kutta warm-up needs at least 4 "
                        + "steps, got " + len + " (or set skip_prk_steps=true)");
            }
            // the four largest timesteps d > c > b > a, each followed by its half-step midpoint:
            // [d, c+h, c+h, c, c, b+h, b+h, b, b, a+h, a+h, a], then PLMS from a down
            int half = trainSteps / n / 2;
            double d = base[0];
            double c = base[1];
            double b = base[2];
            double a = base[3];
            double[] prk = {d, c + half, c + half, c, c, b + half, b + half, b, b, a + half, a + half, a};
            t = new double[prk.length + len - 3];
            System.arraycopy(prk, 0, t, 0, prk.length);
            System.arraycopy(base, 3, t, prk.length, len - 3);
            prkCount = prk.length;
        }
        timesteps = t;
        numInferenceSteps = n;
        ets.clear();
        curSample = null;
        curModelOutput = null;
        counter = 0;
        resetIndices();
    }

    @Override
    public StepOutput step(Tensor modelOutput, double t, Tensor sample, NoiseGenerator generator) {
        requireTimesteps();
        sameShape(name() + ".step", modelOutput, "modelOutput", sample, "sample");
        int timestep = trainIndex(t, "step");
        if (counter < prkCount) {
            return stepPrk(data(modelOutput), timestep, sample);
        }
        int ratio = trainSteps / numInferenceSteps;
        int prev = timestep - ratio;
        float[] eps = data(modelOutput);
        float[] x = data(sample);
        if (counter != 1) {
            ets.add(eps);
        } else {
            prev = timestep;
            timestep = timestep + ratio;
        }
        float[] e;
        int k = ets.size();
        if (k == 1 && counter == 0) {
            e = eps;
            curSample = x;
        } else if (k == 1 && counter == 1) {
            float[] e1 = ets.get(0);
            e = new float[eps.length];
            for (int i = 0; i < e.length; i++) {
                e[i] = (eps[i] + e1[i]) / 2f;
            }
            x = curSample;
            curSample = null;
        } else if (k == 2) {
            float[] a = ets.get(k - 1);
            float[] b = ets.get(k - 2);
            e = new float[eps.length];
            for (int i = 0; i < e.length; i++) {
                e[i] = (3f * a[i] - b[i]) / 2f;
            }
        } else if (k == 3) {
            float[] a = ets.get(k - 1);
            float[] b = ets.get(k - 2);
            float[] c = ets.get(k - 3);
            e = new float[eps.length];
            for (int i = 0; i < e.length; i++) {
                e[i] = (23f * a[i] - 16f * b[i] + 5f * c[i]) / 12f;
            }
        } else {
            float[] a = ets.get(k - 1);
            float[] b = ets.get(k - 2);
            float[] c = ets.get(k - 3);
            float[] d = ets.get(k - 4);
            e = new float[eps.length];
            for (int i = 0; i < e.length; i++) {
                e[i] = (1f / 24f) * (55f * a[i] - 59f * b[i] + 37f * c[i] - 9f * d[i]);
            }
            // only the last four outputs are ever used again
            ets.remove(0);
        }
        float[] prevSample = prevSample(x, timestep, prev, e);
        counter++;
        return new StepOutput(like(sample, prevSample), null);
    }

    /** One pseudo Runge-Kutta evaluation: four per interval, combined 1/6, 1/3, 1/3, 1/6. */
    private StepOutput stepPrk(float[] eps, int timestep, Tensor sample) {
        int diffToPrev = counter % 2 != 0 ? 0 : trainSteps / numInferenceSteps / 2;
        int prev = timestep - diffToPrev;
        int start = (int) timesteps[counter / 4 * 4];
        float[] x = data(sample);
        float[] e = eps;
        int phase = counter % 4;
        if (phase == 0) {
            curModelOutput = new float[eps.length];
            ets.add(eps);
            curSample = x;
        }
        if (phase < 3) {
            float w = phase == 0 ? 1f / 6f : 1f / 3f;
            for (int i = 0; i < eps.length; i++) {
                curModelOutput[i] += w * eps[i];
            }
        } else {
            e = new float[eps.length];
            for (int i = 0; i < eps.length; i++) {
                e[i] = curModelOutput[i] + (1f / 6f) * eps[i];
            }
            curModelOutput = null;
        }
        float[] from = curSample != null ? curSample : x;
        float[] out = prevSample(from, start, prev, e);
        counter++;
        return new StepOutput(like(sample, out), null);
    }

    /** Formula (9) of the PNDM paper, as diffusers' _get_prev_sample (float32 coefficients). */
    private float[] prevSample(float[] x, int timestep, int prev, float[] modelOutput) {
        float at = alphasCumprod[timestep];
        float ap = prev >= 0 ? alphasCumprod[prev] : finalAlphaCumprod;
        float bt = 1f - at;
        float bp = 1f - ap;
        float[] e = modelOutput;
        if (predictionType.equals("v_prediction")) {
            e = new float[x.length];
            float sa = (float) Math.sqrt(at);
            float sb = (float) Math.sqrt(bt);
            for (int i = 0; i < e.length; i++) {
                e[i] = sa * modelOutput[i] + sb * x[i];
            }
        }
        float sampleCoeff = (float) Math.sqrt(ap / at);
        float denom = at * (float) Math.sqrt(bp) + (float) Math.sqrt(at * bt * ap);
        float diff = ap - at;
        float[] out = new float[x.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = sampleCoeff * x[i] - diff * e[i] / denom;
        }
        return out;
    }

    @Override
    public Tensor addNoise(Tensor original, Tensor noise, double t) {
        return addNoiseAlphas(original, noise, t);
    }
}
