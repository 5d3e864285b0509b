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

    /**
     * Reads a RIFF/WAVE stream; only PCM 16-bit is accepted (what the shipped clips and AudioRecord give). A chunk
     * size past the end of the file (huge, "negative" as a signed int, or a cut-off download) throws IOException:
     * sizes are unsigned 32-bit and checked in long arithmetic, so no offset can overflow.
     */
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
        while ((long) pos + 8 <= b.limit()) {
            int id = b.getInt(pos);
            long declared = b.getInt(pos + 4) & 0xffffffffL;
            int body = pos + 8;
            if (declared > b.limit() - body) {
                throw new IOException(source + ": chunk " + chunkName(id) + " declares " + declared + " bytes, only "
                        + (b.limit() - body) + " remain (truncated or damaged file)");
            }
            int size = (int) declared;
            if (id == 0x20746d66) {  // "fmt "
                if (size < 16) {
                    throw new IOException(source + ": fmt chunk of " + size + " bytes is too short (16 needed)");
                }
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
                if (rate <= 0) {
                    throw new IOException(source + ": sample rate " + rate + " is not positive");
                }
                return new Wav(rate, ch, mono);
            }
            long next = (long) body + size + (size & 1);
            if (next > b.limit()) {
                break;  // an odd-sized last chunk without its pad byte: nothing follows it
            }
            pos = (int) next;
        }
        throw new IOException(source + " has no data chunk");
    }

    private static String chunkName(int id) {
        StringBuilder s = new StringBuilder("'");
        for (int i = 0; i < 4; i++) {
            int c = (id >> (8 * i)) & 0xff;
            s.append(c >= 32 && c < 127 ? (char) c : '?');
        }
        return s.append("'").toString();
    }
}
