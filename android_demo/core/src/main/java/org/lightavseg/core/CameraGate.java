package org.lightavseg.core;

/**
 * The camera's open/close ordering, one lock for all of it. Camera2 calls back on the camera thread while the
 * activity pauses on the UI thread, so:
 * - close() waits (bounded) until no frame is being read, so the ImageReader and its plane buffers are closed
 *   only when nobody reads them (their contents are undefined after ImageReader.close());
 * - a device whose onOpened arrives after close() is handed back to be closed at once, never kept (leak);
 * - frames arriving after close() are refused.
 *
 * D is the device handle (CameraDevice on Android, a fake in tests).
 */
public final class CameraGate<D> {
    public enum State { IDLE, OPENING, OPEN, CLOSED }

    private final Object lock = new Object();
    private State state = State.IDLE;
    private D device;
    private int readers;

    public State state() {
        synchronized (lock) {
            return state;
        }
    }

    /** IDLE -> OPENING; false when already opening/open or closed (a closed gate is never reopened). */
    public boolean beginOpen() {
        synchronized (lock) {
            if (state != State.IDLE) {
                return false;
            }
            state = State.OPENING;
            return true;
        }
    }

    /** The device opened: true if kept; false after close() (the caller must close it now). */
    public boolean opened(D d) {
        synchronized (lock) {
            if (state != State.OPENING) {
                return false;
            }
            device = d;
            state = State.OPEN;
            return true;
        }
    }

    /** The device disconnected or failed: returns it if it was ours (the caller closes it), else null. */
    public D lost(D d) {
        synchronized (lock) {
            if (device != d) {
                return null;
            }
            device = null;
            if (state == State.OPEN || state == State.OPENING) {
                state = State.CLOSED;
            }
            return d;
        }
    }

    /** The open device, or null. */
    public D device() {
        synchronized (lock) {
            return state == State.OPEN ? device : null;
        }
    }

    /** Before reading a frame's planes: false when closed (do not touch the image). Pair with endFrame(). */
    public boolean beginFrame() {
        synchronized (lock) {
            if (state != State.OPEN) {
                return false;
            }
            readers++;
            return true;
        }
    }

    public void endFrame() {
        synchronized (lock) {
            readers--;
            lock.notifyAll();
        }
    }

    /**
     * Marks the gate closed, waits up to timeoutMs for frames being read, and returns the device to close (or
     * null). Returns true in done[0] when no reader is left (false: a reader overran the timeout).
     */
    public D close(long timeoutMs, boolean[] done) {
        synchronized (lock) {
            state = State.CLOSED;
            long end = System.nanoTime() + timeoutMs * 1000000L;
            while (readers > 0) {
                long left = (end - System.nanoTime()) / 1000000L;
                if (left <= 0) {
                    break;
                }
                try {
                    lock.wait(left);
                } catch (InterruptedException e) {
                    // The device must still be handed back to be closed; the caller sees the flag.
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            if (done != null && done.length > 0) {
                done[0] = readers == 0;
            }
            D d = device;
            device = null;
            return d;
        }
    }
}
