package dev.diffusion4j.nn;

import dev.diffusion4j.tensor.Tensor;

/**
 * Receives intermediate outputs of a forward pass by module name (e.g. {@code down_blocks.0.attentions.0}), the
 * names the reference's forward hooks use; for parity tests and debugging.
 */
@FunctionalInterface
public interface Probe {
    /** A probe that ignores everything. */
    Probe NONE = (name, value) -> { };

    /** Called with the output of the module {@code name}. */
    void record(String name, Tensor value);
}
