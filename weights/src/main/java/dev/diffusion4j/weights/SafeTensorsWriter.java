package dev.diffusion4j.weights;

import dev.diffusion4j.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes a {@code .safetensors} file: an 8-byte little-endian header length, a JSON header padded with spaces
 * to a multiple of 8 bytes (as the reference writer does), then the tensors back to back in the order added.
 * Data is streamed, so files larger than memory can be written with {@link #add(String, SafeTensorsDType, long[], Filler)}.
 */
public final class SafeTensorsWriter {
    /** Produces the bytes of a tensor chunk by chunk (for tensors not held in memory). */
    @FunctionalInterface
    public interface Filler {
        /** Fills {@code chunk} (little-endian) with the tensor's bytes starting at byte {@code offset}. */
        void fill(long offset, MemorySegment chunk);
    }

    private record Item(String name, SafeTensorsDType dtype, long[] shape, long bytes, Filler filler) {
    }

    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int CHUNK = 1 << 24;

    private final List<Item> items = new ArrayList<>();
    private final Set<String> names = new HashSet<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** Adds a {@code __metadata__} entry. */
    public SafeTensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Adds a tensor given its little-endian bytes (copied when the file is written, not now). */
    public SafeTensorsWriter add(String name, SafeTensorsDType dtype, long[] shape, MemorySegment bytes) {
        long n = byteCount(name, dtype, shape);
        if (bytes.byteSize() != n) {
            throw new IllegalArgumentException("add '" + name + "': " + dtype + " " + Arrays.toString(shape) + " needs "
                    + n + " bytes, got " + bytes.byteSize());
        }
        return addItem(new Item(name, dtype, shape.clone(), n,
                (off, chunk) -> MemorySegment.copy(bytes, off, chunk, 0, chunk.byteSize())));
    }

    /** Adds a tensor whose bytes {@code filler} produces while the file is written. */
    public SafeTensorsWriter add(String name, SafeTensorsDType dtype, long[] shape, Filler filler) {
        return addItem(new Item(name, dtype, shape.clone(), byteCount(name, dtype, shape), filler));
    }

    /** Adds an F32 tensor from a float array (copied now). */
    public SafeTensorsWriter addF32(String name, float[] values, long... shape) {
        MemorySegment seg = MemorySegment.ofArray(new byte[Math.multiplyExact(values.length, 4)]);
        for (int i = 0; i < values.length; i++) {
            seg.set(F32_LE, 4L * i, values[i]);
        }
        return add(name, SafeTensorsDType.F32, shape, seg);
    }

    /** Adds an I64 tensor from a long array (copied now). */
    public SafeTensorsWriter addI64(String name, long[] values, long... shape) {
        MemorySegment seg = MemorySegment.ofArray(new byte[Math.multiplyExact(values.length, 8)]);
        ValueLayout.OfLong le = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < values.length; i++) {
            seg.set(le, 8L * i, values[i]);
        }
        return add(name, SafeTensorsDType.I64, shape, seg);
    }

    /** Adds a {@link Tensor} in its own dtype (F32 heap tensors are copied now; segment tensors when written). */
    public SafeTensorsWriter add(String name, Tensor t) {
        long[] shape = Arrays.stream(t.shape().dims()).asLongStream().toArray();
        if (t.isHeap()) {
            float[] a = Arrays.copyOfRange(t.array(), t.offset(), t.offset() + Math.toIntExact(t.numel()));
            return addF32(name, a, shape);
        }
        return add(name, SafeTensorsDType.of(t.dtype()), shape, t.segment());
    }

    private SafeTensorsWriter addItem(Item item) {
        if (item.name().equals("__metadata__")) {
            throw new IllegalArgumentException("add: '__metadata__' is reserved and cannot name a tensor");
        }
        if (!names.add(item.name())) {
            throw new IllegalArgumentException("add: tensor '" + item.name() + "' added twice");
        }
        items.add(item);
        return this;
    }

    private static long byteCount(String name, SafeTensorsDType dtype, long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("add '" + name + "': negative dimension in " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        return Math.multiplyExact(n, (long) dtype.byteSize());
    }

    /** The header JSON (without padding) this writer would produce. */
    String headerJson() {
        StringBuilder b = new StringBuilder("{");
        boolean first = true;
        if (!metadata.isEmpty()) {
            b.append("\"__metadata__\":{");
            boolean f = true;
            for (Map.Entry<String, String> e : metadata.entrySet()) {
                b.append(f ? "" : ",");
                quote(b, e.getKey()).append(':');
                quote(b, e.getValue());
                f = false;
            }
            b.append('}');
            first = false;
        }
        long off = 0;
        for (Item it : items) {
            b.append(first ? "" : ",");
            first = false;
            quote(b, it.name()).append(":{\"dtype\":\"").append(it.dtype().name()).append("\",\"shape\":[");
            for (int i = 0; i < it.shape().length; i++) {
                b.append(i == 0 ? "" : ",").append(it.shape()[i]);
            }
            b.append("],\"data_offsets\":[").append(off).append(',').append(off + it.bytes()).append("]}");
            off += it.bytes();
        }
        return b.append('}').toString();
    }

    private static StringBuilder quote(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"');
    }

    /** Writes the file (replacing an existing one). */
    public void write(Path path) throws IOException {
        byte[] json = headerJson().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
             Arena arena = Arena.ofConfined()) {
            writeFully(ch, head);
            MemorySegment buf = arena.allocate(CHUNK, 64);
            for (Item it : items) {
                for (long off = 0; off < it.bytes(); off += CHUNK) {
                    long n = Math.min(CHUNK, it.bytes() - off);
                    MemorySegment chunk = buf.asSlice(0, n);
                    it.filler().fill(off, chunk);
                    writeFully(ch, chunk.asByteBuffer());
                }
            }
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
