package org.lightavseg.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;

import org.json.JSONObject;
import org.junit.Test;

public class ManifestTest {
    private static Manifest golden() throws Exception {
        JSONObject k = Golden.index().getJSONObject("manifest");
        return Manifest.parse(Golden.text(new File(Golden.dir(), k.getString("manifest"))), "model.manifest.json");
    }

    @Test
    public void parsesThePythonManifest() throws Exception {
        Manifest m = golden();
        assertEquals("tflite", m.format);
        assertEquals(Golden.index().getJSONObject("manifest").getString("sha256"), m.artifactSha256);
        TensorSpec frame = m.input("frame");
        assertEquals("int8", frame.dtype);
        assertEquals(0.0187f, frame.scale, 0f);
        assertEquals(-14, frame.zeroPoint);
        assertEquals("args_0", frame.artifactName);
        assertEquals(3 * 224 * 224, frame.elements());
        assertNull(m.input("logmel").scale);
        assertEquals("logmel", m.audioInputName());
        assertEquals(224, m.imageContract().size);
        assertEquals(0.229f, m.imageContract().std[0], 0f);
        assertEquals(15600, m.vggish().patchSamples());
        m.requireRunnableByApp();
    }

    @Test
    public void hashCheckAcceptsTheArtifactAndRefusesATamperedOne() throws Exception {
        Manifest m = golden();
        JSONObject k = Golden.index().getJSONObject("manifest");
        InputStream ok = new FileInputStream(new File(Golden.dir(), k.getString("artifact")));
        try {
            m.verifyArtifact(ok, "model.tflite");
        } finally {
            ok.close();
        }
        InputStream bad = new FileInputStream(new File(Golden.dir(), k.getString("tampered")));
        try {
            m.verifyArtifact(bad, "tampered.tflite");
            fail("a tampered artifact was accepted");
        } catch (ManifestException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("does not match its manifest"));
        } finally {
            bad.close();
        }
    }

    @Test
    public void refusesWrongSchemaNewerVersionAndMissingInputs() throws Exception {
        JSONObject raw = new JSONObject(golden().raw.toString());
        expectRefusal(new JSONObject(raw.toString()).put("schema", "something-else"), "not a LightAVSeg manifest");
        expectRefusal(new JSONObject(raw.toString()).put("schema_version", 2), "update the app");
        JSONObject noFrame = new JSONObject(raw.toString());
        noFrame.getJSONArray("inputs").getJSONObject(0).put("name", "image");
        try {
            Manifest.parse(noFrame.toString(), "x.json").requireRunnableByApp();
            fail("a manifest without a frame input was accepted");
        } catch (ManifestException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("has no input frame"));
        }
        JSONObject failed = new JSONObject(raw.toString()).put("status", "failed-parity");
        try {
            Manifest.parse(failed.toString(), "x.json").requireRunnableByApp();
            fail("a failed-parity export was accepted");
        } catch (ManifestException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("failed its parity gate"));
        }
        expectRefusal("{not json", "not valid JSON");
    }

    private static void expectRefusal(Object json, String fragment) {
        try {
            Manifest.parse(json.toString(), "x.json");
            fail("accepted: " + json);
        } catch (ManifestException e) {
            assertTrue(e.getMessage(), e.getMessage().contains(fragment));
        }
    }
}
