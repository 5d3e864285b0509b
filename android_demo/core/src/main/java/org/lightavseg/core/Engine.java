package org.lightavseg.core;

import java.io.Closeable;
import java.util.Map;

/**
 * The one interface between the app and an inference library (LiteRT on Android).
 *
 * Tensors are keyed by their logical manifest name and already in the artifact's dtype and layout:
 * quantization and layout conversion happen in Segmenter, driven by the manifest, never in an engine.
 */
public interface Engine extends Closeable {
    /** Runs the model once. */
    Map<String, TensorData> run(Map<String, TensorData> inputs) throws EngineException;

    /** The delegate that actually runs the model, with the fallback reason if one was refused (for the screen). */
    String delegate();

    /** Requested / applied / operators delegated / fallback, counted from what the interpreter reports. */
    DelegateOutcome delegateOutcome();

    /** Runtime name and the inference library's own version, e.g. "litert-android 1.4.2". */
    String runtime();

    /** Number of CPU threads the engine uses. */
    int threads();

    /** Thrown when an engine cannot be created or fails to run. */
    final class EngineException extends Exception {
        public EngineException(String message, Throwable cause) {
            super(message, cause);
        }

        public EngineException(String message) {
            super(message);
        }
    }
}
