/**
 * Tensors, dtypes, the {@link dev.diffusion4j.tensor.Backend} interface and its CPU implementation
 * (Vector API kernels). No model knowledge lives here.
 */
module dev.diffusion4j.tensor {
    requires jdk.incubator.vector;
    // process CPU time for ProfilingBackend
    requires jdk.management;

    exports dev.diffusion4j.tensor;
    exports dev.diffusion4j.tensor.cpu;
}
