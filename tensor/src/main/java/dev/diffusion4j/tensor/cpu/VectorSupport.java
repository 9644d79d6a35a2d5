package dev.diffusion4j.tensor.cpu;

/** Checks that the incubating Vector API is present before any kernel class touches it. */
public final class VectorSupport {
    /** The message shown when the JVM was started without the Vector API module. */
    public static final String MISSING_MESSAGE = "diffusion4j needs the incubating Vector API: start the JVM with "
            + "--add-modules jdk.incubator.vector (JDK 25 or newer)";

    private VectorSupport() {
    }

    /** True when {@code jdk.incubator.vector} is resolved in this JVM. */
    public static boolean available() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }

    /** Throws {@link IllegalStateException} with {@link #MISSING_MESSAGE} when the Vector API is absent. */
    public static void requireVectorApi() {
        if (!available()) {
            throw new IllegalStateException(MISSING_MESSAGE);
        }
    }
}
