package dev.diffusion4j.nn.clip;

import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/**
 * A deliberately naive, double-accumulating backend with just the ops CLIP's text model needs. It checks the model
 * code against the fixtures independently of the optimised CPU kernels.
 */
final class ReferenceBackend implements Backend {
    @Override
    public String name() {
        return "reference";
    }

    private static UnsupportedOperationException unsupported(String op) {
        return new UnsupportedOperationException("ReferenceBackend: " + op + " is not needed by CLIP");
    }

    @Override
    public Tensor matmul(Tensor a, boolean transposeA, Tensor b, boolean transposeB) {
        throw unsupported("matmul");
    }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        int in = x.dim(-1);
        int out = weight.dim(0);
        if (weight.dim(1) != in) {
            throw new IllegalArgumentException("linear: x " + x.shape() + " weight " + weight.shape());
        }
        float[] xs = x.toFloatArray();
        float[] w = weight.toFloatArray();
        float[] bs = bias == null ? null : bias.toFloatArray();
        int rows = xs.length / in;
        float[] y = new float[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double s = bs == null ? 0 : bs[o];
                for (int i = 0; i < in; i++) {
                    s += (double) xs[r * in + i] * w[o * in + i];
                }
                y[r * out + o] = (float) s;
            }
        }
        int[] dims = x.shape().dims();
        dims[dims.length - 1] = out;
        return Tensor.of(y, dims);
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padTop, int padBottom, int padLeft,
                         int padRight) {
        throw unsupported("conv2d");
    }

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        throw unsupported("groupNorm");
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        int d = x.dim(-1);
        float[] xs = x.toFloatArray();
        float[] g = gamma == null ? null : gamma.toFloatArray();
        float[] b = beta == null ? null : beta.toFloatArray();
        float[] y = new float[xs.length];
        for (int r = 0; r < xs.length / d; r++) {
            double mean = 0;
            for (int i = 0; i < d; i++) {
                mean += xs[r * d + i];
            }
            mean /= d;
            double var = 0;
            for (int i = 0; i < d; i++) {
                double c = xs[r * d + i] - mean;
                var += c * c;
            }
            var /= d;
            double inv = 1 / Math.sqrt(var + eps);
            for (int i = 0; i < d; i++) {
                double v = (xs[r * d + i] - mean) * inv;
                if (g != null) {
                    v *= g[i];
                }
                if (b != null) {
                    v += b[i];
                }
                y[r * d + i] = (float) v;
            }
        }
        return Tensor.of(y, x.shape().dims());
    }

    @Override
    public Tensor softmax(Tensor x) {
        throw unsupported("softmax");
    }

    @Override
    public Tensor silu(Tensor x) {
        throw unsupported("silu");
    }

    @Override
    public Tensor gelu(Tensor x, boolean tanhApproximation) {
        float[] xs = x.toFloatArray();
        for (int i = 0; i < xs.length; i++) {
            double v = xs[i];
            xs[i] = (float) (tanhApproximation
                    ? 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)))
                    : 0.5 * v * (1 + erf(v / Math.sqrt(2))));
        }
        return Tensor.of(xs, x.shape().dims());
    }

    /** erf by its Maclaurin series / continued fraction is overkill here: Abramowitz-Stegun 7.1.26 (|err| < 1.5e-7). */
    private static double erf(double z) {
        double t = 1 / (1 + 0.3275911 * Math.abs(z));
        double y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592)
                * t * Math.exp(-z * z);
        return z >= 0 ? y : -y;
    }

    @Override
    public Tensor quickGelu(Tensor x) {
        float[] xs = x.toFloatArray();
        for (int i = 0; i < xs.length; i++) {
            double v = xs[i];
            xs[i] = (float) (v / (1 + Math.exp(-1.702 * v)));
        }
        return Tensor.of(xs, x.shape().dims());
    }

    @Override
    public Tensor geglu(Tensor x) {
        throw unsupported("geglu");
    }

    @Override
    public Tensor upsampleNearest(Tensor x, int outH, int outW) {
        throw unsupported("upsampleNearest");
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        float[] as = a.toFloatArray();
        float[] bs = b.toFloatArray();
        if (as.length % bs.length != 0) {
            throw new IllegalArgumentException("add: " + a.shape() + " + " + b.shape());
        }
        for (int i = 0; i < as.length; i++) {
            as[i] += bs[i % bs.length];
        }
        return Tensor.of(as, a.shape().dims());
    }

    @Override
    public Tensor mul(Tensor a, Tensor b) {
        throw unsupported("mul");
    }

    @Override
    public Tensor scale(Tensor a, float s) {
        throw unsupported("scale");
    }

    @Override
    public Tensor concatChannels(Tensor a, Tensor b) {
        throw unsupported("concatChannels");
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, float scale, boolean causal) {
        int b = q.dim(0);
        int tq = q.dim(1);
        int tk = k.dim(1);
        int c = q.dim(2);
        int d = c / heads;
        float[] qs = q.toFloatArray();
        float[] ks = k.toFloatArray();
        float[] vs = v.toFloatArray();
        float[] out = new float[b * tq * c];
        double[] p = new double[tk];
        for (int n = 0; n < b; n++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < tq; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    int limit = causal ? Math.min(tk, i + 1) : tk;
                    for (int j = 0; j < limit; j++) {
                        double s = 0;
                        for (int e = 0; e < d; e++) {
                            s += (double) qs[(n * tq + i) * c + h * d + e] * ks[(n * tk + j) * c + h * d + e];
                        }
                        p[j] = s * scale;
                        max = Math.max(max, p[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < limit; j++) {
                        p[j] = Math.exp(p[j] - max);
                        sum += p[j];
                    }
                    for (int e = 0; e < d; e++) {
                        double acc = 0;
                        for (int j = 0; j < limit; j++) {
                            acc += p[j] * vs[(n * tk + j) * c + h * d + e];
                        }
                        out[(n * tq + i) * c + h * d + e] = (float) (acc / sum);
                    }
                }
            }
        }
        return Tensor.of(out, b, tq, c);
    }

    @Override
    public Tensor transpose(Tensor x) {
        return dev.diffusion4j.tensor.cpu.Layout.transpose(dev.diffusion4j.tensor.ComputePool.shared(), x);
    }

    @Override
    public Tensor sliceChannels(Tensor x, int start, int length) {
        return dev.diffusion4j.tensor.cpu.Layout.sliceChannels(x, start, length);
    }
}
