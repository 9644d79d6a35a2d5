package dev.diffusion4j.nn;

import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import dev.diffusion4j.weights.SafeTensors;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Named weights of one model component, by diffusers key (e.g. {@code down_blocks.0.resnets.0.conv1.weight}).
 * Models look every weight up here once, at construction, and check its shape against their config.
 */
public interface StateDict {
    /** The tensor stored under {@code key}, or null when there is none. */
    Tensor find(String key);

    /** Where the weights come from, for error messages (e.g. a file name). */
    String source();

    /** Every key present. */
    Set<String> keys();

    /** The tensor under {@code key}; an {@link IllegalArgumentException} naming the key when it is missing. */
    default Tensor get(String key) {
        Tensor t = find(key);
        if (t == null) {
            throw new IllegalArgumentException(source() + ": missing weight '" + key + "'");
        }
        return t;
    }

    /** The tensor under {@code key}, checked to have exactly the shape {@code dims}. */
    default Tensor get(String key, int... dims) {
        Tensor t = get(key);
        if (!t.shape().equals(Shape.of(dims))) {
            throw new IllegalArgumentException(source() + ": weight '" + key + "' has shape " + t.shape()
                    + ", the config expects " + Arrays.toString(dims));
        }
        return t;
    }

    /** The weights under {@code prefix + "."}, with that prefix removed from their keys. */
    default StateDict prefixed(String prefix) {
        StateDict parent = this;
        String p = prefix + ".";
        return new StateDict() {
            @Override
            public Tensor find(String key) {
                return parent.find(p + key);
            }

            @Override
            public Tensor get(String key, int... dims) {
                return parent.get(p + key, dims);
            }

            @Override
            public String source() {
                return parent.source();
            }

            @Override
            public Set<String> keys() {
                Set<String> out = new TreeSet<>();
                for (String k : parent.keys()) {
                    if (k.startsWith(p)) {
                        out.add(k.substring(p.length()));
                    }
                }
                return out;
            }
        };
    }

    /**
     * These weights with some replaced (keys of {@code overrides} must be keys of this state dict): a LoRA merge or
     * a quantisation makes new tensors for some keys and reads the rest where they are.
     *
     * @param note what the replacement is, appended to {@link #source()} for error messages
     */
    default StateDict overlay(java.util.Map<String, Tensor> overrides, String note) {
        StateDict base = this;
        java.util.Map<String, Tensor> o = java.util.Map.copyOf(overrides);
        return new StateDict() {
            @Override
            public Tensor find(String key) {
                Tensor t = o.get(key);
                return t != null ? t : base.find(key);
            }

            @Override
            public String source() {
                return base.source() + " " + note;
            }

            @Override
            public Set<String> keys() {
                return base.keys();
            }
        };
    }

    /**
     * Weights made the first time a model asks for them, with the shape it asks for ({@code maker(key, dims)}), and
     * kept: how benchmarks and tests build a model of any configuration from random or synthetic weights. Not
     * thread-safe (models look their weights up once, at construction).
     */
    static StateDict madeOnDemand(String source, java.util.function.BiFunction<String, int[], Tensor> maker) {
        java.util.Map<String, Tensor> made = new java.util.HashMap<>();
        return new StateDict() {
            @Override
            public Tensor find(String key) {
                return made.get(key);
            }

            @Override
            public String source() {
                return source;
            }

            @Override
            public Set<String> keys() {
                return made.keySet();
            }

            @Override
            public Tensor get(String key, int... dims) {
                // Made to be kept: never from a TensorScope's recycled storage.
                return made.computeIfAbsent(key, k -> TensorScope.unscoped(() -> maker.apply(k, dims.clone())));
            }
        };
    }

    /** The tensors of one or more safetensors files (e.g. the shards of one component), looked up in order. */
    static StateDict of(List<SafeTensors> files) {
        List<SafeTensors> list = List.copyOf(files);
        return new StateDict() {
            @Override
            public Tensor find(String key) {
                for (SafeTensors f : list) {
                    if (f.contains(key)) {
                        return f.tensor(key);
                    }
                }
                return null;
            }

            @Override
            public String source() {
                return list.size() == 1 ? list.get(0).path().toString() : list.get(0).path().getParent() + " (" + list.size() + " files)";
            }

            @Override
            public Set<String> keys() {
                Set<String> out = new TreeSet<>();
                list.forEach(f -> out.addAll(f.entries().keySet()));
                return out;
            }
        };
    }
}
