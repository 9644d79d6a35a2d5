package dev.diffusion4j.weights;

import com.fasterxml.jackson.jr.ob.JSON;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A memory-mapped {@code .safetensors} file. Tensors are views into the mapping (nothing is copied) and
 * stay valid until {@link #close()}, which unmaps the file.
 */
public final class SafeTensors implements AutoCloseable {
    /** Where one tensor lies in the file. */
    public record Entry(String name, String dtype, long[] shape, long begin, long end) {
    }

    private static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafeTensors(Path path, Arena arena, MemorySegment data, Map<String, Entry> entries, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.entries = entries;
        this.metadata = metadata;
    }

    /** Maps and parses {@code path}. */
    public static SafeTensors open(Path path) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new SafeTensorsException(path, "file of " + size + " bytes is too short for a safetensors header");
            }
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long headerLen = file.get(I64_LE, 0);
            if (headerLen < 2 || headerLen > size - 8 || headerLen > 100_000_000L) {
                throw new SafeTensorsException(path, "header length " + Long.toUnsignedString(headerLen)
                        + " does not fit a file of " + size + " bytes");
            }
            byte[] header = file.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
            MemorySegment data = file.asSlice(8 + headerLen);
            Map<String, Object> json;
            try {
                json = JSON.std.mapFrom(new String(header, StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new SafeTensorsException(path, "header is not valid JSON: " + e.getMessage());
            }
            Map<String, Entry> entries = new LinkedHashMap<>();
            Map<String, String> metadata = Map.of();
            for (Map.Entry<String, Object> e : json.entrySet()) {
                if (e.getKey().equals("__metadata__")) {
                    metadata = parseMetadata(path, e.getValue());
                    continue;
                }
                entries.put(e.getKey(), parseEntry(path, e.getKey(), e.getValue(), data.byteSize()));
            }
            return new SafeTensors(path, arena, data, Collections.unmodifiableMap(entries), metadata);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Map<String, String> parseMetadata(Path path, Object value) {
        if (!(value instanceof Map<?, ?> m)) {
            throw new SafeTensorsException(path, "__metadata__ is not a JSON object");
        }
        Map<String, String> out = new LinkedHashMap<>();
        m.forEach((k, v) -> out.put(String.valueOf(k), String.valueOf(v)));
        return Collections.unmodifiableMap(out);
    }

    private static Entry parseEntry(Path path, String name, Object value, long dataSize) {
        if (!(value instanceof Map<?, ?> m) || !(m.get("dtype") instanceof String dtype)
                || !(m.get("shape") instanceof List<?> shapeList) || !(m.get("data_offsets") instanceof List<?> offs)
                || offs.size() != 2) {
            throw new SafeTensorsException(path, "tensor '" + name + "': entry needs dtype, shape and two data_offsets");
        }
        long[] shape = new long[shapeList.size()];
        for (int i = 0; i < shape.length; i++) {
            if (!(shapeList.get(i) instanceof Number n) || n.longValue() < 0) {
                throw new SafeTensorsException(path, "tensor '" + name + "': bad dimension " + shapeList.get(i));
            }
            shape[i] = n.longValue();
        }
        if (!(offs.get(0) instanceof Number b) || !(offs.get(1) instanceof Number en)) {
            throw new SafeTensorsException(path, "tensor '" + name + "': data_offsets are not numbers");
        }
        long begin = b.longValue();
        long end = en.longValue();
        if (begin < 0 || end < begin || end > dataSize) {
            throw new SafeTensorsException(path, "tensor '" + name + "': data_offsets [" + begin + ", " + end
                    + "] outside the data area of " + dataSize + " bytes");
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    /** The file this was read from. */
    public Path path() {
        return path;
    }

    /** The tensor entries in file (header) order. */
    public Map<String, Entry> entries() {
        return entries;
    }

    /** The {@code __metadata__} strings (empty if absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** True when the file has a tensor called {@code name}. */
    public boolean contains(String name) {
        return entries.containsKey(name);
    }

    /** The raw bytes of tensor {@code name} (a view into the mapping). */
    public MemorySegment bytes(String name) {
        Entry e = entry(name);
        return data.asSlice(e.begin(), e.end() - e.begin());
    }

    /** Tensor {@code name} (F32, F16 or BF16) as a view into the mapping. */
    public Tensor tensor(String name) {
        Entry e = entry(name);
        DType dt = switch (e.dtype()) {
            case "F32" -> DType.F32;
            case "F16" -> DType.F16;
            case "BF16" -> DType.BF16;
            default -> throw new SafeTensorsException(path, "tensor '" + name + "' has dtype " + e.dtype()
                    + ", not a floating-point dtype a Tensor holds (F32, F16, BF16)");
        };
        int[] dims = new int[e.shape().length];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = Math.toIntExact(e.shape()[i]);
        }
        Shape shape = Shape.of(dims);
        long bytes = shape.numel() * dt.byteSize();
        if (bytes != e.end() - e.begin()) {
            throw new SafeTensorsException(path, "tensor '" + name + "': " + dt + " " + shape + " needs " + bytes
                    + " bytes, data_offsets give " + (e.end() - e.begin()));
        }
        return Tensor.wrap(bytes(name), dt, shape);
    }

    /** Tensor {@code name} of dtype I64 as a long array. */
    public long[] longs(String name) {
        Entry e = entry(name);
        if (!e.dtype().equals("I64")) {
            throw new SafeTensorsException(path, "tensor '" + name + "' has dtype " + e.dtype() + ", expected I64");
        }
        MemorySegment seg = bytes(name);
        long[] out = new long[Math.toIntExact(seg.byteSize() / 8)];
        for (int i = 0; i < out.length; i++) {
            out[i] = seg.get(I64_LE, 8L * i);
        }
        return out;
    }

    private Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new SafeTensorsException(path, "no tensor named '" + name + "'");
        }
        return e;
    }

    @Override
    public void close() {
        arena.close();
    }
}
