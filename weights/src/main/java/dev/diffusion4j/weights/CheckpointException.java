package dev.diffusion4j.weights;

import java.nio.file.Path;

/** A model folder or checkpoint that cannot be loaded: the message names the path and what is wrong. */
public final class CheckpointException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    /** A problem with {@code path}. */
    public CheckpointException(Path path, String message) {
        super(path + ": " + message);
    }
}
