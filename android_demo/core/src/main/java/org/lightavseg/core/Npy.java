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

    /** Reads a .npy stream. */
    public static Npy read(InputStream in, String source) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[1 << 16];
        int n;
        while ((n = in.read(chunk)) > 0) {
            buf.write(chunk, 0, n);
        }
        byte[] all = buf.toByteArray();
        if (all.length < 10 || (all[0] & 0xff) != 0x93 || all[1] != 'N' || all[6] != 1) {
            throw new IOException(source + " is not a .npy v1 file");
        }
        int hlen = (all[8] & 0xff) | ((all[9] & 0xff) << 8);
        String header = new String(all, 10, hlen, ASCII);
        String dtype = between(header, "'descr': '", "'");
        if (header.contains("'fortran_order': True")) {
            throw new IOException(source + ": Fortran-order arrays are not supported");
        }
        String shapeText = between(header, "'shape': (", ")").trim();
        String[] parts = shapeText.isEmpty() ? new String[0] : shapeText.split(",");
        int count = 0;
        int[] tmp = new int[parts.length];
        for (String p : parts) {
            if (!p.trim().isEmpty()) {
                tmp[count++] = Integer.parseInt(p.trim());
            }
        }
        int[] shape = java.util.Arrays.copyOf(tmp, count);
        int elements = 1;
        for (int d : shape) {
            elements *= d;
        }
        int off = 10 + hlen;
        if ("<f4".equals(dtype)) {
            float[] f = new float[elements];
            ByteBuffer.wrap(all, off, 4 * elements).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
            return new Npy(shape, dtype, f, null);
        }
        if ("|u1".equals(dtype) || "|i1".equals(dtype) || "|b1".equals(dtype)) {
            return new Npy(shape, dtype, null, java.util.Arrays.copyOfRange(all, off, off + elements));
        }
        throw new IOException(source + ": dtype " + dtype + " is not supported (float32, uint8, int8, bool)");
    }

    private static String between(String s, String start, String end) throws IOException {
        int a = s.indexOf(start);
        if (a < 0) {
            throw new IOException("malformed .npy header: " + s);
        }
        a += start.length();
        int b = s.indexOf(end, a);
        return s.substring(a, b);
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
