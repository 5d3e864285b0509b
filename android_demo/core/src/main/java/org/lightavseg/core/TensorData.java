package org.lightavseg.core;

/** One tensor's values in the artifact's dtype: floats for float32, bytes for int8/uint8. */
public final class TensorData {
    public final TensorSpec spec;
    public final float[] floats;
    public final byte[] bytes;

    private TensorData(TensorSpec spec, float[] floats, byte[] bytes) {
        this.spec = spec;
        this.floats = floats;
        this.bytes = bytes;
    }

    public static TensorData ofFloats(TensorSpec spec, float[] values) {
        check(spec, values.length, false);
        return new TensorData(spec, values, null);
    }

    public static TensorData ofBytes(TensorSpec spec, byte[] values) {
        check(spec, values.length, true);
        return new TensorData(spec, null, values);
    }

    private static void check(TensorSpec spec, int count, boolean quantized) {
        if (count != spec.elements()) {
            throw new IllegalArgumentException(spec + " needs " + spec.elements() + " values, got " + count);
        }
        if (quantized != spec.isQuantized()) {
            throw new IllegalArgumentException(spec + " is " + spec.dtype + "; wrong buffer kind");
        }
    }

    /** float32 view: the floats, or the bytes dequantized with the spec's scale and zero point. */
    public float[] toFloat32() {
        if (floats != null) {
            return floats;
        }
        return Quant.dequantize(bytes, spec.scale, spec.zeroPoint, spec.isSigned());
    }

    /** Builds the artifact-dtype tensor from float32 values, quantizing when the spec says so. */
    public static TensorData fromFloat32(TensorSpec spec, float[] values) {
        if (!spec.isQuantized()) {
            return ofFloats(spec, values);
        }
        return ofBytes(spec, Quant.quantize(values, spec.scale, spec.zeroPoint, spec.isSigned()));
    }
}
