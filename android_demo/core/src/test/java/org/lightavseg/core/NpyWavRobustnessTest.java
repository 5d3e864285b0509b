package org.lightavseg.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;

import org.junit.Test;

/** Damaged or hostile .npy and .wav files: always a checked IOException naming the problem, never a runtime exception
 *  (NumberFormatException, IndexOutOfBounds, NegativeArraySize, BufferUnderflow) and never zero-padded data. */
public class NpyWavRobustnessTest {

    private static byte[] npy(String header, int dataBytes) {
        StringBuilder h = new StringBuilder(header);
        while ((10 + h.length() + 1) % 64 != 0) {
            h.append(' ');
        }
        h.append('\n');
        byte[] hb = h.toString().getBytes(StandardCharsets.US_ASCII);
        ByteBuffer b = ByteBuffer.allocate(10 + hb.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) hb.length).put(hb);
        return b.array();
    }

    private static void npyRefused(byte[] bytes, String needle) {
        try {
            Npy.read(new ByteArrayInputStream(bytes), "bad.npy");
            fail("accepted a bad .npy (expected: " + needle + ")");
        } catch (IOException e) {
            assertTrue(e.getMessage(), e.getMessage().contains(needle));
            assertTrue(e.getMessage(), e.getMessage().startsWith("bad.npy"));
        }
    }

    @Test
    public void npyRefusesBadHeadersWithACheckedException() {
        npyRefused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", 8), "not a list of sizes");
        npyRefused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", 0), "not a list of sizes");
        npyRefused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (9999999999, 1), }", 0), "too large");
        npyRefused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, 65536), }", 0),
                "more than");
        npyRefused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3", 24), "malformed .npy header");
        npyRefused(npy("{'descr: <f4}", 4), "malformed .npy header");
        npyRefused(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", 8), "not supported");
        npyRefused(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", 4), "C order only");
        byte[] shortHeader = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4);
        shortHeader[8] = (byte) 0xff;
        shortHeader[9] = (byte) 0x7f;  // header length far past the end of the file
        npyRefused(Arrays.copyOf(shortHeader, 40), "longer than the file");
        npyRefused(new byte[] {(byte) 0x93, 'N', 'O', 'P', 'E', 'Y', 1, 0, 0, 0}, "not a .npy v1 file");
    }

    @Test
    public void npyRefusesTruncatedDataInsteadOfZeroPadding() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Npy.writeFloat32(out, new float[] {1f, 2f, 3f, 4f}, new int[] {2, 2});
        byte[] whole = out.toByteArray();
        npyRefused(Arrays.copyOf(whole, whole.length - 4), "truncated");
        out.reset();
        Npy.writeUint8(out, new byte[] {1, 2, 3}, new int[] {3});
        byte[] u8 = out.toByteArray();
        npyRefused(Arrays.copyOf(u8, u8.length - 1), "truncated");
        npyRefused(Arrays.copyOf(u8, u8.length + 5), "needs 3");  // trailing garbage is not silently ignored
        assertArrayEquals(new int[] {3}, Npy.read(new ByteArrayInputStream(u8), "ok.npy").shape);
    }

    @Test
    public void npyRandomDamageIsAlwaysAnIOException() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Npy.writeFloat32(out, new float[] {1f, 2f, 3f, 4f, 5f, 6f}, new int[] {1, 2, 3});
        byte[] good = out.toByteArray();
        Random r = new Random(7);
        for (int i = 0; i < 3000; i++) {
            byte[] bad = Arrays.copyOf(good, r.nextInt(good.length + 8));
            for (int k = r.nextInt(4); k > 0 && bad.length > 0; k--) {
                bad[r.nextInt(bad.length)] = (byte) r.nextInt(256);
            }
            try {
                Npy.read(new ByteArrayInputStream(bad), "fuzz.npy");
            } catch (IOException expected) {
                // the one allowed failure
            }
        }
    }

    private static byte[] wavWithSizes(int fmtSize, int dataSize, int actualSamples) {
        ByteBuffer b = ByteBuffer.allocate(44 + 2 * actualSamples).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0x46464952).putInt(36 + 2 * actualSamples).putInt(0x45564157);
        b.putInt(0x20746d66).putInt(fmtSize).putShort((short) 1).putShort((short) 1).putInt(16000)
                .putInt(32000).putShort((short) 2).putShort((short) 16);
        b.putInt(0x61746164).putInt(dataSize);
        for (int i = 0; i < actualSamples; i++) {
            b.putShort((short) (i * 100));
        }
        return b.array();
    }

    private static void wavRefused(byte[] bytes, String needle) {
        try {
            Wav.read(new ByteArrayInputStream(bytes), "bad.wav");
            fail("accepted a bad .wav (expected: " + needle + ")");
        } catch (IOException e) {
            assertTrue(e.getMessage(), e.getMessage().contains(needle));
        }
    }

    @Test
    public void wavRefusesHugeAndNegativeChunkSizesWithoutOverflow() throws Exception {
        wavRefused(wavWithSizes(16, 0x7ffffff0, 4), "declares 2147483632 bytes");      // body + size overflows int
        wavRefused(wavWithSizes(16, 0xffffffff, 4), "declares 4294967295 bytes");      // "-1" as a signed int
        wavRefused(wavWithSizes(0x7fffffff, 8, 4), "chunk 'fmt '");                      // fmt size overflows pos
        wavRefused(wavWithSizes(4, 8, 4), "too short");                                  // a fmt without its fields
        wavRefused(wavWithSizes(16, 100, 4), "truncated");                               // a cut-off download
        Wav ok = Wav.read(new ByteArrayInputStream(wavWithSizes(16, 8, 4)), "ok.wav");
        assertEquals(4, ok.mono.length);
        assertEquals(100 / 32768.0, ok.mono[1], 0);
    }

    @Test
    public void wavRandomDamageIsAlwaysAnIOException() throws Exception {
        byte[] good = wavWithSizes(16, 16, 8);
        Random r = new Random(11);
        for (int i = 0; i < 3000; i++) {
            byte[] bad = Arrays.copyOf(good, r.nextInt(good.length + 8));
            for (int k = r.nextInt(4); k > 0 && bad.length > 0; k--) {
                bad[r.nextInt(bad.length)] = (byte) r.nextInt(256);
            }
            try {
                Wav.read(new ByteArrayInputStream(bad), "fuzz.wav");
            } catch (IOException expected) {
                // the one allowed failure
            }
        }
    }
}
