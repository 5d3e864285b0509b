package org.lightavseg.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.Charset;

/** NumPy .npy v1.0 files (C order, little endian): float32, uint8, int8 and bool, read and write. */
public final class Npy {
    private static final Charset ASCII = Charset.forName("US-ASCII");
    public final int[] shape;
    /** numpy dtype string: "<f4", "|u1", "|i1" or "|b1". */
    public final String dtype;
    public final float[] floats;
    public final byte[] bytes;

    private Npy(int[] shape, String dtype, float[] floats, byte[] bytes) {
        this.shape = shape;
        this.dtype = dtype;
        this.floats = floats;
        this.bytes = bytes;
    }

    /** Writes float32 data of the given shape. */
    public static void writeFloat32(OutputStream out, float[] data, int[] shape) throws IOException {
        checkCount(data.length, shape);
        ByteBuffer b = ByteBuffer.allocate(4 * data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(data);
        writeRaw(out, "<f4", shape, b.array());
    }

    /** Writes uint8 data of the given shape. */
    public static void writeUint8(OutputStream out, byte[] data, int[] shape) throws IOException {
        checkCount(data.length, shape);
        writeRaw(out, "|u1", shape, data);
    }

    private static void writeRaw(OutputStream out, String dtype, int[] shape, byte[] payload) throws IOException {
        StringBuilder s = new StringBuilder("{'descr': '").append(dtype).append("', 'fortran_order': False, 'shape': (");
        for (int i = 0; i < shape.length; i++) {
            s.append(shape[i]).append(shape.length == 1 || i < shape.length - 1 ? ", " : "");
        }
        s.append("), }");
        // Header padded with spaces so the data starts on a 64-byte boundary, ending in a newline.
        int total = 10 + s.length() + 1;
        int pad = (64 - total % 64) % 64;
        for (int i = 0; i < pad; i++) {
            s.append(' ');
        }
        s.append('\n');
        byte[] header = s.toString().getBytes(ASCII);
        out.write(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
        out.write(header.length & 0xff);
        out.write((header.length >> 8) & 0xff);
        out.write(header);
        out.write(payload);
    }

    /** Largest array read: 256 M elements (1 GiB of float32), far above any model output or golden file. */
    static final long MAX_ELEMENTS = 1L << 28;

    /**
     * Reads a .npy stream. A malformed header, an unsupported dtype, a negative or overflowing shape and data shorter
     * or longer than the shape says all throw IOException (checked): nothing is zero-padded or guessed.
     */
    public static Npy read(InputStream in, String source) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[1 << 16];
        int n;
        while ((n = in.read(chunk)) > 0) {
            buf.write(chunk, 0, n);
        }
        byte[] all = buf.toByteArray();
        if (all.length < 10 || (all[0] & 0xff) != 0x93 || all[1] != 'N' || all[2] != 'U' || all[3] != 'M'
                || all[4] != 'P' || all[5] != 'Y' || all[6] != 1) {
            throw new IOException(source + " is not a .npy v1 file");
        }
        int hlen = (all[8] & 0xff) | ((all[9] & 0xff) << 8);
        if (10L + hlen > all.length) {
            throw new IOException(source + ": .npy header of " + hlen + " bytes is longer than the file");
        }
        String header = new String(all, 10, hlen, ASCII);
        String dtype = between(header, "'descr': '", "'", source);
        String order = between(header, "'fortran_order': ", ",", source).trim();
        if (!"False".equals(order)) {
            throw new IOException(source + ": fortran_order " + order + " is not supported (C order only)");
        }
        String shapeText = between(header, "'shape': (", ")", source).trim();
        String[] parts = shapeText.isEmpty() ? new String[0] : shapeText.split(",", -1);
        int count = 0;
        int[] tmp = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            String p = parts[i].trim();
            if (p.isEmpty() && i == parts.length - 1 && i > 0) {
                continue;  // the trailing comma of "(3,)" or "(2, 3,)"
            }
            if (!p.matches("[0-9]{1,10}")) {
                throw new IOException(source + ": .npy shape (" + shapeText + ") is not a list of sizes");
            }
            long d = Long.parseLong(p);
            if (d > Integer.MAX_VALUE) {
                throw new IOException(source + ": .npy dimension " + p + " is too large");
            }
            tmp[count++] = (int) d;
        }
        int[] shape = java.util.Arrays.copyOf(tmp, count);
        long elements = 1;
        for (int d : shape) {
            elements *= d;
            if (elements > MAX_ELEMENTS) {
                throw new IOException(source + ": .npy shape (" + shapeText + ") has more than " + MAX_ELEMENTS
                        + " elements");
            }
        }
        int width;
        if ("<f4".equals(dtype)) {
            width = 4;
        } else if ("|u1".equals(dtype) || "|i1".equals(dtype) || "|b1".equals(dtype)) {
            width = 1;
        } else {
            throw new IOException(source + ": dtype " + dtype + " is not supported (float32, uint8, int8, bool)");
        }
        int off = 10 + hlen;
        long want = elements * width;
        if (all.length - off != want) {
            throw new IOException(source + ": .npy data is " + (all.length - off) + " bytes, shape (" + shapeText
                    + ") of " + dtype + " needs " + want + (all.length - off < want ? " (truncated file)" : ""));
        }
        if (width == 4) {
            float[] f = new float[(int) elements];
            ByteBuffer.wrap(all, off, (int) want).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
            return new Npy(shape, dtype, f, null);
        }
        return new Npy(shape, dtype, null, java.util.Arrays.copyOfRange(all, off, off + (int) elements));
    }

    private static String between(String s, String start, String end, String source) throws IOException {
        int a = s.indexOf(start);
        int b = a < 0 ? -1 : s.indexOf(end, a + start.length());
        if (a < 0 || b < 0) {
            String shown = s.length() > 80 ? s.substring(0, 80) + "..." : s;
            throw new IOException(source + ": malformed .npy header (no " + start.trim() + "): " + shown.trim());
        }
        return s.substring(a + start.length(), b);
    }

    private static void checkCount(int count, int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        if (n != count) {
            throw new IllegalArgumentException(count + " values do not fill shape " + java.util.Arrays.toString(shape));
        }
    }
}
