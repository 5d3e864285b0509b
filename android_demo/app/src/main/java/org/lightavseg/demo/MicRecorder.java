package org.lightavseg.demo;

import android.media.AudioFormat;
import android.media.AudioRecord;
import android.media.MediaRecorder;

/** 16 kHz mono microphone into a ring buffer; snapshot() gives the most recent samples in [-1, 1). */
final class MicRecorder {
    private final int sampleRate;
    private final float int16Scale;
    private final float[] ring;
    private int written;
    private volatile boolean running;
    private AudioRecord record;
    private Thread thread;

    MicRecorder(int sampleRate, double int16Scale, int capacitySamples) {
        this.sampleRate = sampleRate;
        this.int16Scale = (float) int16Scale;
        this.ring = new float[capacitySamples];
    }

    /** Starts recording; returns an error message for the screen, or null on success. */
    String start() {
        int min = AudioRecord.getMinBufferSize(sampleRate, AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_16BIT);
        if (min <= 0) {
            return "The microphone does not support " + sampleRate + " Hz mono 16-bit recording.";
        }
        try {
            record = new AudioRecord(MediaRecorder.AudioSource.MIC, sampleRate, AudioFormat.CHANNEL_IN_MONO,
                    AudioFormat.ENCODING_PCM_16BIT, Math.max(min, sampleRate / 5 * 2));
        } catch (IllegalArgumentException | SecurityException e) {
            return "Cannot open the microphone: " + e.getMessage();
        }
        if (record.getState() != AudioRecord.STATE_INITIALIZED) {
            record.release();
            record = null;
            return "Cannot open the microphone (is another app using it?).";
        }
        running = true;
        record.startRecording();
        thread = new Thread(new Runnable() {
            @Override
            public void run() {
                short[] buf = new short[sampleRate / 50];
                while (running) {
                    int n = record.read(buf, 0, buf.length);
                    if (n > 0) {
                        append(buf, n);
                    }
                }
            }
        }, "mic");
        thread.start();
        return null;
    }

    private synchronized void append(short[] buf, int n) {
        for (int i = 0; i < n; i++) {
            // int16 / int16_scale (32768 for VGGish), the manifest's scaling; exact in float32.
            ring[written % ring.length] = buf[i] / int16Scale;
            written++;
        }
    }

    /** The last n samples, oldest first; zeros before recording started. */
    synchronized float[] snapshot(int n) {
        float[] out = new float[n];
        int have = Math.min(n, Math.min(written, ring.length));
        for (int i = 0; i < have; i++) {
            out[n - have + i] = ring[(written - have + i) % ring.length];
        }
        return out;
    }

    void stop() {
        running = false;
        if (thread != null) {
            try {
                thread.join(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            thread = null;
        }
        if (record != null) {
            record.stop();
            record.release();
            record = null;
        }
    }
}
