package org.lightavseg.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.ReadOnlyBufferException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import org.junit.Test;

/** Buffer reuse in the timed loop, the live frame clock, and the model mapped from a file region. */
public class MeasurementTest {
    private static final TensorSpec FRAME = new TensorSpec("frame", new int[] {1, 3, 2, 2}, "int8", "NCHW", 0.5f, 3, "serving_frame");
    private static final TensorSpec AUDIO = new TensorSpec("logmel", new int[] {1, 4}, "float32", "-", null, 0, null);
    private static final TensorSpec MASK = new TensorSpec("mask_logits", new int[] {1, 1, 2, 2}, "float32", "NCHW", null, 0, null);

    @Test
    public void buffersAreAllocatedOnceAndReusedByEveryRun() throws Exception {
        TensorBuffers b = new TensorBuffers(Arrays.asList(FRAME, AUDIO), Arrays.asList(MASK));
        assertEquals(3, b.allocations());
        Map<String, TensorData> in = new HashMap<String, TensorData>();
        in.put("frame", TensorData.ofBytes(FRAME, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
        in.put("logmel", TensorData.ofFloats(AUDIO, new float[] {0.5f, -1f, 2f, 3f}));
        Map<String, ByteBuffer> first = b.fill(in);
        ByteBuffer frame = first.get("frame");
        ByteBuffer audio = first.get("logmel");
        ByteBuffer mask = b.outputBuffers().get("mask_logits");
        for (int run = 0; run < 5; run++) {
            Map<String, ByteBuffer> again = b.fill(in);
            assertSame(frame, again.get("frame"));
            assertSame(audio, again.get("logmel"));
            assertSame(mask, b.outputBuffers().get("mask_logits"));
        }
        assertEquals(3, b.allocations());
        assertTrue(frame.isDirect() && audio.isDirect() && mask.isDirect());
        assertEquals(ByteOrder.nativeOrder(), audio.order());
        assertEquals(0, audio.position());
        assertEquals(-1f, audio.getFloat(4), 0f);
        assertEquals(12, frame.get(11));
        // The "interpreter" writes the output; read() copies it out so the next run cannot change it.
        mask.asFloatBuffer().put(new float[] {1f, 2f, 3f, 4f});
        float[] got = b.read().get("mask_logits").floats;
        mask.asFloatBuffer().put(new float[] {9f, 9f, 9f, 9f});
        assertEquals(3f, got[2], 0f);
        try {
            b.fill(new HashMap<String, TensorData>());
            fail();
        } catch (Engine.EngineException e) {
            assertTrue(e.getMessage().contains("input frame was not given"));
        }
    }

    @Test
    public void frameLatencyStartsAtTheCameraImage() {
        FrameClock c = new FrameClock(1000000000L);   // image acquired
        c.modelStart(1012000000L);                     // after YUV->RGB, rotation, preprocessing: 12 ms
        c.modelEnd(1030000000L);                       // model: 18 ms
        assertEquals(18.0, c.modelMs(), 1e-9);
        assertEquals(31.0, c.frameMs(1031000000L), 1e-9);  // everything the user waits for
    }

    @Test
    public void modelIsMappedFromTheFileRegionNotCopied() throws Exception {
        File golden = Golden.dir();
        String rel = Golden.index().getJSONObject("manifest").getString("artifact");
        byte[] model = Files.readAllBytes(new File(golden, rel).toPath());
        Manifest m = Manifest.parse(Golden.text(new File(golden, Golden.index().getJSONObject("manifest")
                .getString("manifest"))), "model.manifest.json");
        // Like an APK: other entries before and after the stored (uncompressed) model.
        File apk = File.createTempFile("lavseg-apk", ".zip");
        apk.deleteOnExit();
        byte[] before = new byte[4099];
        Arrays.fill(before, (byte) 0x5a);
        FileOutputStream out = new FileOutputStream(apk);
        try {
            out.write(before);
            out.write(model);
            out.write(new byte[] {1, 2, 3});
        } finally {
            out.close();
        }
        FileInputStream in = new FileInputStream(apk);
        MappedByteBuffer mapped;
        try {
            mapped = MappedModel.map(in.getChannel(), before.length, model.length, "assets/model/model.tflite");
        } finally {
            in.close();  // the mapping stays valid after the descriptor is closed
        }
        assertEquals(model.length, mapped.remaining());
        assertTrue(mapped.isDirect());
        m.verifyArtifact(MappedModel.stream(mapped), "assets/model/model.tflite");  // sha256 + size of the region
        assertEquals(0, mapped.position());  // hashing did not move it: LiteRT gets it from the start
        assertEquals(model[17], mapped.get(17));
        try {
            mapped.put(0, (byte) 0);
            fail("mapping must be read-only");
        } catch (ReadOnlyBufferException expected) {
            // The APK is never written through the mapping.
        }
        RandomAccessFile raf = new RandomAccessFile(apk, "r");
        try {
            FileChannel ch = raf.getChannel();
            MappedModel.map(ch, before.length, model.length + 4, "assets/model/model.tflite");
            fail();
        } catch (IOException e) {
            assertTrue(e.getMessage().contains("not inside the file") && e.getMessage().contains("uncompressed"));
        } finally {
            raf.close();
        }
    }
}
