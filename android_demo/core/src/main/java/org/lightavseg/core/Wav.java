package org.lightavseg.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** A 16-bit PCM WAV file as mono float64 samples in [-1, 1) (int16 / 32768, channels averaged). */
public final class Wav {
    public final int sampleRate;
    public final int channels;
    public final double[] mono;

    private Wav(int sampleRate, int channels, double[] mono) {
        this.sampleRate = sampleRate;
        this.channels = channels;
        this.mono = mono;
    }

    /** Reads a RIFF/WAVE stream; only PCM 16-bit is accepted (what the shipped clips and AudioRecord give). */
    public static Wav read(InputStream in, String source) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[1 << 16];
        int n;
        while ((n = in.read(chunk)) > 0) {
            buf.write(chunk, 0, n);
        }
        ByteBuffer b = ByteBuffer.wrap(buf.toByteArray()).order(ByteOrder.LITTLE_ENDIAN);
        if (b.remaining() < 12 || b.getInt(0) != 0x46464952 || b.getInt(8) != 0x45564157) {
            throw new IOException(source + " is not a RIFF/WAVE file");
        }
        int pos = 12;
        int format = -1;
        int ch = 0;
        int rate = 0;
        int bits = 0;
        while (pos + 8 <= b.limit()) {
            int id = b.getInt(pos);
            int size = b.getInt(pos + 4);
            int body = pos + 8;
            if (size < 0 || body + size > b.limit()) {
                size = b.limit() - body;  // a truncated last chunk: read what is there
            }
            if (id == 0x20746d66) {  // "fmt "
                format = b.getShort(body) & 0xffff;
                ch = b.getShort(body + 2) & 0xffff;
                rate = b.getInt(body + 4);
                bits = b.getShort(body + 14) & 0xffff;
                if (format == 0xFFFE && size >= 26) {  // WAVE_FORMAT_EXTENSIBLE: the sub-format's first 2 bytes
                    format = b.getShort(body + 24) & 0xffff;
                }
            } else if (id == 0x61746164) {  // "data"
                if (format != 1 || bits != 16 || ch < 1) {
                    throw new IOException(source + ": only 16-bit PCM WAV is supported (format " + format + ", "
                            + bits + " bits, " + ch + " channels); convert it with sox or ffmpeg");
                }
                int frames = size / (2 * ch);
                double[] mono = new double[frames];
                for (int i = 0; i < frames; i++) {
                    double sum = 0.0;
                    for (int c = 0; c < ch; c++) {
                        sum += b.getShort(body + 2 * (i * ch + c)) / 32768.0;
                    }
                    mono[i] = ch == 1 ? sum : sum / ch;
                }
                return new Wav(rate, ch, mono);
            }
            pos = body + size + (size & 1);
        }
        throw new IOException(source + " has no data chunk");
    }
}
