package dev.diffusion4j.weights;

import dev.diffusion4j.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A memory-mapped {@code .safetensors} file. Tensors are views into the mapping (nothing is copied) and
 * stay valid until {@link #close()}, which unmaps the file. Files and single tensors above 2 GiB work.
 *
 * <p>The header is checked completely when the file is opened: a malformed or crafted file gives one
 * {@link SafeTensorsException} naming the file and, where it applies, the tensor; never a JVM crash or an
 * {@code OutOfMemoryError} (the header is limited to {@value #MAX_HEADER_BYTES} bytes, as in the reference).
 */
public final class SafeTensors implements AutoCloseable {
    /** Largest header accepted, the reference implementation's limit. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    /** Where one tensor lies in the file: {@code [begin, end)} relative to the data area. */
    public record Entry(String name, String dtype, long[] shape, long begin, long end) {
        /** The element type. */
        public SafeTensorsDType type() {
            return SafeTensorsDType.parse(dtype).orElseThrow();
        }

        /** Number of elements. */
        public long numel() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        /** Number of bytes. */
        public long byteSize() {
            return end - begin;
        }
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

    /**
     * Maps and parses {@code path}.
     *
     * @throws SafeTensorsException if the file is not a valid safetensors file (or is a pickle checkpoint)
     * @throws IOException if it cannot be read
     */
    public static SafeTensors open(Path path) throws IOException {
        rejectPickleByName(path);
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new SafeTensorsException(path, "file of " + size + " bytes is too short for a safetensors header");
            }
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            rejectPickleByContent(path, file);
            long headerLen = file.get(I64_LE, 0);
            if (headerLen < 2 || headerLen > MAX_HEADER_BYTES) {
                throw new SafeTensorsException(path, "header length " + Long.toUnsignedString(headerLen)
                        + " is not plausible (must be 2.." + MAX_HEADER_BYTES + "); not a safetensors file?");
            }
            if (headerLen > size - 8) {
                throw new SafeTensorsException(path, "header length " + headerLen + " runs past the end of a file of "
                        + size + " bytes (truncated?)");
            }
            byte[] header = file.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
            if (header[0] != '{') {
                throw new SafeTensorsException(path, "header does not start with '{'; not a safetensors file?");
            }
            MemorySegment data = file.asSlice(8 + headerLen);
            HeaderParser.Header h = HeaderParser.parse(path, header);
            Map<String, Entry> entries = validate(path, h.entries(), data.byteSize());
            return new SafeTensors(path, arena, data, entries, Collections.unmodifiableMap(h.metadata()));
        } catch (IOException | RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    private static Map<String, Entry> validate(Path path, List<HeaderParser.RawEntry> raw, long dataSize) {
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (HeaderParser.RawEntry r : raw) {
            String where = "tensor '" + r.name() + "': ";
            SafeTensorsDType t = SafeTensorsDType.parse(r.dtype()).orElseThrow(() -> new SafeTensorsException(path,
                    where + "unknown dtype '" + r.dtype() + "' (known: " + Arrays.toString(SafeTensorsDType.values()) + ")"));
            long numel = 1;
            long bytes;
            try {
                for (long d : r.shape()) {
                    numel = Math.multiplyExact(numel, d);
                }
                bytes = Math.multiplyExact(numel, (long) t.byteSize());
            } catch (ArithmeticException e) {
                throw new SafeTensorsException(path, where + "shape " + Arrays.toString(r.shape())
                        + " has more elements than 2^63");
            }
            if (r.begin() < 0 || r.end() < r.begin()) {
                throw new SafeTensorsException(path, where + "data_offsets [" + r.begin() + ", " + r.end()
                        + "] are not an ordered pair of non-negative offsets");
            }
            if (r.end() - r.begin() != bytes) {
                throw new SafeTensorsException(path, where + t + " " + Arrays.toString(r.shape()) + " needs " + bytes
                        + " bytes, data_offsets [" + r.begin() + ", " + r.end() + "] give " + (r.end() - r.begin()));
            }
            if (r.end() > dataSize) {
                throw new SafeTensorsException(path, where + "data_offsets [" + r.begin() + ", " + r.end()
                        + "] run past the end of the data area of " + dataSize + " bytes (truncated file?)");
            }
            entries.put(r.name(), new Entry(r.name(), r.dtype(), r.shape(), r.begin(), r.end()));
        }
        // Overlap: sorted by start, each non-empty tensor must begin at or after the previous one's end.
        List<Entry> sorted = new ArrayList<>(entries.values());
        sorted.removeIf(e -> e.byteSize() == 0);
        sorted.sort(Comparator.comparingLong(Entry::begin));
        for (int i = 1; i < sorted.size(); i++) {
            Entry a = sorted.get(i - 1);
            Entry b = sorted.get(i);
            if (b.begin() < a.end()) {
                throw new SafeTensorsException(path, "tensor '" + b.name() + "': data_offsets [" + b.begin() + ", "
                        + b.end() + "] overlap those of tensor '" + a.name() + "' [" + a.begin() + ", " + a.end() + "]");
            }
        }
        return Collections.unmodifiableMap(entries);
    }

    /** True for the file names of PyTorch pickle checkpoints, which this engine never unpickles. */
    static boolean isPickleName(Path path) {
        String n = path.getFileName() == null ? "" : path.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".ckpt") || n.endsWith(".pt") || n.endsWith(".pth") || n.endsWith(".bin")
                || n.endsWith(".pkl") || n.endsWith(".pickle");
    }

    static SafeTensorsException pickleError(Path path) {
        return new SafeTensorsException(path, "is a PyTorch pickle checkpoint; pickles are never unpickled (they can"
                + " run arbitrary code). Convert it to .safetensors first (e.g. with the safetensors 'convert' tool"
                + " or torch.load + safetensors.torch.save_file in a trusted environment)");
    }

    private static void rejectPickleByName(Path path) {
        if (isPickleName(path) && Files.isRegularFile(path)) {
            throw pickleError(path);
        }
    }

    private static void rejectPickleByContent(Path path, MemorySegment file) {
        byte b0 = file.get(ValueLayout.JAVA_BYTE, 0);
        byte b1 = file.get(ValueLayout.JAVA_BYTE, 1);
        boolean zip = b0 == 'P' && b1 == 'K'; // torch.save's zip container
        boolean pickle = (b0 & 0xFF) == 0x80 && b1 >= 2 && b1 <= 5; // PROTO opcode of a raw pickle
        if (zip || pickle) {
            throw pickleError(path);
        }
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

    /** Tensor {@code name}, any dtype, as a typed zero-copy view converting to float32 on demand. */
    public StoredTensor view(String name) {
        Entry e = entry(name);
        return new StoredTensor(path, name, e.type(), e.shape(), bytes(name));
    }

    /** Tensor {@code name} (F32, F16 or BF16) as a {@link Tensor} view into the mapping. */
    public Tensor tensor(String name) {
        return view(name).view();
    }

    /** Tensor {@code name} of any floating-point or integer dtype, converted to a new F32 heap tensor. */
    public Tensor tensorF32(String name) {
        return view(name).toF32();
    }

    /** Tensor {@code name} of dtype I64 as a long array. */
    public long[] longs(String name) {
        Entry e = entry(name);
        if (!e.dtype().equals("I64")) {
            throw new SafeTensorsException(path, "tensor '" + name + "' has dtype " + e.dtype() + ", expected I64");
        }
        return view(name).toLongArray();
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
