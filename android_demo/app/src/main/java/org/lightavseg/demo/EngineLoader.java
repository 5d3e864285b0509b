package org.lightavseg.demo;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.nio.ByteBuffer;

import org.lightavseg.core.Engine;
import org.lightavseg.core.Manifest;

/**
 * Finds the LiteRT engine. It lives in src/litert/java and is compiled only by the Gradle build, which has
 * the LiteRT library; an APK built without it says so on screen and runs no model (there is no stand-in
 * that could produce made-up masks).
 */
final class EngineLoader {
    static final String LITERT_ENGINE = "org.lightavseg.demo.litert.LiteRtEngine";
    static final String MISSING = "This APK was built without the LiteRT library, so it cannot run the model.\n"
            + "Build it with Gradle (./gradlew assembleDebug in android_demo/), which adds the pinned LiteRT "
            + "dependency; see android_demo/README.md.";

    private EngineLoader() {
    }

    /** True when the LiteRT engine class is in this APK. */
    static boolean available() {
        try {
            Class.forName(LITERT_ENGINE);
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    /** Creates the engine with the requested delegate ("cpu", "nnapi" or "gpu") and thread count. */
    static Engine create(ByteBuffer model, Manifest manifest, String delegate, int threads) throws Engine.EngineException {
        Class<?> cls;
        try {
            cls = Class.forName(LITERT_ENGINE);
        } catch (ClassNotFoundException e) {
            throw new Engine.EngineException(MISSING);
        }
        try {
            Constructor<?> c = cls.getConstructor(ByteBuffer.class, Manifest.class, String.class, int.class);
            return (Engine) c.newInstance(model, manifest, delegate, threads);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof Engine.EngineException) {
                throw (Engine.EngineException) cause;
            }
            throw new Engine.EngineException("LiteRT could not load the model: " + cause, cause);
        } catch (ReflectiveOperationException e) {
            throw new Engine.EngineException("LiteRT engine class is broken in this build: " + e, e);
        }
    }
}
