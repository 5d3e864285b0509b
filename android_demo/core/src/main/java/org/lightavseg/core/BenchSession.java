package org.lightavseg.core;

import java.io.File;

/**
 * Bench mode's ordering, the same for every start of the activity (onCreate or onNewIntent):
 * screen kept on -> "started" marker (the host's proof that this start really ran) -> clips -> report ->
 * screen released -> activity finished, so the next `am start` creates a fresh activity. A start while a run
 * is going is refused with a log line instead of running twice.
 */
public final class BenchSession {
    public interface Host {
        void keepScreenOn(boolean on);

        /** Deletes the previous report and outputs, then writes the started marker. */
        void markStarted() throws Exception;

        /** Runs the clips and writes the report (also on failure); returns its path. */
        File run() throws Exception;

        void log(String line);

        void finish();
    }

    private final Object lock = new Object();
    private boolean running;

    public boolean running() {
        synchronized (lock) {
            return running;
        }
    }

    /** Claims the session; false (and a log line) when a run is already going. Call execute() after true. */
    public boolean claim(Host host) {
        synchronized (lock) {
            if (running) {
                host.log("BENCH_BUSY a bench run is already going; this start is ignored");
                return false;
            }
            running = true;
            return true;
        }
    }

    /** Runs a claimed session to the end; the screen flag is released and the activity finished whatever happens. */
    public void execute(Host host) {
        host.keepScreenOn(true);
        try {
            host.markStarted();
            host.log("BENCH_STARTED");
            File report = host.run();
            host.log("BENCH_DONE " + report.getAbsolutePath());
        } catch (Exception e) {
            host.log("BENCH_FAILED " + e);
        } finally {
            host.keepScreenOn(false);
            synchronized (lock) {
                running = false;
            }
            host.finish();
        }
    }
}
