package org.lightavseg.core;

/**
 * The live audio the camera thread reads: a microphone while one is attached, silence otherwise. The activity
 * attaches and detaches from the UI thread; reading the microphone reference once per window means a detach
 * in between can never leave the camera thread with a null (the old code read the field twice).
 */
public final class AudioFeed {
    private volatile MicLoop mic;

    public void attach(MicLoop m) {
        mic = m;
    }

    /** Detaches and returns the microphone that was attached (to stop it), or null. */
    public MicLoop detach() {
        MicLoop m = mic;
        mic = null;
        return m;
    }

    /** The last n samples from the microphone, or n zeros without one. */
    public float[] window(int n) {
        MicLoop m = mic;
        return m != null ? m.snapshot(n) : new float[n];
    }

    /** The microphone's message for the screen, or null. */
    public String message() {
        MicLoop m = mic;
        return m == null ? null : m.message();
    }
}
