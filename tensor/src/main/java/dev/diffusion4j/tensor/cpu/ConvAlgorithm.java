package dev.diffusion4j.tensor.cpu;

/** How {@link CpuBackend} computes 3×3 convolutions. */
public enum ConvAlgorithm {
    /**
     * Winograd F(4,3) where it was measured to be faster ({@link Winograd#pays}), F(2×2, 3×3) on small maps
     * ({@code WinogradF2}), else the implicit GEMM.
     */
    AUTO,
    /** Always the implicit GEMM of {@link Conv2d} (the reference path; e.g. to compare or rule Winograd out). */
    DIRECT
}
