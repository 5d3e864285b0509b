package org.lightavseg.core;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;

/**
 * The model mapped read-only from a file region: on Android the APK itself, through an AssetFileDescriptor's
 * (file, start offset, length), which works because the .tflite is stored uncompressed. Nothing is copied
 * into the Java heap; LiteRT reads the pages it needs.
 */
public final class MappedModel {
    private MappedModel() {
    }

    /** Maps [offset, offset + length) of the channel; one-line IOException when the region is not in the file. */
    public static MappedByteBuffer map(FileChannel channel, long offset, long length, String source) throws IOException {
        long size = channel.size();
        if (offset < 0 || length <= 0 || offset + length > size) {
            throw new IOException(source + ": region " + offset + "+" + length + " is not inside the file (" + size
                    + " bytes); is the asset compressed? keep .tflite uncompressed (noCompress / aapt -0 tflite)");
        }
        return channel.map(FileChannel.MapMode.READ_ONLY, offset, length);
    }

    /** Reads the buffer from its position to its limit without moving it (for the sha256 check). */
    public static InputStream stream(ByteBuffer buffer) {
        final ByteBuffer b = buffer.duplicate();
        return new InputStream() {
            @Override
            public int read() {
                return b.hasRemaining() ? b.get() & 0xff : -1;
            }

            @Override
            public int read(byte[] dst, int off, int len) {
                if (len == 0) {
                    return 0;
                }
                if (!b.hasRemaining()) {
                    return -1;
                }
                int n = Math.min(len, b.remaining());
                b.get(dst, off, n);
                return n;
            }
        };
    }
}
