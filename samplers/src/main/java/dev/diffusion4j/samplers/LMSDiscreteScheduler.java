package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import org.apache.commons.math3.analysis.UnivariateFunction;
import org.apache.commons.math3.analysis.integration.IterativeLegendreGaussIntegrator;

/**
 * diffusers' {@code LMSDiscreteScheduler} (k-diffusion "LMS"): linear multistep over the last
 * {@code order} (default 4) derivatives, whose coefficients are integrals of Lagrange basis polynomials
 * over [sigma_i, sigma_{i+1}] (diffusers uses scipy's quad; here commons-math's Gauss-Legendre, exact for
 * these polynomials). Class defaults: timestep_spacing "linspace", use_karras_sigmas false.
 */
public final class LMSDiscreteScheduler extends SigmaScheduler {
    private final List<float[]> derivatives = new ArrayList<>();
    private int lmsOrder = 4;

    /** An LMS scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public LMSDiscreteScheduler(SchedulerConfig config) {
        super(config);
    }

    /** The multistep order passed to every step (diffusers' {@code step(..., order=4)}). */
    public LMSDiscreteScheduler setLmsOrder(int order) {
        if (order < 1) {
            throw new IllegalArgumentException("LMSDiscreteScheduler.setLmsOrder: order " + order + " must be >= 1");
        }
        this.lmsOrder = order;
        return this;
    }

    @Override
    public void setTimesteps(int n) {
        Schedules.checkSteps(name(), n, trainSteps);
        double[] ts = floatTimesteps(n);
        double[] s = interpSigmas(ts);
        if (Schedules.respaced(config, name())) {
            s = karrasFrom(s, n, false);
            ts = new double[s.length];
            for (int i = 0; i < s.length; i++) {
                ts[i] = (float) Schedules.sigmaToT(s[i], logSigmas);
            }
        }
        timesteps = ts;
        sigmas = f32WithZero(s);
        numInferenceSteps = n;
        derivatives.clear();
        resetIndices();
    }

    /** Integral over [sigma_t, sigma_{t+1}] of the Lagrange basis polynomial of {@code current}. */
    double lmsCoefficient(int order, int t, int current) {
        UnivariateFunction basis = tau -> {
            double prod = 1.0;
            for (int k = 0; k < order; k++) {
                if (k == current) {
                    continue;
                }
                prod *= (tau - sigmas[t - k]) / (sigmas[t - current] - sigmas[t - k]);
            }
            return prod;
        };
        double a = sigmas[t];
        double b = sigmas[t + 1];
        if (a == b) {
            return 0;
        }
        // 5-point Gauss-Legendre is exact for polynomials up to degree 9 (the basis has degree order-1).
        IterativeLegendreGaussIntegrator integrator = new IterativeLegendreGaussIntegrator(5, 1e-12, 1e-14);
        double lo = Math.min(a, b);
        double hi = Math.max(a, b);
        double v = integrator.integrate(1000, basis, lo, hi);
        return a < b ? v : -v;
    }

    @Override
    public StepOutput step(Tensor modelOutput, double t, Tensor sample, NoiseGenerator generator) {
        startStep(modelOutput, t, sample);
        float sigma = sigmas[stepIndex];
        float[] x = data(sample);
        float[] x0 = predictX0(data(modelOutput), x, sigma);
        float[] d = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = (x[i] - x0[i]) / sigma;
        }
        derivatives.add(d);
        if (derivatives.size() > lmsOrder) {
            derivatives.remove(0);
        }
        int order = Math.min(stepIndex + 1, lmsOrder);
        double[] coeffs = new double[order];
        for (int c = 0; c < order; c++) {
            coeffs[c] = lmsCoefficient(order, stepIndex, c);
        }
        float[] out = x.clone();
        int last = derivatives.size() - 1;
        for (int c = 0; c < order; c++) {
            float[] dc = derivatives.get(last - c);
            float k = (float) coeffs[c];
            for (int i = 0; i < out.length; i++) {
                out[i] += k * dc[i];
            }
        }
        stepIndex++;
        return new StepOutput(like(sample, out), like(sample, x0));
    }
}
