package dev.diffusion4j.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Tensor;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {
    @TempDir
    Path dir;

    static MemorySegment bytes(int... b) {
        byte[] a = new byte[b.length];
        for (int i = 0; i < b.length; i++) {
            a[i] = (byte) b[i];
        }
        return MemorySegment.ofArray(a);
    }

    static MemorySegment le(int width, long... v) {
        ByteBuffer bb = ByteBuffer.allocate(width * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long x : v) {
            switch (width) {
                case 1 -> bb.put((byte) x);
                case 2 -> bb.putShort((short) x);
                case 4 -> bb.putInt((int) x);
                default -> bb.putLong(x);
            }
        }
        return MemorySegment.ofArray(bb.array());
    }

    @Test
    void writerRoundTripsEveryDtypeAndMetadata() throws IOException {
        Path p = dir.resolve("all.safetensors");
        ByteBuffer f64 = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putDouble(1.5).putDouble(-2.25);
        new SafeTensorsWriter()
                .metadata("format", "pt").metadata("note", "quote \" and \\ and \n")
                .addF32("f32", new float[] {1f, -2f, 3.5f, 0f, 7f, 8f}, 2, 3)
                .add("f64", SafeTensorsDType.F64, new long[] {2}, MemorySegment.ofArray(f64.array()))
                .add("f16", SafeTensorsDType.F16, new long[] {2}, le(2, Float.floatToFloat16(1.5f), Float.floatToFloat16(-0.25f)))
                .add("bf16", SafeTensorsDType.BF16, new long[] {1}, le(2, Float.floatToRawIntBits(3f) >>> 16))
                .addI64("position_ids", new long[] {0, 1, 2, Long.MIN_VALUE}, 1, 4)
                .add("i32", SafeTensorsDType.I32, new long[] {2}, le(4, -7, 123456789))
                .add("i16", SafeTensorsDType.I16, new long[] {1}, le(2, -300))
                .add("i8", SafeTensorsDType.I8, new long[] {2}, bytes(-5, 127))
                .add("u8", SafeTensorsDType.U8, new long[] {2}, bytes(255, 1))
                .add("bool", SafeTensorsDType.BOOL, new long[] {3}, bytes(1, 0, 1))
                // E4M3: 0x38 = 1, 0x7E = 448 (max), 0x7F = NaN, 0x01 = 2^-9 (smallest subnormal), 0xB8 = -1.
                .add("e4m3", SafeTensorsDType.F8_E4M3, new long[] {5}, bytes(0x38, 0x7E, 0x7F, 0x01, 0xB8))
                // E5M2: 0x3C = 1, 0x7C = +inf, 0x01 = 2^-16, 0xC0 = -2.
                .add("e5m2", SafeTensorsDType.F8_E5M2, new long[] {4}, bytes(0x3C, 0x7C, 0x01, 0xC0))
                .add("empty", SafeTensorsDType.F32, new long[] {0, 4}, MemorySegment.ofArray(new byte[0]))
                .add("scalar", SafeTensorsDType.F32, new long[] {}, le(4, Float.floatToRawIntBits(42f)))
                .write(p);
        long headerLen = ByteBuffer.wrap(Files.readAllBytes(p), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLen % 8, "header padded to 8 bytes like the reference writer");
        try (SafeTensors st = SafeTensors.open(p)) {
            assertEquals(List.of("f32", "f64", "f16", "bf16", "position_ids", "i32", "i16", "i8", "u8", "bool", "e4m3",
                    "e5m2", "empty", "scalar"), List.copyOf(st.entries().keySet()));
            assertEquals(Map.of("format", "pt", "note", "quote \" and \\ and \n"), st.metadata());
            Tensor t = st.tensor("f32");
            assertEquals(DType.F32, t.dtype());
            assertArrayEquals(new float[] {1f, -2f, 3.5f, 0f, 7f, 8f}, t.toFloatArray());
            assertArrayEquals(new float[] {1.5f, -2.25f}, st.view("f64").toFloatArray());
            assertArrayEquals(new float[] {1.5f, -0.25f}, st.view("f16").toFloatArray());
            assertEquals(DType.F16, st.tensor("f16").dtype());
            assertEquals(2 * 2, st.tensor("f16").segment().byteSize(), "F16 stays 2 bytes per element");
            assertArrayEquals(new float[] {3f}, st.tensor("bf16").toFloatArray());
            assertArrayEquals(new long[] {0, 1, 2, Long.MIN_VALUE}, st.longs("position_ids"));
            assertArrayEquals(new long[] {-7, 123456789}, st.view("i32").toLongArray());
            assertArrayEquals(new long[] {-300}, st.view("i16").toLongArray());
            assertArrayEquals(new long[] {-5, 127}, st.view("i8").toLongArray());
            assertArrayEquals(new long[] {255, 1}, st.view("u8").toLongArray());
            assertArrayEquals(new float[] {255f, 1f}, st.view("u8").toFloatArray());
            assertArrayEquals(new long[] {1, 0, 1}, st.view("bool").toLongArray());
            float[] e4 = st.view("e4m3").toFloatArray();
            assertEquals(1f, e4[0]);
            assertEquals(448f, e4[1]);
            assertTrue(Float.isNaN(e4[2]));
            assertEquals(0x1p-9f, e4[3]);
            assertEquals(-1f, e4[4]);
            assertArrayEquals(new float[] {1f, Float.POSITIVE_INFINITY, 0x1p-16f, -2f}, st.view("e5m2").toFloatArray());
            assertEquals(0, st.view("empty").numel());
            assertEquals(42f, st.tensor("scalar").getFlat(0));
            Tensor conv = st.tensorF32("i32");
            assertArrayEquals(new float[] {-7f, 123456789f}, conv.toFloatArray());
            SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> st.tensor("i8"));
            assertTrue(e.getMessage().contains("i8") && e.getMessage().contains(p.toString()), e.getMessage());
            assertThrows(SafeTensorsException.class, () -> st.tensor("nope"));
        }
    }

    @Test
    void e4m3TableMatchesDefinition() {
        // Every finite E4M3 value re-encodes to the same bits (checks the whole table, not just a few points).
        int finite = 0;
        for (int b = 0; b < 256; b++) {
            float v = StoredTensor.e4m3ToFloat(b);
            if ((b & 0x7F) == 0x7F) {
                assertTrue(Float.isNaN(v), "byte " + b);
                continue;
            }
            finite++;
            assertTrue(Math.abs(v) <= 448f, "byte " + b + " -> " + v);
            float next = StoredTensor.e4m3ToFloat((b & 0x80) | ((b & 0x7F) + 1));
            if ((b & 0x7F) + 1 < 0x7F) {
                assertTrue(Math.abs(next) > Math.abs(v), "monotone at byte " + b);
            }
        }
        assertEquals(254, finite);
    }

    @Test
    void writerRejectsBadInput() {
        SafeTensorsWriter w = new SafeTensorsWriter().addF32("a", new float[] {1}, 1);
        assertThrows(IllegalArgumentException.class, () -> w.addF32("a", new float[] {1}, 1));
        assertThrows(IllegalArgumentException.class, () -> w.addF32("b", new float[] {1, 2}, 3));
        assertThrows(IllegalArgumentException.class, () -> w.addF32("c", new float[] {}, -1, 0));
        assertThrows(IllegalArgumentException.class, () -> w.addF32("__metadata__", new float[] {1}, 1));
    }

    // ---- bad files ----------------------------------------------------------------------------------------

    /** Writes {@code header} (UTF-8) with a correct length prefix, then {@code dataBytes} zero bytes. */
    Path raw(String name, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path p = dir.resolve(name + ".safetensors");
        Files.write(p, b.array());
        return p;
    }

    static String t(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + ","
                + end + "]}";
    }

    SafeTensorsException bad(Path p, String... mustContain) {
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensors.open(p).close());
        assertTrue(e.getMessage().contains(p.toString()), "names the file: " + e.getMessage());
        for (String s : mustContain) {
            assertTrue(e.getMessage().contains(s), "'" + s + "' in: " + e.getMessage());
        }
        return e;
    }

    @Test
    void headerLengthPastTheEndOrAbsurd() throws IOException {
        Path p = raw("len", "{" + t("w", "F32", "[1]", 0, 4) + "}", 4);
        byte[] all = Files.readAllBytes(p);
        ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).putLong(0, all.length); // past the end
        Files.write(p, all);
        bad(p, "past the end");
        ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).putLong(0, Long.MIN_VALUE); // 2^63
        Files.write(p, all);
        bad(p, "9223372036854775808");
        ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -1L); // 2^64 - 1
        Files.write(p, all);
        bad(p, "18446744073709551615");
        Files.write(p, new byte[] {1, 2, 3});
        bad(p, "too short");
    }

    @Test
    void invalidJson() throws IOException {
        bad(raw("json1", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]", 4), "header");
        bad(raw("json2", "{\"w\":{\"dtype\":F32}}", 4), "'w'");
        bad(raw("json3", "{\"w\" \"x\"}", 4), "expected ':'");
        bad(raw("json4", "{" + t("w", "F32", "[1]", 0, 4) + "} trailing", 4), "after the header");
        bad(raw("json5", "[1,2,3]", 0), "'{'");
        bad(raw("json6", "{" + t("w", "F32", "[1.5]", 0, 4) + "}", 4), "'w'", "not an integer");
        bad(raw("json7", "{" + t("w", "F32", "[99999999999999999999]", 0, 4) + "}", 4), "'w'", "64 bits");
        bad(raw("json8", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "'w'", "data_offsets");
        bad(raw("json9", "{\"__metadata__\":{\"a\":1}," + t("w", "F32", "[1]", 0, 4) + "}", 4), "__metadata__");
        bad(raw("json10", "{\"w\":{\"x\":" + "[".repeat(5000) + "}}", 4), "'w'", "nesting");
        Path utf = dir.resolve("utf.safetensors");
        Files.write(utf, ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putLong(4)
                .put(new byte[] {'{', (byte) 0xC3, (byte) 0x28, '}'}).array());
        bad(utf, "UTF-8");
    }

    @Test
    void unknownDtype() throws IOException {
        bad(raw("dtype", "{" + t("w", "F12", "[1]", 0, 4) + "}", 4), "'w'", "unknown dtype 'F12'");
    }

    @Test
    void shapeTimesDtypeSizeMustMatchByteRange() throws IOException {
        bad(raw("size", "{" + t("w", "F32", "[2,2]", 0, 12) + "}", 16), "'w'", "needs 16 bytes", "give 12");
        bad(raw("size2", "{" + t("w", "F16", "[4294967296,4294967296]", 0, 8) + "}", 8), "'w'", "2^63");
    }

    @Test
    void offsetsOutsideDataOrOverlapping() throws IOException {
        bad(raw("out", "{" + t("w", "F32", "[2]", 4, 12) + "}", 8), "'w'", "past the end of the data area");
        bad(raw("neg", "{" + t("w", "F32", "[1]", -4, 0) + "}", 8), "'w'", "non-negative");
        bad(raw("rev", "{" + t("w", "F32", "[0]", 8, 4) + "}", 8), "'w'", "ordered");
        bad(raw("over", "{" + t("a", "F32", "[2]", 0, 8) + "," + t("b", "F32", "[2]", 4, 12) + "}", 12),
                "'b'", "'a'", "overlap");
    }

    @Test
    void negativeDimension() throws IOException {
        bad(raw("negdim", "{" + t("w", "F32", "[-1,4]", 0, 0) + "}", 0), "'w'", "negative dimension");
    }

    @Test
    void duplicateNames() throws IOException {
        bad(raw("dup", "{" + t("w", "F32", "[1]", 0, 4) + "," + t("w", "F32", "[1]", 4, 8) + "}", 8), "'w'", "twice");
        bad(raw("dupf", "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                "'w'", "twice");
    }

    @Test
    void truncatedFile() throws IOException {
        Path p = dir.resolve("trunc.safetensors");
        new SafeTensorsWriter().addF32("a", new float[16], 16).addF32("b", new float[16], 4, 4).write(p);
        byte[] all = Files.readAllBytes(p);
        Files.write(p, java.util.Arrays.copyOf(all, all.length - 3));
        bad(p, "'b'", "truncated");
        Files.write(p, java.util.Arrays.copyOf(all, 20));
        bad(p, "truncated");
    }

    @Test
    void picklesAreRefusedWithAPointerToSafetensors() throws IOException {
        Path ckpt = dir.resolve("model.ckpt");
        Files.write(ckpt, new byte[] {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0});
        bad(ckpt, "pickle", "safetensors");
        Path disguised = dir.resolve("disguised.safetensors");
        Files.write(disguised, new byte[] {(byte) 0x80, 2, '}', 'q', 0, 0, 0, 0, 0, 0});
        bad(disguised, "pickle");
    }

    @Test
    void filesAndTensorsLargerThan2GiB() throws IOException {
        // Sparse file: a 2.5 GiB U8 tensor, then an F32 tensor whose offsets lie past 2^31.
        long big = 2_500_000_000L;
        String header = "{" + t("big", "U8", "[" + big + "]", 0, big) + "," + t("tail", "F32", "[2]", big, big + 8) + "}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        Path p = dir.resolve("big.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            ByteBuffer b = ByteBuffer.allocate(8 + h.length).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h);
            f.write(b.array());
            long base = 8 + h.length;
            f.seek(base + big - 1);
            f.write(7);
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1.25f).putFloat(-3f).array());
        }
        try (SafeTensors st = SafeTensors.open(p)) {
            StoredTensor v = st.view("big");
            assertEquals(big, v.byteSize());
            assertEquals(7, v.getLong(big - 1));
            assertEquals(0, v.getLong(big / 2));
            float[] chunk = new float[4];
            v.copyToFloats(big - 4, chunk, 0, 4);
            assertArrayEquals(new float[] {0, 0, 0, 7}, chunk);
            assertThrows(IllegalArgumentException.class, v::toFloatArray, "more than one Java array");
            assertArrayEquals(new float[] {1.25f, -3f}, st.tensor("tail").toFloatArray());
            assertEquals(big, st.bytes("tail").address() - st.bytes("big").address());
            assertEquals(1.25f, st.view("tail").bytes().get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0));
        }
    }
}
