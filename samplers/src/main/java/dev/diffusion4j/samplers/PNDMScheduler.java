package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code PNDMScheduler} in PLMS mode ({@code skip_prk_steps=True}, SD1.5's default): a linear
 * multistep method over the model outputs. N steps evaluate the model N+1 times (the second timestep is
 * repeated). The Runge-Kutta warm-up ({@code skip_prk_steps=False}) is not implemented and is rejected.
 * Class defaults: timestep_spacing "leading", steps_offset 0, set_alpha_to_one false, skip_prk_steps false.
 */
public final class PNDMScheduler extends AbstractScheduler {
    private final float finalAlphaCumprod;
    private final List<float[]> ets = new ArrayList<>();
    private float[] curSample;
    private int counter;

    /** A PNDM scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public PNDMScheduler(SchedulerConfig config) {
        super(config);
        if (!config.getBoolean("skip_prk_steps", false)) {
            throw new IllegalArgumentException("PNDMScheduler: only skip_prk_steps=true (PLMS) is supported");
        }
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
        // base is descending; PLMS runs [t0, t1, t1, t2, ..., t_last] (ascending _timesteps reversed).
        int len = base.length;
        double[] t = new double[len + 1];
        if (len == 1) {
            // np.concatenate([ts[:-1], ts[-2:-1], ts[-1:]]) with one element is just [t0]
            t = new double[] {base[0]};
        } else {
            t[0] = base[0];
            t[1] = base[1];
            for (int i = 1; i < len; i++) {
                t[i + 1] = base[i];
            }
        }
        timesteps = t;
        numInferenceSteps = n;
        ets.clear();
        curSample = null;
        counter = 0;
        resetIndices();
    }

    @Override
    public boolean integerTimesteps() {
        return true;
    }

    @Override
    public float initNoiseSigma() {
        return 1f;
    }

    @Override
    public Tensor scaleModelInput(Tensor sample, double t) {
        return sample.copy();
    }

    @Override
    public StepOutput step(Tensor modelOutput, double t, Tensor sample, NoiseGenerator generator) {
        requireTimesteps();
        sameShape(name() + ".step", modelOutput, "modelOutput", sample, "sample");
        int timestep = trainIndex(t, "step");
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
