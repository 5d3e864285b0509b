package org.lightavseg.core;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/** The image side of the preprocessing contract: square size, per-channel mean and std (float32). */
public final class ImageContract {
    public final int size;
    public final float[] mean;
    public final float[] std;

    public ImageContract(int size, float[] mean, float[] std) {
        this.size = size;
        this.mean = mean.clone();
        this.std = std.clone();
    }

    /** Parses manifest preprocessing.image: {"size": 224, "mean": [3 floats], "std": [3 floats]}. */
    public static ImageContract fromJson(JSONObject o, String source) throws ManifestException {
        try {
            int size = o.getInt("size");
            float[] mean = floats3(o.getJSONArray("mean"), "mean", source);
            float[] std = floats3(o.getJSONArray("std"), "std", source);
            if (size < 1) {
                throw new ManifestException(source + ": preprocessing.image.size=" + size + " must be positive");
            }
            for (float s : std) {
                if (s == 0f) {
                    throw new ManifestException(source + ": preprocessing.image.std has a zero");
                }
            }
            return new ImageContract(size, mean, std);
        } catch (JSONException e) {
            throw new ManifestException(source + ": preprocessing.image is malformed (" + e.getMessage() + ")");
        }
    }

    private static float[] floats3(JSONArray a, String key, String source) throws JSONException, ManifestException {
        if (a.length() != 3) {
            throw new ManifestException(source + ": preprocessing.image." + key + " needs 3 values, has " + a.length());
        }
        // Rounded from the JSON double to float32, as numpy's asarray(..., float32) does.
        return new float[] {(float) a.getDouble(0), (float) a.getDouble(1), (float) a.getDouble(2)};
    }
}
