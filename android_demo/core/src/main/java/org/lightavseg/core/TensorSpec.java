package org.lightavseg.core;

import java.util.Arrays;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/** One model input or output as the artifact sees it (manifest inputs[] / outputs[]). */
public final class TensorSpec {
    public final String name;
    public final int[] shape;
    /** float32, int8 or uint8. */
    public final String dtype;
    /** NCHW, NHWC or "-" for non-image tensors. */
    public final String layout;
    /** Null when the tensor is not quantized. */
    public final Float scale;
    public final int zeroPoint;
    /** The tensor's name inside the artifact (e.g. TFLite signature key); equals name when absent. */
    public final String artifactName;

    public TensorSpec(String name, int[] shape, String dtype, String layout, Float scale, int zeroPoint,
                      String artifactName) {
        this.name = name;
        this.shape = shape.clone();
        this.dtype = dtype;
        this.layout = layout;
        this.scale = scale;
        this.zeroPoint = zeroPoint;
        this.artifactName = artifactName == null ? name : artifactName;
    }

    static TensorSpec fromJson(JSONObject o, String source) throws ManifestException {
        try {
            String name = o.getString("name");
            JSONArray s = o.getJSONArray("shape");
            int[] shape = new int[s.length()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = s.getInt(i);
            }
            String dtype = o.getString("dtype");
            if (!"float32".equals(dtype) && !"int8".equals(dtype) && !"uint8".equals(dtype)) {
                throw new ManifestException(source + ": tensor " + name + " has dtype " + dtype
                        + "; this app handles float32, int8 and uint8");
            }
            Float scale = null;
            int zp = 0;
            if (o.has("quantization") && !o.isNull("quantization")) {
                JSONObject q = o.getJSONObject("quantization");
                scale = (float) q.getDouble("scale");
                zp = q.getInt("zero_point");
            }
            if (!"float32".equals(dtype) && scale == null) {
                throw new ManifestException(source + ": tensor " + name + " is " + dtype
                        + " but has no quantization {scale, zero_point}; re-export it");
            }
            String artifactName = o.has("artifact_name") && !o.isNull("artifact_name") ? o.getString("artifact_name") : null;
            return new TensorSpec(name, shape, dtype, o.optString("layout", "NCHW"), scale, zp, artifactName);
        } catch (JSONException e) {
            throw new ManifestException(source + ": a tensor spec is malformed (" + e.getMessage() + ")");
        }
    }

    /** Number of elements. */
    public int elements() {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    public boolean isQuantized() {
        return !"float32".equals(dtype);
    }

    public boolean isSigned() {
        return "int8".equals(dtype);
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape) + " " + dtype + " " + layout;
    }
}
