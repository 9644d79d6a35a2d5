package dev.diffusion4j.tensor.cpu;

/**
 * Per-thread scratch arrays of a kernel, grown on demand and kept: packing buffers are reused by every call a thread
 * makes instead of being allocated per call. Each kernel class owns its own set, so kernels never share a buffer.
 */
final class ThreadBuffers {
    private final ThreadLocal<float[][]> buffers;

    /** {@code count} independent buffers per thread. */
    ThreadBuffers(int count) {
        this.buffers = ThreadLocal.withInitial(() -> new float[count][]);
    }

    /** This thread's buffer {@code which}, at least {@code size} long (contents undefined). */
    float[] get(int which, int size) {
        float[][] bufs = buffers.get();
        float[] buf = bufs[which];
        if (buf == null || buf.length < size) {
            buf = new float[size];
            bufs[which] = buf;
        }
        return buf;
    }
}
