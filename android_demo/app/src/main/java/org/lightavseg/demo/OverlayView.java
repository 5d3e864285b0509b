package org.lightavseg.demo;

import android.content.Context;
import android.graphics.Bitmap;
import android.graphics.Canvas;
import android.graphics.Color;
import android.graphics.Paint;
import android.graphics.Rect;
import android.view.View;

/** Draws the mask over the preview and the status lines (latency p50, delegate, messages). */
final class OverlayView extends View {
    private static final int MASK_COLOUR = Color.argb(110, 0, 200, 255);
    private final Paint text = new Paint(Paint.ANTI_ALIAS_FLAG);
    private final Paint shade = new Paint();
    private final Paint bitmapPaint = new Paint(Paint.FILTER_BITMAP_FLAG);
    private Bitmap mask;
    private String[] lines = new String[0];
    // The preview's on-screen box {left, top, width, height}: the mask covers the frame, which fills this box.
    private volatile int[] box;

    OverlayView(Context context) {
        super(context);
        text.setColor(Color.WHITE);
        text.setTextSize(14 * context.getResources().getDisplayMetrics().scaledDensity);
        shade.setColor(Color.argb(150, 0, 0, 0));
    }

    /** Sets the mask (1 = foreground) of w x h model pixels; null hides it. */
    void setMask(byte[] m, int w, int h) {
        if (m == null) {
            mask = null;
        } else {
            int[] argb = new int[w * h];
            for (int i = 0; i < argb.length; i++) {
                argb[i] = m[i] != 0 ? MASK_COLOUR : Color.TRANSPARENT;
            }
            mask = Bitmap.createBitmap(argb, w, h, Bitmap.Config.ARGB_8888);
        }
        postInvalidate();
    }

    /** The preview's box (PreviewGeometry.fit); null until laid out, then the mask is not drawn. */
    void setBox(int[] b) {
        box = b;
        postInvalidate();
    }

    void setLines(String... status) {
        lines = status;
        postInvalidate();
    }

    @Override
    protected void onDraw(Canvas canvas) {
        super.onDraw(canvas);
        int[] b = box;
        if (mask != null && b != null) {
            canvas.drawBitmap(mask, null, new Rect(b[0], b[1], b[0] + b[2], b[1] + b[3]), bitmapPaint);
        }
        if (lines.length == 0) {
            return;
        }
        float lh = text.getTextSize() * 1.3f;
        int rows = 0;
        for (String l : lines) {
            rows += l.split("\n", -1).length;
        }
        canvas.drawRect(0, 0, getWidth(), lh * rows + lh * 0.5f, shade);
        float y = lh;
        for (String l : lines) {
            for (String part : l.split("\n", -1)) {
                canvas.drawText(part, lh * 0.4f, y, text);
                y += lh;
            }
        }
    }
}
