package org.lightavseg.demo;

import android.media.AudioFormat;
import android.media.AudioRecord;
import android.media.MediaRecorder;

import org.lightavseg.core.MicLoop;

/** 16 kHz mono AudioRecord behind core's MicLoop (start check, read errors, back-off, silence, messages). */
final class MicRecorder {
    private MicRecorder() {
    }

    /** Opens and starts the microphone; returns the running loop, or null with the reason in why[0]. */
    static MicLoop start(int sampleRate, double int16Scale, int capacitySamples, String[] why) {
        int min = AudioRecord.getMinBufferSize(sampleRate, AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_16BIT);
        if (min <= 0) {
            why[0] = "the microphone does not support " + sampleRate + " Hz mono 16-bit recording";
            return null;
        }
        final AudioRecord record;
        try {
            record = new AudioRecord(MediaRecorder.AudioSource.MIC, sampleRate, AudioFormat.CHANNEL_IN_MONO,
                    AudioFormat.ENCODING_PCM_16BIT, Math.max(min, sampleRate / 5 * 2));
        } catch (IllegalArgumentException | SecurityException e) {
            why[0] = "cannot open the microphone: " + e.getMessage();
            return null;
        }
        if (record.getState() != AudioRecord.STATE_INITIALIZED) {
            record.release();
            why[0] = "cannot open the microphone (is another app using it?)";
            return null;
        }
        final MicLoop loop = new MicLoop(new MicLoop.Source() {
            @Override
            public void start() {
                record.startRecording();
            }

            @Override
            public boolean recording() {
                return record.getRecordingState() == AudioRecord.RECORDSTATE_RECORDING;
            }

            @Override
            public int read(short[] buf, int n) {
                return record.read(buf, 0, n);
            }

            @Override
            public void stop() {
                try {
                    record.stop();
                } catch (IllegalStateException ignored) {
                    // Never started: nothing to stop.
                }
            }

            @Override
            public void release() {
                record.release();
            }
        }, new MicLoop.Sleeper() {
            @Override
            public void sleep(long ms) throws InterruptedException {
                Thread.sleep(ms);
            }
        }, sampleRate, int16Scale, capacitySamples);
        String err = loop.start();
        if (err != null) {
            why[0] = err;
            return null;
        }
        Thread t = new Thread(new Runnable() {
            @Override
            public void run() {
                loop.loop();
            }
        }, "mic");
        t.start();
        return loop;
    }
}
