package org.lightavseg.demo.litert;

import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;

import android.os.Build;
import android.util.Log;

import org.lightavseg.core.DelegateAccounting;
import org.lightavseg.core.DelegateOutcome;
import org.lightavseg.core.Engine;
import org.lightavseg.core.Manifest;
import org.lightavseg.core.TensorBuffers;
import org.lightavseg.core.TensorData;
import org.lightavseg.core.TensorSpec;
import org.lightavseg.demo.BuildConfig;
import org.tensorflow.lite.Delegate;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.TensorFlowLite;
import org.tensorflow.lite.gpu.CompatibilityList;
import org.tensorflow.lite.gpu.GpuDelegate;
import org.tensorflow.lite.nnapi.NnApiDelegate;

/**
 * The Engine backed by LiteRT's Interpreter (Gradle build only; app/build.gradle pins the library).
 * Created by EngineLoader through reflection so the rest of the app builds without LiteRT. Which delegate runs,
 * and how much of the model it took, is decided and counted by core's DelegateAccounting from the
 * interpreter's execution plan; this class only answers its questions with LiteRT calls.
 */
public final class LiteRtEngine implements Engine {
    private static final String TAG = "LightAVSeg";
    private final int threads;
    private final Manifest manifest;
    private final LiteRtBackend backend;
    private final Interpreter interpreter;
    private final DelegateOutcome outcome;
    private final boolean bySignature;
    private final TensorBuffers buffers;

    /** requested: "cpu" (XNNPACK), "nnapi" or "gpu"; a refused or idle accelerator falls back to CPU and says why. */
    public LiteRtEngine(ByteBuffer model, Manifest manifest, String requested, int threads) throws EngineException {
        this.manifest = manifest;
        this.threads = threads;
        this.backend = new LiteRtBackend(model, threads);
        this.outcome = DelegateAccounting.choose(requested, backend);
        this.interpreter = backend.interpreter;
        this.bySignature = interpreter.getSignatureKeys().length > 0;
        // Allocated once: LiteRT reads and writes these direct buffers in place on every run.
        this.buffers = new TensorBuffers(manifest.inputs, manifest.outputs);
        Log.i(TAG, "engine: " + outcome.label() + "; LiteRT " + BuildConfig.LITERT_VERSION + ", interpreter "
                + TensorFlowLite.runtimeVersion());
    }

    /** LiteRT's answers to DelegateAccounting's questions; keeps the interpreter (and delegate) built last. */
    private static final class LiteRtBackend implements DelegateAccounting.Backend {
        private final ByteBuffer model;
        private final int threads;
        Interpreter interpreter;
        Delegate delegate;

        LiteRtBackend(ByteBuffer model, int threads) {
            this.model = model;
            this.threads = threads;
        }

        @Override
        public int sdkInt() {
            return Build.VERSION.SDK_INT;
        }

        @Override
        public boolean gpuSupported() {
            CompatibilityList compat = new CompatibilityList();
            try {
                return compat.isDelegateSupportedOnThisDevice();
            } finally {
                compat.close();
            }
        }

        @Override
        public int operatorCount() {
            Interpreter probe = new Interpreter(model, new Interpreter.Options().setNumThreads(1).setUseXNNPACK(false));
            try {
                return planLength(probe);
            } finally {
                probe.close();
            }
        }

        @Override
        public int build(String accelerator, boolean xnnpack) {
            Interpreter.Options o = new Interpreter.Options().setNumThreads(threads).setUseXNNPACK(xnnpack);
            // Created inside the caller's try: a native init failure of a delegate becomes a CPU fallback.
            if ("gpu".equals(accelerator)) {
                CompatibilityList compat = new CompatibilityList();
                try {
                    delegate = new GpuDelegate(compat.getBestOptionsForThisDevice());
                } finally {
                    compat.close();
                }
            } else if ("nnapi".equals(accelerator)) {
                // The reference CPU device is not an accelerator: without it, "took nothing" shows in the plan.
                delegate = new NnApiDelegate(new NnApiDelegate.Options().setUseNnapiCpu(false));
            }
            if (delegate != null) {
                o.addDelegate(delegate);
            }
            interpreter = new Interpreter(model, o);
            interpreter.allocateTensors();
            return planLength(interpreter);
        }

        @Override
        public void discard() {
            if (interpreter != null) {
                interpreter.close();
                interpreter = null;
            }
            if (delegate instanceof AutoCloseable) {
                try {
                    ((AutoCloseable) delegate).close();
                } catch (Exception ignored) {
                    // Releasing a delegate that failed to initialise has nothing to report.
                }
            }
            delegate = null;
        }

        /** Interpreter.getExecutionPlanLength() is package-private in LiteRT; -1 when it cannot be reached. */
        private static int planLength(Interpreter it) {
            try {
                Method m = Interpreter.class.getDeclaredMethod("getExecutionPlanLength");
                m.setAccessible(true);
                return (Integer) m.invoke(it);
            } catch (ReflectiveOperationException | RuntimeException e) {
                return DelegateOutcome.UNKNOWN;
            }
        }
    }

    @Override
    public Map<String, TensorData> run(Map<String, TensorData> inputs) throws EngineException {
        try {
            Map<String, ByteBuffer> in = buffers.fill(inputs);
            Map<String, ByteBuffer> out = buffers.outputBuffers();
            if (bySignature) {
                Map<String, Object> sin = new HashMap<String, Object>();
                for (TensorSpec s : manifest.inputs) {
                    sin.put(s.artifactName, in.get(s.name));
                }
                Map<String, Object> sout = new HashMap<String, Object>();
                for (TensorSpec s : manifest.outputs) {
                    sout.put(s.artifactName, out.get(s.name));
                }
                interpreter.runSignature(sin, sout);
            } else {
                Object[] ordered = new Object[manifest.inputs.size()];
                for (int i = 0; i < ordered.length; i++) {
                    ordered[i] = in.get(manifest.inputs.get(i).name);
                }
                Map<Integer, Object> outs = new HashMap<Integer, Object>();
                for (int i = 0; i < manifest.outputs.size(); i++) {
                    outs.put(i, out.get(manifest.outputs.get(i).name));
                }
                interpreter.runForMultipleInputsOutputs(ordered, outs);
            }
            return buffers.read();
        } catch (RuntimeException e) {
            throw new EngineException("LiteRT failed to run: " + e.getMessage(), e);
        }
    }

    @Override
    public String delegate() {
        return outcome.label();
    }

    @Override
    public DelegateOutcome delegateOutcome() {
        return outcome;
    }

    /** The LiteRT library's version (pinned in app/build.gradle), not TensorFlowLite.runtimeVersion()'s TF string. */
    @Override
    public String runtime() {
        return "litert-android " + BuildConfig.LITERT_VERSION;
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public void close() {
        backend.discard();
    }
}
