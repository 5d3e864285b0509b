package org.lightavseg.core;

import java.util.Arrays;

/** The last N latencies (live readout: p50 over the last 30 frames). */
public final class LatencyWindow {
    private final double[] values;
    private int count;
    private int next;

    public LatencyWindow(int size) {
        values = new double[size];
    }

    public synchronized void add(double ms) {
        values[next] = ms;
        next = (next + 1) % values.length;
        count = Math.min(count + 1, values.length);
    }

    /** Median of the window, NaN when empty. */
    public synchronized double p50() {
        if (count == 0) {
            return Double.NaN;
        }
        double[] s = Arrays.copyOf(values, count);
        Arrays.sort(s);
        return LatencyStats.percentile(s, 50);
    }

    public synchronized int count() {
        return count;
    }
}
