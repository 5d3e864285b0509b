package org.lightavseg.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Direct, native-order buffers for a model's inputs and outputs, allocated once from the manifest and reused by
 * every run: allocating inside the timed region would time the allocator and the GC, not the model.
 */
public final class TensorBuffers {
    private final List<TensorSpec> inputs;
    private final List<TensorSpec> outputs;
    private final Map<String, ByteBuffer> in = new HashMap<String, ByteBuffer>();
    private final Map<String, ByteBuffer> out = new HashMap<String, ByteBuffer>();
    private int allocations;

    public TensorBuffers(List<TensorSpec> inputs, List<TensorSpec> outputs) {
        this.inputs = inputs;
        this.outputs = outputs;
        for (TensorSpec s : inputs) {
            in.put(s.name, allocate(s));
        }
        for (TensorSpec s : outputs) {
            out.put(s.name, allocate(s));
        }
    }

    private ByteBuffer allocate(TensorSpec s) {
        allocations++;
        return ByteBuffer.allocateDirect(s.elements() * (s.isQuantized() ? 1 : 4)).order(ByteOrder.nativeOrder());
    }

    /** How many buffers were ever allocated (constant after construction). */
    public int allocations() {
        return allocations;
    }

    /** Copies the inputs into their buffers; returns them keyed by logical name, rewound. */
    public Map<String, ByteBuffer> fill(Map<String, TensorData> values) throws Engine.EngineException {
        for (TensorSpec s : inputs) {
            TensorData t = values.get(s.name);
            if (t == null) {
                throw new Engine.EngineException("input " + s.name + " was not given");
            }
            ByteBuffer b = in.get(s.name);
            b.clear();
            if (t.bytes != null) {
                b.put(t.bytes);
            } else {
                b.asFloatBuffer().put(t.floats);
            }
            b.rewind();
        }
        return in;
    }

    /** The output buffers, rewound, for the interpreter to write into. */
    public Map<String, ByteBuffer> outputBuffers() {
        for (ByteBuffer b : out.values()) {
            b.clear();
        }
        return out;
    }

    /** Copies the outputs out of their buffers into new arrays (the caller keeps them past the next run). */
    public Map<String, TensorData> read() {
        Map<String, TensorData> result = new HashMap<String, TensorData>();
        for (TensorSpec s : outputs) {
            ByteBuffer b = out.get(s.name);
            b.rewind();
            if (s.isQuantized()) {
                byte[] v = new byte[s.elements()];
                b.get(v);
                result.put(s.name, TensorData.ofBytes(s, v));
            } else {
                float[] v = new float[s.elements()];
                b.asFloatBuffer().get(v);
                result.put(s.name, TensorData.ofFloats(s, v));
            }
        }
        return result;
    }
}
