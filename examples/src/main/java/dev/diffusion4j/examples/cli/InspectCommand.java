package dev.diffusion4j.examples.cli;

import dev.diffusion4j.weights.Checkpoint;
import dev.diffusion4j.weights.SafeTensors;
import dev.diffusion4j.weights.SafeTensorsDType;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sd inspect FILE|DIR}: layout, family, tensor statistics and the key report of a model. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Show the layout and family of a model folder or safetensors file, its tensor count, parameters"
                + " and bytes per dtype, and which keys are unused, ignored or missing.")
final class InspectCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE|DIR|REPO", description = "A diffusers folder, component folder or "
            + ".safetensors file, or a Hugging Face repo id (org/name[@revision]), downloaded into the Hugging Face cache.")
    Path path;

    @Option(names = "--tensors", description = "List every tensor (name, dtype, shape) in file order.")
    boolean tensors;

    @Option(names = "--variant", paramLabel = "NAME", description = "Weights variant of a diffusers folder, e.g. fp16.")
    String variant;

    @Option(names = "--all-keys", description = "List every unused, ignored and missing key (default: the first "
            + LIMIT + " of each).")
    boolean allKeys;

    @Spec
    CommandSpec spec;

    private static final int LIMIT = 30;

    private static final class Stat {
        long tensors;
        long params;
        long bytes;
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (Checkpoint ck = Checkpoint.open(HubModels.pipeline(path, variant, err), new Checkpoint.Options(variant, true))) {
            print(out, ck);
            out.flush();
            return 0;
        } catch (IOException | IllegalArgumentException | UnsupportedOperationException e) {
            // One line saying what is wrong (our exceptions already name the file and the tensor).
            String msg = e.getMessage() == null ? e.toString() : e.getMessage().replace('\n', ' ');
            if (e instanceof java.nio.file.NoSuchFileException) {
                msg = path + ": no such file";
            }
            err.println("sd inspect: " + msg);
            err.flush();
            return 1;
        }
    }

    private void list(PrintWriter out, java.util.List<String> lines) {
        int n = allKeys ? lines.size() : Math.min(LIMIT, lines.size());
        lines.subList(0, n).forEach(out::println);
        if (n < lines.size()) {
            out.println("  ... and " + (lines.size() - n) + " more (--all-keys lists them)");
        }
    }

    private void print(PrintWriter out, Checkpoint ck) {
        out.println("path: " + ck.source());
        out.print(ck.describe());
        Map<SafeTensorsDType, Stat> stats = new EnumMap<>(SafeTensorsDType.class);
        long count = 0;
        for (SafeTensors f : ck.files()) {
            for (SafeTensors.Entry e : f.entries().values()) {
                Stat s = stats.computeIfAbsent(e.type(), t -> new Stat());
                s.tensors++;
                s.params += e.numel();
                s.bytes += e.byteSize();
                count++;
            }
        }
        out.println("files: " + ck.files().size());
        out.println("tensors: " + count);
        out.println(String.format(Locale.ROOT, "%-8s %8s %16s %16s", "dtype", "tensors", "parameters", "bytes"));
        Stat total = new Stat();
        for (Map.Entry<SafeTensorsDType, Stat> e : stats.entrySet()) {
            Stat s = e.getValue();
            out.println(String.format(Locale.ROOT, "%-8s %8d %16d %16d", e.getKey(), s.tensors, s.params, s.bytes));
            total.tensors += s.tensors;
            total.params += s.params;
            total.bytes += s.bytes;
        }
        out.println(String.format(Locale.ROOT, "%-8s %8d %16d %16d", "total", total.tensors, total.params, total.bytes));
        Checkpoint.KeyReport r = ck.report();
        out.println("unused keys: " + r.unused().size());
        list(out, r.unused().stream().map(n -> "  unused  " + n.key() + " (" + n.reason() + ")").toList());
        out.println("ignored keys: " + r.ignored().size());
        list(out, r.ignored().stream().map(n -> "  ignored " + n.key() + " (" + n.reason() + ")").toList());
        out.println("missing keys: " + r.missing().size());
        list(out, r.missing().stream().map(k -> "  missing " + k).toList());
        r.notes().forEach(n -> out.println("note: " + n));
        if (tensors) {
            for (SafeTensors f : ck.files()) {
                out.println("== " + f.path());
                for (SafeTensors.Entry e : f.entries().values()) {
                    out.println(e.name() + " " + e.dtype() + " " + Arrays.toString(e.shape()));
                }
            }
        }
    }
}
