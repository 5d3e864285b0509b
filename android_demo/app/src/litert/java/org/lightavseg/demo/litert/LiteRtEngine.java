package org.lightavseg.demo.litert;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.lightavseg.core.Engine;
import org.lightavseg.core.Manifest;
import org.lightavseg.core.TensorData;
import org.lightavseg.core.TensorSpec;
import org.tensorflow.lite.Delegate;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.TensorFlowLite;
import org.tensorflow.lite.gpu.CompatibilityList;
import org.tensorflow.lite.gpu.GpuDelegate;
import org.tensorflow.lite.nnapi.NnApiDelegate;

/**
 * The Engine backed by LiteRT's Interpreter (Gradle build only; app/build.gradle pins the library).
 * Created by EngineLoader through reflection so the rest of the app builds without LiteRT.
 */
public final class LiteRtEngine implements Engine {
    private final Interpreter interpreter;
    private final Delegate delegateObject;
    private final String delegate;
    private final int threads;
    private final Manifest manifest;
    private final boolean bySignature;

    /** requested: "cpu" (XNNPACK), "nnapi" or "gpu"; a refused accelerator falls back to CPU and says why. */
    public LiteRtEngine(ByteBuffer model, Manifest manifest, String requested, int threads) throws EngineException {
        this.manifest = manifest;
        this.threads = threads;
        String used = "cpu (xnnpack)";
        String note = "";
        Delegate d = null;
        if ("gpu".equals(requested)) {
            CompatibilityList compat = new CompatibilityList();
            if (compat.isDelegateSupportedOnThisDevice()) {
                d = new GpuDelegate(compat.getBestOptionsForThisDevice());
                used = "gpu";
            } else {
                note = " (gpu not supported on this device, fell back)";
            }
        } else if ("nnapi".equals(requested)) {
            d = new NnApiDelegate();
            used = "nnapi";
        }
        Interpreter it;
        try {
            it = new Interpreter(model, options(d));
        } catch (RuntimeException e) {
            if (d == null) {
                throw new EngineException("LiteRT cannot load the model: " + e.getMessage(), e);
            }
            closeDelegate(d);
            d = null;
            note = " (" + used + " refused the model: " + e.getMessage() + "; fell back)";
            used = "cpu (xnnpack)";
            try {
                it = new Interpreter(model, options(null));
            } catch (RuntimeException e2) {
                throw new EngineException("LiteRT cannot load the model: " + e2.getMessage(), e2);
            }
        }
        this.interpreter = it;
        this.delegateObject = d;
        this.delegate = used + note;
        this.bySignature = it.getSignatureKeys().length > 0;
    }

    private Interpreter.Options options(Delegate d) {
        Interpreter.Options o = new Interpreter.Options().setNumThreads(threads).setUseXNNPACK(true);
        if (d != null) {
            o.addDelegate(d);
        }
        return o;
    }

    @Override
    public Map<String, TensorData> run(Map<String, TensorData> inputs) throws EngineException {
        try {
            Map<String, Object> in = new HashMap<String, Object>();
            for (TensorSpec s : manifest.inputs) {
                TensorData t = inputs.get(s.name);
                if (t == null) {
                    throw new EngineException("input " + s.name + " was not given");
                }
                in.put(s.artifactName, toBuffer(t));
            }
            Map<String, ByteBuffer> out = new HashMap<String, ByteBuffer>();
            for (TensorSpec s : manifest.outputs) {
                int bytes = s.elements() * (s.isQuantized() ? 1 : 4);
                out.put(s.artifactName, ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder()));
            }
            if (bySignature) {
                interpreter.runSignature(in, new HashMap<String, Object>(out));
            } else {
                Object[] ordered = new Object[manifest.inputs.size()];
                for (int i = 0; i < ordered.length; i++) {
                    ordered[i] = in.get(manifest.inputs.get(i).artifactName);
                }
                Map<Integer, Object> outs = new HashMap<Integer, Object>();
                List<TensorSpec> specs = manifest.outputs;
                for (int i = 0; i < specs.size(); i++) {
                    outs.put(i, out.get(specs.get(i).artifactName));
                }
                interpreter.runForMultipleInputsOutputs(ordered, outs);
            }
            Map<String, TensorData> result = new HashMap<String, TensorData>();
            for (TensorSpec s : manifest.outputs) {
                ByteBuffer b = out.get(s.artifactName);
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
        } catch (RuntimeException e) {
            throw new EngineException("LiteRT failed to run: " + e.getMessage(), e);
        }
    }

    private static ByteBuffer toBuffer(TensorData t) {
        if (t.bytes != null) {
            ByteBuffer b = ByteBuffer.allocateDirect(t.bytes.length).order(ByteOrder.nativeOrder());
            b.put(t.bytes);
            b.rewind();
            return b;
        }
        ByteBuffer b = ByteBuffer.allocateDirect(4 * t.floats.length).order(ByteOrder.nativeOrder());
        b.asFloatBuffer().put(t.floats);
        return b;
    }

    @Override
    public String delegate() {
        return delegate;
    }

    @Override
    public String runtime() {
        return "litert-android " + TensorFlowLite.runtimeVersion();
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public void close() {
        interpreter.close();
        if (delegateObject != null) {
            closeDelegate(delegateObject);
        }
    }

    private static void closeDelegate(Delegate d) {
        if (d instanceof AutoCloseable) {
            try {
                ((AutoCloseable) d).close();
            } catch (Exception ignored) {
                // Releasing a delegate that failed to initialise has nothing to report.
            }
        }
    }
}
