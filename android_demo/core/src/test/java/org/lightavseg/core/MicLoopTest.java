package org.lightavseg.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.LinkedList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.Test;

public class MicLoopTest {
    /** An AudioRecord stand-in: scripted read results (sample counts or error codes), and what was called. */
    private static final class FakeMic implements MicLoop.Source {
        Exception startFails;
        boolean recordingAfterStart = true;
        final LinkedList<Integer> reads = new LinkedList<Integer>();
        short value = 1000;
        int stops;
        int releases;

        @Override
        public void start() throws Exception {
            if (startFails != null) {
                throw startFails;
            }
        }

        @Override
        public boolean recording() {
            return recordingAfterStart;
        }

        @Override
        public int read(short[] buf, int n) {
            int r = reads.isEmpty() ? 0 : reads.removeFirst();
            for (int i = 0; i < Math.min(r, n); i++) {
                buf[i] = value;
            }
            return Math.min(r, n);
        }

        @Override
        public void stop() {
            stops++;
        }

        @Override
        public void release() {
            releases++;
        }
    }

    private static final class Sleeps implements MicLoop.Sleeper {
        final List<Long> ms = new ArrayList<Long>();

        @Override
        public void sleep(long t) {
            ms.add(t);
        }
    }

    private static MicLoop loop(FakeMic mic, Sleeps sleeps) {
        return new MicLoop(mic, sleeps, 16000, 32768.0, 32000);
    }

    @Test
    public void startThatDoesNotRecordIsAMessageAndReleases() {
        FakeMic mic = new FakeMic();
        mic.recordingAfterStart = false;
        MicLoop l = loop(mic, new Sleeps());
        String why = l.start();
        assertNotNull(why);
        assertTrue(why.contains("did not start recording"));
        assertEquals(MicLoop.State.FAILED, l.state());
        assertEquals(1, mic.releases);
        FakeMic throwing = new FakeMic();
        throwing.startFails = new IllegalStateException("startRecording() called on an uninitialized AudioRecord.");
        assertTrue(loop(throwing, new Sleeps()).start().contains("uninitialized AudioRecord"));
    }

    @Test
    public void emptyReadsBackOffInsteadOfSpinningAndSaySo() throws Exception {
        FakeMic mic = new FakeMic();
        Sleeps sleeps = new Sleeps();
        MicLoop l = loop(mic, sleeps);
        assertNull(l.start());
        for (int i = 0; i < 8; i++) {
            assertTrue(l.step());
        }
        assertEquals("[5, 10, 20, 40, 80, 160, 200, 200]", sleeps.ms.toString());
        assertTrue(l.message().contains("no audio"));
        mic.reads.add(320);
        assertTrue(l.step());
        assertNull(l.message());  // sound again
        assertEquals(8, sleeps.ms.size());  // no sleep after a good read
        mic.reads.add(0);
        l.step();
        assertEquals(5L, (long) sleeps.ms.get(8));  // back-off starts over
    }

    @Test
    public void readErrorsBackOffThenGiveUpWithAMessage() throws Exception {
        FakeMic mic = new FakeMic();
        Sleeps sleeps = new Sleeps();
        MicLoop l = loop(mic, sleeps);
        l.start();
        for (int i = 0; i < MicLoop.MAX_ERRORS - 1; i++) {
            mic.reads.add(MicLoop.ERROR_INVALID_OPERATION);
            assertTrue(l.step());
        }
        assertTrue(l.message().contains("error -3"));
        mic.reads.add(MicLoop.ERROR_INVALID_OPERATION);
        assertFalse(l.step());
        assertEquals(MicLoop.State.FAILED, l.state());
        assertTrue(l.message().contains("keeps failing"));
        assertEquals(1, mic.releases);
        l.stop();
        assertEquals(1, mic.releases);  // released once
    }

    @Test
    public void deadObjectEndsTheLoopAtOnce() throws Exception {
        FakeMic mic = new FakeMic();
        MicLoop l = loop(mic, new Sleeps());
        l.start();
        mic.reads.add(MicLoop.ERROR_DEAD_OBJECT);
        assertFalse(l.step());
        assertTrue(l.message().contains("taken away"));
    }

    @Test
    public void allZeroAudioIsReportedAsSilence() throws Exception {
        FakeMic mic = new FakeMic();
        mic.value = 0;
        MicLoop l = loop(mic, new Sleeps());
        l.start();
        for (int i = 0; i < 99; i++) {
            mic.reads.add(320);
            l.step();
        }
        assertNull(l.message());  // 1.98 s of zeros: not yet
        mic.reads.add(320);
        l.step();
        assertTrue(l.message().contains("only silence"));
        mic.value = 5;
        mic.reads.add(320);
        l.step();
        assertNull(l.message());
    }

    @Test
    public void snapshotHoldsTheLatestSamples() throws Exception {
        FakeMic mic = new FakeMic();
        mic.value = 16384;
        MicLoop l = loop(mic, new Sleeps());
        l.start();
        mic.reads.add(3);
        l.step();
        assertArrayEquals(new float[] {0f, 0.5f, 0.5f, 0.5f}, l.snapshot(4), 0f);
        l.stop();
        assertEquals(1, mic.stops);
        assertEquals(1, mic.releases);
        assertFalse(l.step());
    }

    @Test
    public void stopDuringALoopReleasesOnTheRecordingThread() throws Exception {
        FakeMic mic = new FakeMic();
        final MicLoop l = new MicLoop(mic, new MicLoop.Sleeper() {
            @Override
            public void sleep(long ms) throws InterruptedException {
                Thread.sleep(1);
            }
        }, 16000, 32768.0, 32000);
        l.start();
        Thread t = new Thread(new Runnable() {
            @Override
            public void run() {
                l.loop();
            }
        });
        t.start();
        Thread.sleep(20);
        l.stop();
        t.join(2000);
        assertFalse(t.isAlive());
        assertEquals(1, mic.releases);
    }

    @Test
    public void audioFeedDetachedMidFrameGivesSilenceNotNull() throws Exception {
        final AudioFeed feed = new AudioFeed();
        final MicLoop l = loop(new FakeMic(), new Sleeps());
        final AtomicBoolean stop = new AtomicBoolean();
        Thread ui = new Thread(new Runnable() {
            @Override
            public void run() {
                while (!stop.get()) {
                    feed.attach(l);
                    feed.detach();
                }
            }
        });
        ui.start();
        try {
            for (int i = 0; i < 200000; i++) {
                assertEquals(4, feed.window(4).length);  // the old field was read twice: NullPointerException
            }
        } finally {
            stop.set(true);
            ui.join();
        }
        assertNull(feed.detach());
        assertArrayEquals(new float[3], feed.window(3), 0f);
    }
}
