package org.lightavseg.core;

/**
 * The microphone's state machine, without Android: start (checked), the read loop (errors, back-off when
 * nothing comes, silence detection) and the message the screen shows. The app's MicRecorder wraps an
 * AudioRecord in Source; tests drive it with a fake.
 */
public final class MicLoop {
    /** AudioRecord's read() error codes (android.media.AudioRecord / AudioManager). */
    public static final int ERROR = -1;
    public static final int ERROR_BAD_VALUE = -2;
    public static final int ERROR_INVALID_OPERATION = -3;
    public static final int ERROR_DEAD_OBJECT = -6;
    /** Back-off after a read that delivered nothing: doubles from MIN to MAX ms, so a dead mic is no busy loop. */
    public static final long BACKOFF_MIN_MS = 5;
    public static final long BACKOFF_MAX_MS = 200;
    /** Consecutive failed reads before the loop gives up. */
    public static final int MAX_ERRORS = 20;
    /** Seconds of all-zero samples (Android silences a mic another app holds) before the screen says so. */
    public static final double SILENCE_SECONDS = 2.0;

    public interface Source {
        /** Starts recording; throws if the platform refuses. */
        void start() throws Exception;

        /** Whether the platform reports it is recording (AudioRecord.getRecordingState()). */
        boolean recording();

        /** Reads up to n samples; returns the count, 0 for nothing yet, or a negative AudioRecord error code. */
        int read(short[] buf, int n);

        void stop();

        void release();
    }

    public interface Sleeper {
        void sleep(long ms) throws InterruptedException;
    }

    public enum State { IDLE, RUNNING, FAILED, STOPPED }

    private final Source source;
    private final Sleeper sleeper;
    private final int sampleRate;
    private final float int16Scale;
    private final float[] ring;
    private final short[] buf;
    private int written;
    private volatile State state = State.IDLE;
    private volatile String message;
    private long backoff;
    private int errors;
    private long zeroSamples;
    private boolean looping;
    private boolean released;

    public MicLoop(Source source, Sleeper sleeper, int sampleRate, double int16Scale, int capacitySamples) {
        this.source = source;
        this.sleeper = sleeper;
        this.sampleRate = sampleRate;
        this.int16Scale = (float) int16Scale;
        this.ring = new float[capacitySamples];
        this.buf = new short[Math.max(1, sampleRate / 50)];
    }

    public State state() {
        return state;
    }

    /** What the screen should say about the microphone, or null when it delivers sound. */
    public String message() {
        return message;
    }

    /** Starts the source; returns null, or the one-line reason it did not start (the source is released then). */
    public String start() {
        String why = null;
        try {
            source.start();
            if (!source.recording()) {
                why = "the microphone did not start recording (another app may be using it)";
            }
        } catch (Exception e) {
            why = "the microphone did not start: " + e.getMessage();
        }
        if (why != null) {
            released = true;
            source.release();
            state = State.FAILED;
            message = why;
            return why;
        }
        state = State.RUNNING;
        return null;
    }

    /** One read; returns false when the loop should end (stopped, or the microphone failed for good). */
    public boolean step() throws InterruptedException {
        if (state != State.RUNNING) {
            return false;
        }
        int n = source.read(buf, buf.length);
        if (n > 0) {
            errors = 0;
            backoff = 0;
            append(buf, n);
            return true;
        }
        if (n == ERROR_DEAD_OBJECT) {
            return fail("the microphone was taken away (error " + n + "): restart the app to get it back");
        }
        if (n < 0 && ++errors >= MAX_ERRORS) {
            return fail("the microphone keeps failing (error " + n + " " + errorName(n) + ")");
        }
        backoff = backoff == 0 ? BACKOFF_MIN_MS : Math.min(BACKOFF_MAX_MS, backoff * 2);
        if (n < 0) {
            message = "the microphone reports error " + n + " (" + errorName(n) + ")";
        } else if (backoff >= BACKOFF_MAX_MS) {
            message = "the microphone delivers no audio (held by another app?)";
        }
        sleeper.sleep(backoff);
        return state == State.RUNNING;
    }

    /** Runs step() until stop() or a failure; for the recording thread, which also releases the source. */
    public void loop() {
        synchronized (this) {
            looping = true;
        }
        try {
            while (step()) {
                // step() backs off by itself when nothing comes.
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            synchronized (this) {
                looping = false;
                if (state == State.STOPPED && !released) {
                    releaseSource();
                }
            }
        }
    }

    /**
     * Stops the loop. The source is stopped and released by the recording thread when it leaves its read (never
     * under a read in progress), or here when no loop runs.
     */
    public synchronized void stop() {
        State was = state;
        state = State.STOPPED;
        if (was == State.RUNNING && !looping && !released) {
            releaseSource();
        }
    }

    private void releaseSource() {
        released = true;
        source.stop();
        source.release();
    }

    private boolean fail(String why) {
        message = why;
        synchronized (this) {
            state = State.FAILED;
            if (!released) {
                releaseSource();
            }
        }
        return false;
    }

    private static String errorName(int n) {
        switch (n) {
            case ERROR_BAD_VALUE:
                return "bad value";
            case ERROR_INVALID_OPERATION:
                return "invalid operation";
            default:
                return "error";
        }
    }

    private synchronized void append(short[] b, int n) {
        boolean silent = true;
        for (int i = 0; i < n; i++) {
            // int16 / int16_scale (32768 for VGGish), the manifest's scaling; exact in float32.
            ring[written % ring.length] = b[i] / int16Scale;
            written++;
            silent &= b[i] == 0;
        }
        zeroSamples = silent ? zeroSamples + n : 0;
        if (zeroSamples >= SILENCE_SECONDS * sampleRate) {
            message = "the microphone delivers only silence (another app may hold it)";
        } else if (!silent || zeroSamples == 0) {
            message = null;
        }
    }

    /** The last n samples, oldest first; zeros before recording started. */
    public synchronized float[] snapshot(int n) {
        float[] out = new float[n];
        int have = Math.min(n, Math.min(written, ring.length));
        for (int i = 0; i < have; i++) {
            out[n - have + i] = ring[(written - have + i) % ring.length];
        }
        return out;
    }
}
