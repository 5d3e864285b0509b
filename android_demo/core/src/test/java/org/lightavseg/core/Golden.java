package org.lightavseg.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.Charset;

import org.json.JSONObject;

/** Access to the golden vectors written by `python -m lightavseg_mobile.android_golden --out DIR`. */
final class Golden {
    private Golden() {
    }

    static File dir() {
        String d = System.getProperty("golden.dir");
        if (d == null || !new File(d, "golden.json").isFile()) {
            throw new IllegalStateException("golden vectors missing: run `make android-core-test` (it writes them to "
                    + "android_demo/build/golden and passes -Dgolden.dir)");
        }
        return new File(d);
    }

    static JSONObject index() throws Exception {
        return new JSONObject(text(new File(dir(), "golden.json")));
    }

    static String text(File f) throws IOException {
        InputStream in = new FileInputStream(f);
        try {
            byte[] b = new byte[(int) f.length()];
            int off = 0;
            while (off < b.length) {
                int n = in.read(b, off, b.length - off);
                if (n < 0) {
                    break;
                }
                off += n;
            }
            return new String(b, 0, off, Charset.forName("UTF-8"));
        } finally {
            in.close();
        }
    }

    static Npy npy(String rel) throws IOException {
        InputStream in = new FileInputStream(new File(dir(), rel));
        try {
            return Npy.read(in, rel);
        } finally {
            in.close();
        }
    }

    static Wav wav(String rel) throws IOException {
        InputStream in = new FileInputStream(new File(dir(), rel));
        try {
            return Wav.read(in, rel);
        } finally {
            in.close();
        }
    }

    static VggishParams vggish() throws Exception {
        JSONObject m = new JSONObject(text(new File(dir(), index().getJSONObject("manifest").getString("manifest"))));
        return VggishParams.fromJson(m.getJSONObject("preprocessing").getJSONObject("audio"), "golden");
    }
}
