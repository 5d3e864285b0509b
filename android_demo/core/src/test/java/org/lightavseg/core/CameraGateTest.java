package org.lightavseg.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.Test;

public class CameraGateTest {
    /** A camera device and its image planes: reading planes after close() is the bug being guarded. */
    private static final class FakeCamera {
        volatile boolean closed;
        volatile boolean readAfterClose;

        void readPlanes() throws InterruptedException {
            for (int i = 0; i < 20; i++) {
                if (closed) {
                    readAfterClose = true;
                }
                Thread.sleep(1);
            }
        }

        void close() {
            closed = true;
        }
    }

    @Test
    public void openedAfterCloseIsHandedBackToBeClosed() {
        CameraGate<FakeCamera> gate = new CameraGate<FakeCamera>();
        assertTrue(gate.beginOpen());
        assertFalse(gate.beginOpen());  // no second open while one is pending
        assertNull(gate.close(10, null));  // onPause before onOpened
        FakeCamera late = new FakeCamera();
        assertFalse(gate.opened(late));  // the caller closes it instead of keeping it (no leak)
        assertNull(gate.device());
        assertFalse(gate.beginFrame());
        assertFalse(gate.beginOpen());  // a closed gate is not reopened; a new controller is made on resume
    }

    @Test
    public void closeReturnsTheOpenDeviceOnce() {
        CameraGate<FakeCamera> gate = new CameraGate<FakeCamera>();
        FakeCamera cam = new FakeCamera();
        gate.beginOpen();
        assertTrue(gate.opened(cam));
        assertSame(cam, gate.device());
        boolean[] idle = {false};
        assertSame(cam, gate.close(10, idle));
        assertTrue(idle[0]);
        assertNull(gate.close(10, null));
        assertEquals(CameraGate.State.CLOSED, gate.state());
    }

    @Test
    public void lostDeviceIsReleasedOnlyIfOurs() {
        CameraGate<FakeCamera> gate = new CameraGate<FakeCamera>();
        FakeCamera cam = new FakeCamera();
        gate.beginOpen();
        gate.opened(cam);
        assertNull(gate.lost(new FakeCamera()));
        assertSame(cam, gate.lost(cam));
        assertFalse(gate.beginFrame());
    }

    @Test
    public void closeWaitsForTheFrameBeingRead() throws Exception {
        final CameraGate<FakeCamera> gate = new CameraGate<FakeCamera>();
        final FakeCamera cam = new FakeCamera();
        gate.beginOpen();
        gate.opened(cam);
        final CountDownLatch reading = new CountDownLatch(1);
        final AtomicBoolean failed = new AtomicBoolean();
        Thread cameraThread = new Thread(new Runnable() {
            @Override
            public void run() {
                for (int f = 0; f < 1000; f++) {
                    if (!gate.beginFrame()) {
                        return;
                    }
                    try {
                        reading.countDown();
                        cam.readPlanes();
                    } catch (InterruptedException e) {
                        failed.set(true);
                    } finally {
                        gate.endFrame();
                    }
                }
            }
        });
        cameraThread.start();
        assertTrue(reading.await(5, TimeUnit.SECONDS));
        boolean[] idle = {false};
        FakeCamera d = gate.close(2000, idle);  // the UI thread's onPause
        assertTrue(idle[0]);
        d.close();  // now the planes may go
        cameraThread.join(5000);
        assertFalse(cameraThread.isAlive());
        assertFalse("planes were read after close", cam.readAfterClose);
        assertFalse(failed.get());
    }

    @Test
    public void closeGivesUpAfterItsTimeoutAndSaysSo() throws Exception {
        CameraGate<FakeCamera> gate = new CameraGate<FakeCamera>();
        gate.beginOpen();
        gate.opened(new FakeCamera());
        assertTrue(gate.beginFrame());  // a reader that never ends
        boolean[] idle = {true};
        long t0 = System.nanoTime();
        gate.close(50, idle);
        assertFalse(idle[0]);  // the caller defers closing the reader to the camera thread
        assertTrue((System.nanoTime() - t0) / 1e6 < 2000);
    }
}
