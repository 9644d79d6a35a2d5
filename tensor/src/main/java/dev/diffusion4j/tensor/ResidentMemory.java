package dev.diffusion4j.tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * This process's resident memory as Linux reports it in {@code /proc/self/status}: what memory budgets (weights
 * mapped or streamed, activations recycled) are measured by. Every method returns -1 where that file is absent or
 * unreadable (other systems).
 */
public final class ResidentMemory {
    private static final Path STATUS = Path.of("/proc/self/status");

    private ResidentMemory() {
    }

    /** Peak resident memory in bytes ({@code VmHWM}). */
    public static long peakBytes() {
        return field("VmHWM:");
    }

    /** Resident memory backed by files, e.g. memory-mapped weights that have been read ({@code RssFile}), in bytes. */
    public static long fileBackedBytes() {
        return field("RssFile:");
    }

    private static long field(String name) {
        try {
            for (String line : Files.readAllLines(STATUS)) {
                if (line.startsWith(name)) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException | SecurityException e) {
            return -1;
        }
        return -1;
    }
}
