package dev.diffusion4j.weights;

import java.nio.file.Path;

/** A safetensors file that cannot be read: the message names the file and, where known, the tensor. */
public final class SafeTensorsException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;

    /** A problem with {@code file}, described by {@code message}. */
    public SafeTensorsException(Path file, String message) {
        super(file + ": " + message);
        this.file = file;
    }

    /** The file that could not be read. */
    public Path file() {
        return file;
    }
}
