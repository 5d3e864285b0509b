package org.lightavseg.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.junit.Test;

public class BenchSessionTest {
    /** Records the activity's side of bench mode in order. */
    private static final class FakeActivity implements BenchSession.Host {
        final List<String> calls = new ArrayList<String>();
        boolean screenOn;
        boolean screenOnDuringRun;
        Exception runFails;

        @Override
        public void keepScreenOn(boolean on) {
            screenOn = on;
            calls.add("screen " + (on ? "on" : "off"));
        }

        @Override
        public void markStarted() {
            calls.add("marker");
        }

        @Override
        public File run() throws Exception {
            screenOnDuringRun = screenOn;
            calls.add("run");
            if (runFails != null) {
                throw runFails;
            }
            return new File("/sdcard/bench/bench_report.json");
        }

        @Override
        public void log(String line) {
            calls.add("log " + line.split(" ")[0]);
        }

        @Override
        public void finish() {
            calls.add("finish");
        }
    }

    @Test
    public void screenStaysOnForTheRunAndTheActivityFinishes() {
        BenchSession s = new BenchSession();
        FakeActivity a = new FakeActivity();
        assertTrue(s.claim(a));
        s.execute(a);
        assertEquals("[screen on, marker, log BENCH_STARTED, run, log BENCH_DONE, screen off, finish]", a.calls.toString());
        assertTrue(a.screenOnDuringRun);
        assertFalse(s.running());
    }

    @Test
    public void aFailedRunStillReleasesTheScreenAndFinishes() {
        BenchSession s = new BenchSession();
        FakeActivity a = new FakeActivity();
        a.runFails = new IOException("disk full");
        assertTrue(s.claim(a));
        s.execute(a);
        assertEquals("[screen on, marker, log BENCH_STARTED, run, log BENCH_FAILED, screen off, finish]", a.calls.toString());
        assertTrue(s.claim(a));  // the next start runs
    }

    @Test
    public void aStartDuringARunIsRefusedAndLogged() {
        BenchSession s = new BenchSession();
        FakeActivity a = new FakeActivity();
        assertTrue(s.claim(a));
        assertFalse(s.claim(a));
        assertEquals("[log BENCH_BUSY]", a.calls.toString());
    }
}
